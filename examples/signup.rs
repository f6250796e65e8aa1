//! Sign-up with a unique email: a duplicate key becomes "email already taken".
//!
//! `MONGODB_URI=mongodb://127.0.0.1:27017 cargo run --example signup`
//!
//! Uses the database `dupkey_example_signup` and drops it at the end. Works against a
//! standalone server or a replica set.

use std::error::Error;

use dupkey::prelude::*;
use dupkey::Shell;
use mongodb::bson::doc;
use mongodb::options::IndexOptions;
use mongodb::{Client, Collection, IndexModel};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct User {
    email: String,
    name: String,
}

/// What the sign-up form shows.
#[derive(Debug, PartialEq)]
enum Signup {
    Welcome,
    EmailTaken(String),
}

async fn sign_up(
    users: &Collection<User>,
    email: &str,
    name: &str,
) -> mongodb::error::Result<Signup> {
    let user = User {
        email: email.to_owned(),
        name: name.to_owned(),
    };
    match users.insert_or_conflict(&user).await {
        Ok(_) => Ok(Signup::Welcome),
        // The exact value that collided, typed, read from the document sent.
        Err(dupkey::Error::Duplicate(dup)) if dup.fields().eq(["email"]) => {
            if let Some(key) = dup.key_value() {
                println!("  conflict on {dup}: {}", Shell(key));
            }
            let taken = dup
                .key_value()
                .and_then(|key| key.get_str("email").ok())
                .unwrap_or(email)
                .to_owned();
            Ok(Signup::EmailTaken(taken))
        }
        // A duplicate on another unique index is not this form's business: `?` turns it
        // into a driver error that `is_duplicate()` still recognises.
        Err(other) => Err(other.into()),
    }
}

fn check(ok: bool, what: &str) -> Result<(), Box<dyn Error>> {
    if ok {
        Ok(())
    } else {
        Err(format!("unexpected: {what}").into())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let uri = std::env::var("MONGODB_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into());
    let client = Client::with_uri_str(&uri).await?;
    let db = client.database("dupkey_example_signup");
    db.drop().await?;
    let users = db.collection::<User>("users");
    users
        .create_index(
            IndexModel::builder()
                .keys(doc! { "email": 1 })
                .options(IndexOptions::builder().unique(true).build())
                .build(),
        )
        .await?;
    println!("signup: unique index on users.email");

    let result = async {
        let first = sign_up(&users, "ann@example.com", "Ann").await?;
        println!("sign up ann@example.com as Ann -> {first:?}");
        check(first == Signup::Welcome, "the first sign-up is welcome")?;

        let second = sign_up(&users, "ann@example.com", "Another Ann").await?;
        match &second {
            Signup::EmailTaken(email) => println!("sign up {email} again -> email already taken"),
            Signup::Welcome => println!("sign up ann@example.com again -> {second:?}"),
        }
        check(
            second == Signup::EmailTaken("ann@example.com".into()),
            "the second sign-up finds the email taken",
        )?;

        let bob = sign_up(&users, "bob@example.com", "Bob").await?;
        println!("sign up bob@example.com as Bob -> {bob:?}");
        check(bob == Signup::Welcome, "another email is welcome")?;

        let count = users.count_documents(doc! {}).await?;
        println!("{count} users stored");
        check(count == 2, "two users are stored")
    }
    .await;

    db.drop().await?;
    println!("signup: dropped {}", db.name());
    result
}
