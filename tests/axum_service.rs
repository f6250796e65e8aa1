//! examples/axum_service.rs end to end: its router served on a free port, a real mongod
//! behind it, and plain HTTP/1.1 requests over TCP.
#![cfg(feature = "axum")]

mod support;

#[path = "../examples/axum_service.rs"]
mod service;

use serde_json::json;
use support::http::request;
use tokio::net::TcpListener;

#[tokio::test]
async fn create_conflict_and_read_back() {
    let client = support::client().await;
    let db = client.database(&support::unique_db("axum_service"));
    let app = service::app(&db).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let ann = json!({ "email": "ann@example.com", "name": "Ann" });
    let created = request(addr, "POST", "/users", Some(&ann)).await;
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.body,
        json!({ "id": id, "email": "ann@example.com", "name": "Ann" })
    );
    assert_eq!(
        created.header("location"),
        Some(format!("/users/{id}").as_str())
    );

    // A retry of the same sign-up gets the same account back.
    let retry = request(addr, "POST", "/users", Some(&ann)).await;
    assert_eq!(retry.status, 200);
    assert_eq!(retry.body["id"], id.as_str());

    let again = json!({ "email": "ann@example.com", "name": "Another Ann" });
    let conflict = request(addr, "POST", "/users", Some(&again)).await;
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.header("content-type"), Some("application/json"));
    assert_eq!(
        conflict.body,
        json!({
            "code": "email_taken",
            "error": "this email address is already registered",
            "fields": ["email"],
        })
    );

    let bob = json!({ "email": "bob@example.com", "name": "Bob" });
    assert_eq!(
        request(addr, "POST", "/users", Some(&bob)).await.status,
        201
    );

    let read = request(addr, "GET", &format!("/users/{id}"), None).await;
    assert_eq!(read.status, 200);
    assert_eq!(
        read.body,
        json!({ "id": id, "email": "ann@example.com", "name": "Ann" })
    );

    let missing = request(addr, "GET", "/users/65a1b2c3d4e5f60718293a4b", None).await;
    assert_eq!(
        (missing.status, missing.body),
        (404, json!({ "error": "no such user" }))
    );
    let garbage = request(addr, "GET", "/users/not-an-id", None).await;
    assert_eq!(garbage.status, 404);

    server.abort();
    db.drop().await.unwrap();
}
