//! The `actix-web` feature end to end: handlers that end in `?`, served over real HTTP, a
//! real mongod behind them.
#![cfg(feature = "actix-web")]

mod support;

use std::net::SocketAddr;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};
use dupkey::http::{HttpError, Problem};
use mongodb::bson::{doc, Document};
use mongodb::{Collection, Database};
use serde_json::{json, Value};
use support::http::{race_sign_ups, request, user_document, users, UserConstraint};

struct Collections {
    users: Collection<Document>,
    strict: Collection<Document>,
}

async fn sign_up(
    app: web::Data<Collections>,
    body: web::Json<Value>,
) -> Result<HttpResponse, HttpError<UserConstraint>> {
    app.users.insert_one(user_document(&body)).await?;
    Ok(HttpResponse::Created().finish())
}

async fn sign_up_problem(
    app: web::Data<Collections>,
    body: web::Json<Value>,
) -> Result<HttpResponse, HttpError<UserConstraint, Problem>> {
    app.users.insert_one(user_document(&body)).await?;
    Ok(HttpResponse::Created().finish())
}

/// A write the collection's validator refuses: not a duplicate.
async fn refused(app: web::Data<Collections>) -> Result<HttpResponse, HttpError<UserConstraint>> {
    app.strict
        .insert_one(doc! { "secret": "do-not-leak", "n": "not a number" })
        .await?;
    Ok(HttpResponse::Created().finish())
}

async fn serve(db: &Database) -> (SocketAddr, ServerHandle) {
    db.create_collection("strict")
        .validator(doc! { "n": { "$type": "int" } })
        .await
        .unwrap();
    let collections = web::Data::new(Collections {
        users: users(db).await,
        strict: db.collection("strict"),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(collections.clone())
            .route("/users", web::post().to(sign_up))
            .route("/problem/users", web::post().to(sign_up_problem))
            .route("/refused", web::post().to(refused))
    })
    .workers(2)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (addr, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_answer_409_and_other_errors_500() {
    let client = support::client().await;
    let db = client.database(&support::unique_db("http_actix"));
    let (addr, server) = serve(&db).await;

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

    let same_handle = json!({ "email": "bob@example.com", "tenant": 1, "handle": "ann" });
    let problem = request(addr, "POST", "/problem/users", Some(&same_handle)).await;
    assert_eq!(problem.status, 409);
    assert_eq!(
        problem.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(
        problem.body["type"],
        "https://example.com/problems/handle-taken"
    );
    assert_eq!(problem.body["status"], 409);
    assert_eq!(problem.body["code"], "handle_taken");
    assert_eq!(problem.body["fields"], json!(["tenant", "handle"]));

    let refused = request(addr, "POST", "/refused", None).await;
    assert_eq!(refused.status, 500);
    assert_eq!(
        refused.text,
        r#"{"code":"internal","error":"internal error"}"#
    );

    server.stop(true).await;
    db.drop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_sign_ups_for_one_email_give_one_201_and_409s() {
    let client = support::client().await;
    let db = client.database(&support::unique_db("http_actix"));
    let (addr, server) = serve(&db).await;

    race_sign_ups(addr).await;
    assert_eq!(support::documents(&db.collection("users")).await.len(), 1);

    server.stop(true).await;
    db.drop().await.unwrap();
}
