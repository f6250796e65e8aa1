//! Test support: a real `mongod` on 127.0.0.1, started once per test binary.
//!
//! The server runs as a single-node replica set (`rs0`) so transactions work, on a free
//! port, with a temporary dbpath. It is started through a small shell watchdog that holds
//! the read end of a pipe: when the test process exits, however it exits, the pipe closes,
//! and the watchdog stops mongod and removes the dbpath. No server outlives the tests.
#![allow(dead_code)]

#[cfg(feature = "cli")]
pub mod cli;
pub mod http;
pub mod writer;

#[allow(unused_imports)]
pub use replica_set::{step_down, three_member_replica_set, ReplicaSet};

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ClientOptions;
use mongodb::Client;

// The corpus reads canonical extended JSON, which bson 3 offers only behind a feature.
#[cfg(not(feature = "bson-3"))]
pub mod corpus;
pub mod parse;
mod replica_set;
pub mod rerun;
#[cfg(not(feature = "bson-3"))]
pub mod shapes;

/// `replSetInitiate` with `config`, then waits (60 s at most) until the member `admin` talks
/// to is a writable primary; with `step_up`, asks it to stand once it is a secondary.
async fn initiate_set(admin: &mongodb::Database, config: Document, step_up: bool) {
    admin
        .run_command(doc! { "replSetInitiate": config })
        .await
        .expect("replSetInitiate");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let hello: Document = admin.run_command(doc! { "hello": 1 }).await.expect("hello");
        if hello.get_bool("isWritablePrimary").unwrap_or(false) {
            return;
        }
        if step_up && hello.get_bool("secondary").unwrap_or(false) {
            let _ = admin.run_command(doc! { "replSetStepUp": 1 }).await;
        }
        assert!(Instant::now() < deadline, "no primary within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

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
    let watchdog = watchdog(&mongod, port, &dbpath, "rs0", &[]);
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
            initiate_set(&admin, config, false).await;
            client.shutdown().await;
        });
    })
    .join()
    .expect("initiate the replica set");
}

// ---------------------------------------------------------------------------------------
// The write helpers' tests
// ---------------------------------------------------------------------------------------

/// Creates a unique index on `keys`.
pub async fn unique_index(coll: &mongodb::Collection<Document>, keys: Document) {
    let options = mongodb::options::IndexOptions::builder()
        .unique(true)
        .build();
    unique_index_with(coll, keys, options).await;
}

/// Creates an index on `keys` with `options`.
pub async fn unique_index_with(
    coll: &mongodb::Collection<Document>,
    keys: Document,
    options: mongodb::options::IndexOptions,
) {
    let model = mongodb::IndexModel::builder()
        .keys(keys)
        .options(options)
        .build();
    coll.create_index(model).await.expect("create index");
}

/// The spec `listIndexes` gives of the index `name` of `coll`, if there is one.
pub async fn index_spec(coll: &mongodb::Collection<Document>, name: &str) -> Option<Document> {
    use futures_util::TryStreamExt;
    let ns = coll.namespace();
    let specs: Vec<Document> = coll
        .client()
        .database(&ns.db)
        .run_cursor_command(doc! { "listIndexes": &ns.coll })
        .await
        .expect("listIndexes")
        .try_collect()
        .await
        .expect("index specs");
    specs
        .into_iter()
        .find(|s| s.get_str("name").ok() == Some(name))
}

/// English, case-insensitive.
pub fn case_insensitive() -> mongodb::options::Collation {
    mongodb::options::Collation::builder()
        .locale("en")
        .strength(mongodb::options::CollationStrength::Secondary)
        .build()
}

/// A client and a database no other test uses.
pub async fn setup(prefix: &str) -> (Client, mongodb::Database) {
    let client = client().await;
    let db = client.database(&unique_db(prefix));
    (client, db)
}

/// The server's code of a command or write error.
pub fn code(err: &mongodb::error::Error) -> Option<i32> {
    use mongodb::error::{ErrorKind, WriteFailure};
    match &*err.kind {
        ErrorKind::Command(e) => Some(e.code),
        ErrorKind::Write(WriteFailure::WriteError(e)) => Some(e.code),
        _ => None,
    }
}

/// The duplicate of a helper's conflict.
pub trait IntoDuplicate {
    fn into_duplicate(self) -> dupkey::DuplicateKey;
}

impl IntoDuplicate for dupkey::Error {
    fn into_duplicate(self) -> dupkey::DuplicateKey {
        match self {
            dupkey::Error::Duplicate(dup) => dup,
            other => panic!("a duplicate expected: {other:?}"),
        }
    }
}

/// Runs `tasks` at once: each waits at a gate that opens when all are spawned, on a
/// connection pool already warm, so the writes really race.
pub async fn race<F, R>(coll: &mongodb::Collection<Document>, tasks: Vec<F>) -> Vec<R>
where
    F: std::future::Future<Output = R> + Send + 'static,
    R: Send + 'static,
{
    use futures_util::future::join_all;
    use std::sync::Arc;
    let warm = (0..tasks.len()).map(|_| async { coll.estimated_document_count().await });
    for count in join_all(warm).await {
        count.unwrap();
    }
    let gate = Arc::new(futures_util::lock::Mutex::new(()));
    let closed = gate.lock().await;
    let handles: Vec<_> = tasks
        .into_iter()
        .map(|task| {
            let gate = Arc::clone(&gate);
            tokio::spawn(async move {
                drop(gate.lock().await);
                task.await
            })
        })
        .collect();
    drop(closed);
    join_all(handles)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

/// The names of the commands a client sent, as they are recorded.
pub type CommandLog = std::sync::Arc<Mutex<Vec<String>>>;

/// A client whose commands on database `db` are recorded by name.
pub async fn recording_client(db: &str) -> (Client, CommandLog) {
    recording_client_of(&server().uri, db).await
}

/// A client of the server at `uri` whose commands on database `db` are recorded by name.
pub async fn recording_client_of(uri: &str, db: &str) -> (Client, CommandLog) {
    use mongodb::event::command::CommandEvent;
    use mongodb::event::EventHandler;
    let log = CommandLog::default();
    let (sink, db) = (std::sync::Arc::clone(&log), db.to_owned());
    let mut options = ClientOptions::parse(uri).await.expect("uri");
    options.command_event_handler = Some(EventHandler::callback(move |event| {
        if let CommandEvent::Started(started) = event {
            if started.db == db {
                sink.lock().unwrap().push(started.command_name);
            }
        }
    }));
    (Client::with_options(options).expect("client"), log)
}

/// The commands recorded since the last call.
pub fn take(log: &Mutex<Vec<String>>) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

static SECOND: LazyLock<Mongod> = LazyLock::new(start);

/// A second server, a deployment of its own (started on first use).
pub fn second_server() -> &'static Mongod {
    &SECOND
}

/// The name the driver gives an index with these keys (`a_1_b_-1`, `loc_2dsphere`).
pub fn default_name(keys: &Document) -> String {
    keys.iter()
        .map(|(k, v)| match v {
            Bson::String(s) => format!("{k}_{s}"),
            other => format!("{k}_{other}"),
        })
        .collect::<Vec<_>>()
        .join("_")
}

/// The full collation MongoDB 6.0.5 reports for `{ locale: "en", strength: 2 }`.
pub fn collation_en_2() -> Document {
    doc! {
        "locale": "en", "caseLevel": false, "caseFirst": "off", "strength": 2,
        "numericOrdering": false, "alternate": "non-ignorable", "maxVariable": "punct",
        "normalization": false, "backwards": false, "version": "57.1",
    }
}

/// Starts mongod as member of replica set `repl_set` through a shell watchdog: it waits for
/// stdin to close (the test process ending, however it ends), then stops mongod and removes
/// its dbpath. `extra` goes to mongod as more arguments.
fn watchdog(
    mongod: &std::path::Path,
    port: u16,
    dbpath: &std::path::Path,
    repl_set: &str,
    extra: &[&str],
) -> Child {
    let script = r#"
        port=$1 dbpath=$2 set=$3
        shift 3
        "$0" --port "$port" --dbpath "$dbpath" --bind_ip 127.0.0.1 --replSet "$set" \
            --nounixsocket --logpath "$dbpath/mongod.log" --wiredTigerCacheSizeGB 0.25 \
            --wiredTigerEngineConfigString 'log=(prealloc=false,file_max=10MB)' \
            --setParameter diagnosticDataCollectionEnabled=false "$@" >/dev/null &
        pid=$!
        echo started
        cat >/dev/null
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        rm -rf "$dbpath"
    "#;
    let mut watchdog = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(mongod)
        .arg(port.to_string())
        .arg(dbpath)
        .arg(repl_set)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the mongod watchdog");
    let mut line = String::new();
    BufReader::new(watchdog.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("watchdog output");
    watchdog
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
