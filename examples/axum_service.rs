//! A small axum service that answers a duplicate with `409 Conflict` and a clean body.
//!
//! ```text
//! MONGODB_URI=mongodb://127.0.0.1:27017 cargo run --example axum_service
//! curl -i -X POST localhost:3000/users -H 'content-type: application/json' \
//!      -d '{"email": "ann@example.com", "name": "Ann"}'      # 201 Created
//! # the same again:                                          # 409 Conflict
//! # {"error":"email already exists","fields":["email"]}
//! curl -i localhost:3000/users/<id>                          # 200 OK
//! ```
//!
//! `app` builds the router (tests/axum_service.rs serves it on a free port and talks to it
//! over TCP); `main` reads `MONGODB_URI` (default `mongodb://127.0.0.1:27017`) and `PORT`
//! (default 3000).

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use dupkey::{ConflictBody, IsDuplicate};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, Document};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

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

/// The service's router on `db`, after making sure the unique index on `email` exists.
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
    Ok(Router::new()
        .route("/users", post(create_user))
        .route("/users/{id}", get(read_user))
        .with_state(users))
}

async fn create_user(
    State(users): State<Collection<Document>>,
    Json(new): Json<NewUser>,
) -> Response {
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
            (
                StatusCode::CREATED,
                [(header::LOCATION, location)],
                Json(body),
            )
                .into_response()
        }
        // The one line that matters: a duplicate becomes a 409 that names the field only.
        Err(err) if err.is_duplicate() => match err.duplicate_key() {
            Some(dup) => (StatusCode::CONFLICT, Json(ConflictBody::new(&dup))).into_response(),
            None => internal_error(&err),
        },
        Err(err) => internal_error(&err),
    }
}

async fn read_user(State(users): State<Collection<Document>>, Path(id): Path<String>) -> Response {
    let Ok(id) = ObjectId::parse_str(&id) else {
        return not_found();
    };
    match users.find_one(doc! { "_id": id }).await {
        Ok(Some(user)) => Json(User {
            id: id.to_hex(),
            email: user.get_str("email").unwrap_or_default().to_owned(),
            name: user.get_str("name").unwrap_or_default().to_owned(),
        })
        .into_response(),
        Ok(None) => not_found(),
        Err(err) => internal_error(&err),
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "error": "no such user" })),
    )
        .into_response()
}

/// Logs the error server-side; the client learns nothing of the database.
fn internal_error(err: &mongodb::error::Error) -> Response {
    eprintln!("database error: {err}");
    let body = Json(serde_json::json!({ "error": "internal error" }));
    (StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
}

#[allow(dead_code)] // tests/axum_service.rs includes this file for `app` only
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let uri = std::env::var("MONGODB_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into());
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let client = mongodb::Client::with_uri_str(&uri).await?;
    let app = app(&client.database("dupkey_example")).await?;
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
