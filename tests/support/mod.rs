//! Test support: a real `mongod` on 127.0.0.1, started once per test binary.
//!
//! The server runs as a single-node replica set (`rs0`) so transactions work, on a free
//! port, with a temporary dbpath. It is started through a small shell watchdog that holds
//! the read end of a pipe: when the test process exits, however it exits, the pipe closes,
//! and the watchdog stops mongod and removes the dbpath. No server outlives the tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use mongodb::bson::{doc, Document};
use mongodb::options::ClientOptions;
use mongodb::Client;

/// A running mongod and the watchdog that stops it.
pub struct Mongod {
    pub port: u16,
    pub uri: String,
    _watchdog: Mutex<Child>,
}

static SERVER: LazyLock<Mongod> = LazyLock::new(start);

/// The test binary's server (started on first use).
pub fn server() -> &'static Mongod {
    &SERVER
}

/// A client for the current test's runtime. Clients are not shared across tests: each
/// `#[tokio::test]` has its own runtime and a client's background tasks live in it.
pub async fn client() -> Client {
    client_with(|_| {}).await
}

/// A client whose options `configure` adjusts first (command monitoring, say).
pub async fn client_with(configure: impl FnOnce(&mut ClientOptions)) -> Client {
    let mut options = ClientOptions::parse(&server().uri).await.expect("uri");
    configure(&mut options);
    Client::with_options(options).expect("client")
}

/// A database name no other test of this process uses.
pub fn unique_db(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Every document in `coll`, in `_id` order.
pub async fn documents(coll: &mongodb::Collection<Document>) -> Vec<Document> {
    use futures_util::TryStreamExt;
    coll.find(doc! {})
        .sort(doc! { "_id": 1 })
        .await
        .expect("find")
        .try_collect()
        .await
        .expect("documents")
}

fn mongod_binary() -> PathBuf {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/mongod.sh");
    let out = Command::new("bash")
        .arg(script)
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/mongod.sh");
    assert!(out.status.success(), "scripts/mongod.sh failed");
    PathBuf::from(String::from_utf8(out.stdout).expect("utf-8 path").trim())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn start() -> Mongod {
    let mongod = mongod_binary();
    let dbpath = tempdir();
    let port = free_port();
    // The watchdog: start mongod, wait for stdin to close (our process ending), stop it.
    let script = r#"
        "$0" --port "$1" --dbpath "$2" --bind_ip 127.0.0.1 --replSet rs0 --nounixsocket \
            --logpath "$2/mongod.log" --wiredTigerCacheSizeGB 0.25 \
            --wiredTigerEngineConfigString 'log=(prealloc=false,file_max=10MB)' \
            --setParameter diagnosticDataCollectionEnabled=false >/dev/null &
        pid=$!
        echo started
        cat >/dev/null
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        rm -rf "$2"
    "#;
    let mut watchdog = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(&mongod)
        .arg(port.to_string())
        .arg(&dbpath)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the mongod watchdog");
    let mut line = String::new();
    BufReader::new(watchdog.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("watchdog output");
    wait_for_port(port, &dbpath);
    let uri = format!("mongodb://127.0.0.1:{port}/?directConnection=true");
    initiate(&uri, port);
    Mongod {
        port,
        uri,
        _watchdog: Mutex::new(watchdog),
    }
}

fn tempdir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "dupkey-mongod-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create dbpath");
    dir
}

fn wait_for_port(port: u16, dbpath: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dbpath.join("mongod.log")).unwrap_or_default();
            panic!("mongod did not listen on {port} within 60 s; log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `replSetInitiate`, then wait until the node is a writable primary. Runs on its own
/// thread and runtime: the caller may already be inside a tokio runtime.
fn initiate(uri: &str, port: u16) {
    let uri = uri.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let client = Client::with_uri_str(&uri).await.expect("client");
            let admin = client.database("admin");
            let config = doc! {
                "_id": "rs0",
                "members": [{ "_id": 0, "host": format!("127.0.0.1:{port}") }],
            };
            admin
                .run_command(doc! { "replSetInitiate": config })
                .await
                .expect("replSetInitiate");
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let hello: Document = admin.run_command(doc! { "hello": 1 }).await.expect("hello");
                if hello.get_bool("isWritablePrimary").unwrap_or(false) {
                    break;
                }
                assert!(Instant::now() < deadline, "no primary within 60 s");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            client.shutdown().await;
        });
    })
    .join()
    .expect("initiate the replica set");
}

/// A client's handle on a database no other test of this process uses.
pub async fn database(prefix: &str) -> mongodb::Database {
    client().await.database(&unique_db(prefix))
}

/// Inserts `docs` in chunks of 10,000.
pub async fn insert(coll: &mongodb::Collection<Document>, docs: Vec<Document>) {
    for chunk in docs.chunks(10_000) {
        coll.insert_many(chunk.to_vec()).await.expect("insert_many");
    }
}

/// An integer `_id` (Int32 or Int64) as `i64`.
pub fn int_id(value: &mongodb::bson::Bson) -> i64 {
    match value {
        mongodb::bson::Bson::Int32(n) => i64::from(*n),
        mongodb::bson::Bson::Int64(n) => *n,
        other => panic!("not an integer _id: {other}"),
    }
}

/// The integer `_id`s of every document in `coll`.
pub async fn int_ids(coll: &mongodb::Collection<Document>) -> std::collections::BTreeSet<i64> {
    documents(coll)
        .await
        .iter()
        .map(|d| int_id(d.get("_id").expect("_id")))
        .collect()
}

/// Integer `_id`s as a set.
pub fn int_id_set(values: &[mongodb::bson::Bson]) -> std::collections::BTreeSet<i64> {
    values.iter().map(int_id).collect()
}
