//! Other writers, as an application beside a run would be:
//! - [`Writer`] races a cleanup or a rollout: inserts documents one at a time, round after
//!   round, until told to stop (then a few rounds more), and tells which writes were
//!   acknowledged and which refused;
//! - [`meanwhile`] makes changes from inside a run's (synchronous) callback, on a thread,
//!   runtime and client of their own, so that a test places them exactly between the run's
//!   read of a group and its writes.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mongodb::bson::Document;
use mongodb::{Client, Collection, Database};
use tokio::task::JoinHandle;

/// What a [`Writer`] wrote.
pub struct Written {
    /// The documents the server acknowledged.
    pub accepted: Vec<Document>,
    /// The documents refused, each with its error.
    pub refused: Vec<(Document, mongodb::error::Error)>,
}

/// A running writer.
pub struct Writer {
    stop: Arc<AtomicBool>,
    rounds: Arc<AtomicU32>,
    task: JoinHandle<Written>,
}

impl Writer {
    /// Starts inserting the documents `round(n)` gives, for n = 1, 2, ...; `extra` rounds
    /// are written after [`stop`](Self::stop) is called.
    pub fn start(
        coll: &Collection<Document>,
        extra: u32,
        mut round: impl FnMut(u32) -> Vec<Document> + Send + 'static,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(AtomicU32::new(0));
        let task = {
            let (coll, stop, rounds) = (coll.clone(), stop.clone(), rounds.clone());
            tokio::spawn(async move {
                let mut written = Written {
                    accepted: Vec::new(),
                    refused: Vec::new(),
                };
                let (mut n, mut after_stop) = (0, 0);
                while after_stop < extra {
                    if stop.load(Ordering::Relaxed) {
                        after_stop += 1;
                    }
                    n += 1;
                    for doc in round(n) {
                        match coll.insert_one(doc.clone()).await {
                            Ok(_) => written.accepted.push(doc),
                            Err(err) => written.refused.push((doc, err)),
                        }
                    }
                    rounds.store(n, Ordering::Relaxed);
                }
                written
            })
        };
        Writer { stop, rounds, task }
    }

    /// Waits until `n` rounds are written.
    pub async fn wait_rounds(&self, n: u32) {
        while self.rounds.load(Ordering::Relaxed) < n {
            assert!(!self.task.is_finished(), "the writer stopped early");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Stops it (after its extra rounds); what it wrote.
    pub async fn stop(self) -> Written {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("the writer")
    }
}

/// Runs `change` against the database `db` of the test server on its own thread, runtime
/// and client, and waits for it.
pub fn meanwhile<F, Fut>(db: &str, change: F)
where
    F: FnOnce(Database) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let db = db.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let client = Client::with_uri_str(&super::server().uri)
                .await
                .expect("client");
            change(client.database(&db)).await;
        });
    })
    .join()
    .expect("the other writer panicked");
}
