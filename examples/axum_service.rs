//! A small axum service whose handlers end in `?`: a duplicate answers `409 Conflict` with
//! the body its typed constraint declares, any other database error a `500` that says
//! nothing, and the logs name the index but never the value.
//!
//! ```text
//! MONGODB_URI=mongodb://127.0.0.1:27017 cargo run --example axum_service --features axum
//! curl -i -X POST localhost:3000/users -H 'content-type: application/json' \
//!      -d '{"email": "ann@example.com", "name": "Ann"}'      # 201 Created
//! # the same again (a retry):                                # 200 OK, the same account
//! # another name, the same address:                          # 409 Conflict
//! # {"code":"email_taken","error":"this email address is already registered","fields":["email"]}
//! curl -i localhost:3000/users/<id>                          # 200 OK
//! ```
//!
//! `app` builds the router (tests/axum_service.rs serves it on a free port and talks to it
//! over TCP); `main` reads `MONGODB_URI` (default `mongodb://127.0.0.1:27017`) and `PORT`
//! (default 3000).

use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use dupkey::http::{Answered, HttpError};
use dupkey::{Drift, WhichConstraint};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, Document};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

dupkey::constraints! {
    /// The unique constraints of the `users` collection, declared once.
    pub enum UserConstraint {
        /// One account per address.
        Email = Unique::new("email_taken")
            .on_index("email_1")
            .on_key(&["email"])
            .with_message("this email address is already registered")
            .with_translations(&[("de", "diese E-Mail-Adresse ist bereits registriert")]),
    }
}

/// The error every handler returns: `?` turns a driver error into a 409 or a 500.
type ApiError = HttpError<UserConstraint>;

/// What a client sends to create a user.
#[derive(Deserialize)]
pub struct NewUser {
    email: String,
    name: String,
}

/// A user as the service shows it.
#[derive(Serialize)]
pub struct User {
    id: String,
    email: String,
    name: String,
}

impl User {
    fn from_document(user: &Document) -> Self {
        User {
            id: user
                .get_object_id("_id")
                .map(|id| id.to_hex())
                .unwrap_or_default(),
            email: user.get_str("email").unwrap_or_default().to_owned(),
            name: user.get_str("name").unwrap_or_default().to_owned(),
        }
    }
}

/// The service's router on `db`, after making sure the unique index on `email` exists and
/// that the collection's unique indexes are the ones `UserConstraint` declares.
pub async fn app(db: &Database) -> mongodb::error::Result<Router> {
    let users = db.collection::<Document>("users");
    let unique = IndexOptions::builder().unique(true).build();
    users
        .create_index(
            IndexModel::builder()
                .keys(doc! { "email": 1 })
                .options(unique)
                .build(),
        )
        .await?;
    let drift = Drift::<UserConstraint>::check(&users).await?;
    if !drift.is_empty() {
        eprintln!("warning: {drift}");
    }
    Ok(Router::new()
        .route("/users", post(create_user))
        .route("/users/{id}", get(read_user))
        .layer(middleware::from_fn(log_errors))
        .with_state(users))
}

async fn create_user(
    State(users): State<Collection<Document>>,
    Json(new): Json<NewUser>,
) -> Result<Response, ApiError> {
    let id = ObjectId::new();
    let user = doc! { "_id": id, "email": &new.email, "name": &new.name };
    match users.insert_one(user).await {
        Ok(_) => {
            let location = format!("/users/{}", id.to_hex());
            let body = User {
                id: id.to_hex(),
                email: new.email,
                name: new.name,
            };
            Ok((
                StatusCode::CREATED,
                [(header::LOCATION, location)],
                Json(body),
            )
                .into_response())
        }
        // The typed constraint: a client retrying its own sign-up gets its account back;
        // anyone else gets the 409 that `UserConstraint::Email` declares.
        Err(err) if err.constraint::<UserConstraint>() == Some(UserConstraint::Email) => {
            let same = doc! { "email": &new.email, "name": &new.name };
            match users.find_one(same).await? {
                Some(existing) => Ok(Json(User::from_document(&existing)).into_response()),
                None => Err(err.into()),
            }
        }
        Err(err) => Err(err.into()),
    }
}

async fn read_user(
    State(users): State<Collection<Document>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let Ok(id) = ObjectId::parse_str(&id) else {
        return Ok(not_found());
    };
    Ok(match users.find_one(doc! { "_id": id }).await? {
        Some(user) => Json(User::from_document(&user)).into_response(),
        None => not_found(),
    })
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "error": "no such user" })),
    )
        .into_response()
}

/// Logs the error behind every 409 and 500: `Answered` shows the code, index and
/// namespace of a duplicate (as `dupkey::redacted` does), never the value.
async fn log_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Some(err) = response.extensions().get::<Answered>() {
        eprintln!("{} {err}", response.status().as_u16());
    }
    response
}

#[allow(dead_code)] // tests/axum_service.rs includes this file for `app` only
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let uri = std::env::var("MONGODB_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into());
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let client = mongodb::Client::with_uri_str(&uri).await?;
    let app = match app(&client.database("dupkey_example")).await {
        Ok(app) => app,
        Err(err) => {
            // The driver's own Display would print a duplicated value; this never does.
            eprintln!("startup failed: {}", dupkey::redacted(&err));
            return Err(err.into());
        }
    };
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
