//! Another writer: changes made from inside a run's (synchronous) callback, on a thread,
//! runtime and client of their own, so that a test places them exactly between the run's
//! read of a group and its writes.

use std::future::Future;

use mongodb::{Client, Database};

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
