//! The `axum` feature end to end: handlers that end in `?`, served over real HTTP, a real
//! mongod behind them.
#![cfg(feature = "axum")]

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::post;
use axum::{Json, Router};
use dupkey::http::{Answered, Format, HttpError, Problem};
use dupkey::ConflictBody;
use mongodb::bson::{doc, Document};
use mongodb::{Collection, Database};
use serde_json::{json, Value};
use support::http::{
    insert_or_conflict, race_sign_ups, request, send, user_document, users, UserConstraint,
};
use tokio::net::TcpListener;

#[derive(Clone)]
struct App {
    users: Collection<Document>,
    strict: Collection<Document>,
    log: Arc<Mutex<Vec<String>>>,
}

/// Nothing but `?`: the default JSON body, or problem+json.
async fn sign_up<F: Format>(
    State(app): State<App>,
    Json(body): Json<Value>,
) -> Result<StatusCode, HttpError<UserConstraint, F>> {
    app.users.insert_one(user_document(&body)).await?;
    Ok(StatusCode::CREATED)
}

/// The client's language, and the value for a client that may see it.
async fn sign_up_localised(
    State(app): State<App>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<StatusCode, HttpError<UserConstraint>> {
    let locale = headers
        .get("accept-language")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("en")
        .to_owned();
    app.users
        .insert_one(user_document(&body))
        .await
        .map_err(|err| HttpError::from(err).map_conflict(|b| b.in_locale(&locale).with_value()))?;
    Ok(StatusCode::CREATED)
}

/// `insert_or_conflict`: the value in the body is the one sent.
async fn sign_up_exact(
    State(app): State<App>,
    Json(body): Json<Value>,
) -> Result<StatusCode, HttpError<UserConstraint>> {
    insert_or_conflict(&app.users, user_document(&body))
        .await
        .map_err(|err| err.map_conflict(ConflictBody::with_value))?;
    Ok(StatusCode::CREATED)
}

/// A write the collection's validator refuses: not a duplicate.
async fn refused(State(app): State<App>) -> Result<StatusCode, HttpError<UserConstraint>> {
    app.strict
        .insert_one(doc! { "secret": "do-not-leak", "n": "not a number" })
        .await?;
    Ok(StatusCode::CREATED)
}

/// What a service's logging middleware does with the error a response answered.
async fn log_errors(State(app): State<App>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Some(err) = response.extensions().get::<Answered>() {
        let line = format!("{} {err}", response.status().as_u16());
        app.log.lock().unwrap().push(line);
    }
    response
}

async fn serve(db: &Database) -> (SocketAddr, App) {
    let strict = db.collection::<Document>("strict");
    db.create_collection("strict")
        .validator(doc! { "n": { "$type": "int" } })
        .await
        .unwrap();
    let app = App {
        users: users(db).await,
        strict,
        log: Arc::default(),
    };
    let router = Router::new()
        .route("/users", post(sign_up::<dupkey::http::Json>))
        .route("/problem/users", post(sign_up::<Problem>))
        .route("/localised/users", post(sign_up_localised))
        .route("/exact/users", post(sign_up_exact))
        .route("/refused", post(refused))
        .layer(middleware::from_fn_with_state(app.clone(), log_errors))
        .with_state(app.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, app)
}

#[tokio::test]
async fn a_duplicate_answers_409_with_the_declared_code_and_api_names() {
    let client = support::client().await;
    let db = client.database(&support::unique_db("http_axum"));
    let (addr, app) = serve(&db).await;

    let ann = json!({ "email": "ann@example.com", "tenant": 1, "handle": "ann" });
    assert_eq!(
        request(addr, "POST", "/users", Some(&ann)).await.status,
        201
    );

    let again = json!({ "email": "ann@example.com", "tenant": 1, "handle": "ann2" });
    let conflict = request(addr, "POST", "/users", Some(&again)).await;
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.header("content-type"), Some("application/json"));
    assert_eq!(
        conflict.body,
        json!({ "code": "email_taken", "error": "email is already registered", "fields": ["email"] })
    );
    // The default body leaks nothing: no value, namespace or index.
    for secret in ["ann@example.com", "email_1", "profile", db.name()] {
        assert!(
            !conflict.text.contains(secret),
            "{secret} in {}",
            conflict.text
        );
    }
    let read: ConflictBody = serde_json::from_str(&conflict.text).unwrap();
    assert_eq!(read.code(), "email_taken");

    // A compound key: worded as a combination, typed as problem+json.
    let same_handle = json!({ "email": "bob@example.com", "tenant": 1, "handle": "ann" });
    let problem = request(addr, "POST", "/problem/users", Some(&same_handle)).await;
    assert_eq!(problem.status, 409);
    assert_eq!(
        problem.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(
        problem.body,
        json!({
            "type": "https://example.com/problems/handle-taken",
            "title": "Conflict",
            "status": 409,
            "detail": "this combination of tenant and handle already exists",
            "code": "handle_taken",
            "fields": ["tenant", "handle"],
        })
    );
    // Another tenant may use the handle.
    let other_tenant = json!({ "email": "bob@example.com", "tenant": 2, "handle": "ann" });
    assert_eq!(
        request(addr, "POST", "/problem/users", Some(&other_tenant))
            .await
            .status,
        201
    );

    // The logs name the index and the namespace, never the value.
    let log = app.log.lock().unwrap().clone();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log[0].starts_with(r#"409 E11000 duplicate key for index "email_1""#),
        "{log:?}"
    );
    assert!(log[1].contains("tenant_1_handle_1"), "{log:?}");
    assert!(log
        .iter()
        .all(|line| !line.contains("ann@example.com") && !line.contains("\"ann\"")));
    db.drop().await.unwrap();
}

#[tokio::test]
async fn a_client_gets_its_language_and_an_opted_in_value_as_relaxed_json() {
    let client = support::client().await;
    let db = client.database(&support::unique_db("http_axum"));
    let (addr, _) = serve(&db).await;

    let ann = json!({ "email": "ann@example.com", "tenant": 1, "handle": "ann" });
    assert_eq!(
        request(addr, "POST", "/users", Some(&ann)).await.status,
        201
    );
    let again = json!({ "email": "ann@example.com", "tenant": 1, "handle": "x" });
    let german = send(
        addr,
        "POST",
        "/localised/users",
        &[("accept-language", "de-AT")],
        Some(&again),
    )
    .await;
    assert_eq!(german.status, 409);
    assert_eq!(
        german.body,
        json!({
            "code": "email_taken",
            "error": "email ist bereits registriert",
            "fields": ["email"],
            "value": { "email": "ann@example.com" },
        })
    );
    let tenant_and_handle = json!({ "email": "c@example.com", "tenant": 1, "handle": "ann" });
    let compound = send(
        addr,
        "POST",
        "/localised/users",
        &[],
        Some(&tenant_and_handle),
    )
    .await;
    assert_eq!(
        compound.body["value"],
        json!({ "tenant": 1, "handle": "ann" })
    );
    db.drop().await.unwrap();
}

#[tokio::test]
async fn under_a_collation_only_the_value_that_was_sent_is_shown() {
    let client = support::client().await;
    let db = client.database(&support::unique_db("http_axum"));
    let (addr, _) = serve(&db).await;

    let alice = json!({ "email": "a@example.com", "handle": "a", "nick": "alice" });
    assert_eq!(
        request(addr, "POST", "/users", Some(&alice)).await.status,
        201
    );
    let shouting = json!({ "email": "b@example.com", "handle": "b", "nick": "ALICE" });
    // insert_one: the server prints collation keys, so there is no value to show.
    let plain = send(addr, "POST", "/localised/users", &[], Some(&shouting)).await;
    assert_eq!(plain.status, 409);
    assert_eq!(
        plain.body,
        json!({ "code": "nick_taken", "error": "nick already exists", "fields": ["nick"] })
    );
    // insert_or_conflict: the value sent, not the stored "alice".
    let exact = request(addr, "POST", "/exact/users", Some(&shouting)).await;
    assert_eq!(exact.status, 409);
    assert_eq!(exact.body["code"], "nick_taken");
    assert_eq!(exact.body["value"], json!({ "nick": "ALICE" }));
    db.drop().await.unwrap();
}

#[tokio::test]
async fn another_error_is_a_500_that_tells_nothing() {
    let client = support::client().await;
    let db = client.database(&support::unique_db("http_axum"));
    let (addr, app) = serve(&db).await;

    let refused = request(addr, "POST", "/refused", None).await;
    assert_eq!(refused.status, 500);
    assert_eq!(
        refused.text,
        r#"{"code":"internal","error":"internal error"}"#
    );
    let log = app.log.lock().unwrap().clone();
    assert_eq!(log.len(), 1);
    assert!(
        log[0].starts_with("500 ") && log[0].contains("121"),
        "{log:?}"
    );
    db.drop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_sign_ups_for_one_email_give_one_201_and_409s() {
    let client = support::client().await;
    let db = client.database(&support::unique_db("http_axum"));
    let (addr, _) = serve(&db).await;

    race_sign_ups(addr).await;
    let stored = support::documents(&db.collection("users")).await;
    assert_eq!(stored.len(), 1);
    db.drop().await.unwrap();
}
