//! Plain HTTP/1.1 over TCP for the web tests (one request per connection), and the
//! constraints their services declare.

use std::net::SocketAddr;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

dupkey::constraints! {
    /// The `users` collection of the web tests.
    pub enum UserConstraint {
        /// `email_1` on `profile.email`.
        Email = Unique::new("email_taken")
            .on_index("email_1")
            .rename(&[("profile.email", "email")])
            .with_message("{fields} is already registered")
            .with_translations(&[("de", "{fields} ist bereits registriert")]),
        /// Handles are unique per tenant.
        Handle = Unique::new("handle_taken")
            .on_key(&["tenant", "handle"])
            .with_problem_type("https://example.com/problems/handle-taken"),
        /// Case-insensitive nicknames.
        Nick = Unique::new("nick_taken").on_index("nick_ci"),
    }
}

/// One answer: status, headers (names lowercased), the body as text and as JSON.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request with `Connection: close` and reads the whole answer.
pub async fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Answer {
    send(addr, method, path, &[], body).await
}

/// [`request`] with extra headers.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, text) = raw.split_once("\r\n\r\n").expect("a complete HTTP answer");
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
    assert_eq!(text.len(), length);
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(text).unwrap()
    };
    Answer {
        status,
        headers,
        text: text.to_owned(),
        body,
    }
}

/// The web tests' `users` collection in `db`, with its unique indexes: `email_1` on
/// `profile.email`, `tenant_1_handle_1`, and `nick_ci` (case-insensitive, sparse).
pub async fn users(db: &mongodb::Database) -> mongodb::Collection<mongodb::bson::Document> {
    use mongodb::bson::doc;
    use mongodb::options::{Collation, CollationStrength, IndexOptions};
    use mongodb::IndexModel;

    let users = db.collection("users");
    let unique = |name: &str| IndexOptions::builder().unique(true).name(name.to_owned());
    let ci = Collation::builder()
        .locale("en")
        .strength(CollationStrength::Secondary)
        .build();
    users
        .create_indexes([
            IndexModel::builder()
                .keys(doc! { "profile.email": 1 })
                .options(unique("email_1").build())
                .build(),
            IndexModel::builder()
                .keys(doc! { "tenant": 1, "handle": 1 })
                .options(unique("tenant_1_handle_1").build())
                .build(),
            IndexModel::builder()
                .keys(doc! { "nick": 1 })
                .options(unique("nick_ci").collation(ci).sparse(true).build())
                .build(),
        ])
        .await
        .expect("create the unique indexes");
    users
}

/// A sign-up's document: `{"email", "tenant", "handle", "nick"?}` as the collection keeps it.
pub fn user_document(body: &Value) -> mongodb::bson::Document {
    let mut doc = mongodb::bson::doc! {
        "profile": { "email": body["email"].as_str().unwrap_or_default() },
        "tenant": body["tenant"].as_i64().unwrap_or(1),
        "handle": body["handle"].as_str().unwrap_or_default(),
    };
    if let Some(nick) = body["nick"].as_str() {
        doc.insert("nick", nick);
    }
    doc
}

/// Inserts with `insert_or_conflict`, whose conflict carries the value that was sent: the
/// one place that knows how that helper returns a conflict.
#[cfg(any(feature = "axum", feature = "actix-web"))]
pub async fn insert_or_conflict<F: dupkey::http::Format>(
    users: &mongodb::Collection<mongodb::bson::Document>,
    doc: mongodb::bson::Document,
) -> Result<(), dupkey::http::HttpError<UserConstraint, F>> {
    use dupkey::InsertOrConflict;
    users.insert_or_conflict(doc).await?;
    Ok(())
}

/// 24 sign-ups with one email and distinct handles, sent at once to `addr`: exactly one is
/// created (201), the 23 others are refused (409) with the email constraint's code.
pub async fn race_sign_ups(addr: SocketAddr) {
    let racers: Vec<_> = (0..24)
        .map(|i| {
            let body = serde_json::json!({
                "email": "race@example.com", "tenant": 1, "handle": format!("h{i}"),
            });
            tokio::spawn(async move { request(addr, "POST", "/users", Some(&body)).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for racer in racers {
        let answer = racer.await.unwrap();
        if answer.status == 409 {
            assert_eq!(answer.body["code"], "email_taken");
        }
        statuses.push(answer.status);
    }
    let count = |status| statuses.iter().filter(|&&s| s == status).count();
    assert_eq!((count(201), count(409)), (1, 23), "{statuses:?}");
}
