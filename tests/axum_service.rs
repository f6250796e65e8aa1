//! examples/axum_service.rs end to end: its router served on a free port, a real mongod
//! behind it, and plain HTTP/1.1 requests over TCP.

mod support;

#[path = "../examples/axum_service.rs"]
mod service;

use std::net::SocketAddr;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One answer: status, headers (names lowercased) and the body as JSON.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request with `Connection: close` and reads the whole answer.
async fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete HTTP answer");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse().unwrap())
        .expect("content-length");
    assert_eq!(body.len(), length);
    let body = serde_json::from_str(body).unwrap();
    Answer {
        status,
        headers,
        body,
    }
}

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

    let again = json!({ "email": "ann@example.com", "name": "Another Ann" });
    let conflict = request(addr, "POST", "/users", Some(&again)).await;
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.header("content-type"), Some("application/json"));
    assert_eq!(
        conflict.body,
        json!({ "error": "email already exists", "fields": ["email"] })
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
