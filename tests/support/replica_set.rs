//! A three-member replica set, for failover tests: started once per test binary, stopped
//! by the same watchdog as the single server.

use std::process::Child;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use mongodb::bson::{doc, Document};
use mongodb::options::ClientOptions;
use mongodb::Client;

use super::{free_port, initiate_set, mongod_binary, tempdir, wait_for_port, watchdog};

/// Three mongods, each with its own port and dbpath, in replica set `rs-failover`, with test
/// commands enabled.
pub struct ReplicaSet {
    pub ports: [u16; 3],
    /// Seeds every member and names the set: clients follow the primary across elections.
    pub uri: String,
    _watchdogs: Vec<Mutex<Child>>,
}

static REPLICA_SET: LazyLock<ReplicaSet> = LazyLock::new(start_replica_set);

/// The test binary's three-member replica set (started on first use, with a primary),
/// separate from [`server`]. Stopped when the test process exits, like [`server`].
pub fn three_member_replica_set() -> &'static ReplicaSet {
    &REPLICA_SET
}

impl ReplicaSet {
    /// A client for the current test's runtime, seeded with every member.
    pub async fn client(&self) -> Client {
        self.client_with(|_| {}).await
    }

    /// A client whose options `configure` adjusts first (command monitoring, say).
    pub async fn client_with(&self, configure: impl FnOnce(&mut ClientOptions)) -> Client {
        let mut options = ClientOptions::parse(&self.uri).await.expect("uri");
        configure(&mut options);
        Client::with_options(options).expect("client")
    }
}

/// Asks the current primary to step down (`replSetStepDown`) and waits until another member
/// is primary; returns how long that took. `client` is one of [`ReplicaSet::client`]'s.
pub async fn step_down(client: &Client) -> Duration {
    let admin = client.database("admin");
    let before = primary(client).await;
    let started = Instant::now();
    // The primary closes the connection it answers on, or answers with an error: either is
    // the step-down happening. Refusals (no secondary caught up) are retried.
    loop {
        let stepped = admin
            .run_command(doc! { "replSetStepDown": 30, "secondaryCatchUpPeriodSecs": 10 })
            .await;
        match stepped {
            Ok(_) => break,
            Err(err) if is_refusal(&err) => {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "step-down refused: {err}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(_) => break,
        }
    }
    loop {
        let now = primary(client).await;
        if now.is_some() && now != before {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no new primary within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = started.elapsed();
    // The old primary may stand again at once: the next step-down then has two candidates.
    if let Some(old) = before {
        let direct = Client::with_uri_str(format!("mongodb://{old}/?directConnection=true"))
            .await
            .expect("client");
        let _ = direct
            .database("admin")
            .run_command(doc! { "replSetFreeze": 0 })
            .await;
        direct.shutdown().await;
    }
    took
}

/// `ExceededTimeLimit` (no secondary caught up in time) or `ConflictingOperationInProgress`.
fn is_refusal(err: &mongodb::error::Error) -> bool {
    matches!(&*err.kind, mongodb::error::ErrorKind::Command(e) if e.code == 262 || e.code == 117)
}

/// The primary's `host:port` as the set sees it (`hello` on any member).
async fn primary(client: &Client) -> Option<String> {
    let hello = client
        .database("admin")
        .run_command(doc! { "hello": 1 })
        .selection_criteria(mongodb::options::SelectionCriteria::ReadPreference(
            mongodb::options::ReadPreference::Nearest { options: None },
        ))
        .await
        .ok()?;
    hello.get_str("primary").ok().map(str::to_owned)
}

fn start_replica_set() -> ReplicaSet {
    const NAME: &str = "rs-failover";
    let mongod = mongod_binary();
    let mut ports = [0_u16; 3];
    for i in 0..3 {
        ports[i] = loop {
            let port = free_port();
            if !ports[..i].contains(&port) {
                break port;
            }
        };
    }
    let mut watchdogs = Vec::new();
    for port in ports {
        let dbpath = tempdir();
        // Test commands: `configureFailPoint` holds writes in flight across a step-down.
        let test_commands = ["--setParameter", "enableTestCommands=1"];
        let member = watchdog(&mongod, port, &dbpath, NAME, &test_commands);
        watchdogs.push(Mutex::new(member));
        wait_for_port(port, &dbpath);
    }
    let hosts: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let uri = format!("mongodb://{}/?replicaSet={NAME}", hosts.join(","));
    let first = format!("mongodb://{}/?directConnection=true", hosts[0]);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let client = Client::with_uri_str(&first).await.expect("client");
            let members: Vec<Document> = hosts
                .iter()
                .enumerate()
                .map(|(id, host)| doc! { "_id": id as i32, "host": host })
                .collect();
            // Short election timeouts: the first primary comes in a few seconds, not ten.
            let config = doc! {
                "_id": NAME,
                "members": members,
                "settings": { "electionTimeoutMillis": 2000, "heartbeatIntervalMillis": 500 },
            };
            let admin = client.database("admin");
            // Member 0 is asked to stand once it is a secondary, instead of waiting out the
            // election timeout.
            initiate_set(&admin, config, true).await;
            let deadline = Instant::now() + Duration::from_secs(60);
            // `w: majority` and step-downs need the other two members as secondaries.
            loop {
                let status = admin
                    .run_command(doc! { "replSetGetStatus": 1 })
                    .await
                    .expect("replSetGetStatus");
                let members = status.get_array("members").expect("members");
                let healthy = members
                    .iter()
                    .filter_map(|m| m.as_document())
                    .all(|m| matches!(m.get_str("stateStr"), Ok("PRIMARY") | Ok("SECONDARY")));
                if healthy {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "members not secondaries within 60 s"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            client.shutdown().await;
        });
    })
    .join()
    .expect("initiate the three-member replica set");
    ReplicaSet {
        ports,
        uri,
        _watchdogs: watchdogs,
    }
}
