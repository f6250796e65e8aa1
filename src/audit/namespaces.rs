//! What the auditor knows of each namespace: its index list once read, and the upserts that
//! wait for it. Lists are read on background tasks, never on the caller's path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mongodb::bson::Document;
use mongodb::{Client, Namespace};

use super::command::Upsert;
use super::UpsertReport;
use crate::index::{list as list_indexes, Indexes};

/// A flag is reported only against a list read this recently; an older one is read again.
const FRESH: Duration = Duration::from_secs(60);

/// After a failed `listIndexes`, the next read of that namespace waits this long.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Upserts one namespace keeps while its list is being read.
const MAX_WAITING: usize = 1024;

type OnReport = Box<dyn Fn(&UpsertReport) + Send + Sync>;

pub(super) struct Namespaces {
    client: Client,
    on_report: OnReport,
    known: Mutex<HashMap<Namespace, Known>>,
    unchecked: AtomicU64,
}

#[derive(Default)]
struct Known {
    /// The last list read, and when.
    indexes: Option<(Arc<Indexes>, Instant)>,
    /// A read is under way.
    reading: bool,
    /// No read before this (after a failure).
    not_before: Option<Instant>,
    /// Upserts judged when the next list arrives.
    waiting: Vec<Upsert>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Namespaces {
    pub(super) fn new(client: Client, on_report: OnReport) -> Self {
        Namespaces {
            client,
            on_report,
            known: Mutex::default(),
            unchecked: AtomicU64::new(0),
        }
    }

    pub(super) fn unchecked(&self) -> u64 {
        self.unchecked.load(Ordering::Relaxed)
    }

    /// Judges `upserts` now where it can, and leaves the rest to the next list read.
    pub(super) fn check(self: &Arc<Self>, namespace: Namespace, upserts: Vec<Upsert>) {
        let mut reports = Vec::new();
        let mut read = false;
        {
            let mut known = lock(&self.known);
            let entry = known.entry(namespace.clone()).or_default();
            let now = Instant::now();
            let fresh = entry.indexes.as_ref().filter(|(_, at)| now - *at < FRESH);
            for upsert in upserts {
                let list = entry.indexes.as_ref().map(|(list, _)| &**list);
                match upsert.judge(&namespace, list) {
                    // Refused by its filter alone, or flagged by a recent list.
                    Some(report) if upsert.refused.is_some() || fresh.is_some() => {
                        reports.push(report)
                    }
                    // Passed on a list, however old: a unique index being dropped is rare.
                    None if list.is_some() => {}
                    _ if entry.waiting.len() < MAX_WAITING => {
                        entry.waiting.push(upsert);
                        read = true;
                    }
                    _ => {
                        self.unchecked.fetch_add(1, Ordering::Relaxed);
                        read = true;
                    }
                }
            }
            read = read && !entry.reading && entry.not_before.is_none_or(|t| now >= t);
            if read {
                read = self.spawn_read(namespace);
                entry.reading = read;
            }
        }
        for report in &reports {
            (self.on_report)(report);
        }
    }

    /// Starts a background read of `namespace`'s list; false when there is no runtime.
    fn spawn_read(self: &Arc<Self>, namespace: Namespace) -> bool {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        let this = Arc::clone(self);
        runtime.spawn(async move { this.read(namespace).await });
        true
    }

    async fn read(self: Arc<Self>, namespace: Namespace) {
        let coll = self
            .client
            .database(&namespace.db)
            .collection::<Document>(&namespace.coll);
        let listed = list_indexes(&coll).await;
        let (list, waiting) = {
            let mut known = lock(&self.known);
            let entry = known.entry(namespace.clone()).or_default();
            entry.reading = false;
            match listed {
                Ok(list) => {
                    let list = Arc::new(list);
                    entry.indexes = Some((Arc::clone(&list), Instant::now()));
                    entry.not_before = None;
                    (list, std::mem::take(&mut entry.waiting))
                }
                // The waiting upserts stay for the next read, which the next upsert starts.
                Err(_) => {
                    entry.not_before = Some(Instant::now() + RETRY_AFTER);
                    return;
                }
            }
        };
        for upsert in waiting {
            if let Some(report) = upsert.judge(&namespace, Some(&list)) {
                (self.on_report)(&report);
            }
        }
    }
}
