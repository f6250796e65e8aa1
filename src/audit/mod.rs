//! An upsert audit for a whole application: a command event handler that flags every upsert
//! whose filter is not plain equality on exactly a unique index's fields.
//!
//! Such an upsert is the second cause of duplicates the E11000 guides name: two racing
//! upserts that do not find a document both insert one (a silent duplicate when nothing is
//! unique on the filter, or a late E11000 when something else is). [`UpsertByUnique`]
//! refuses those filters where an application uses it; [`UpsertAudit`] watches every other
//! upsert the driver sends: each `update` statement and each `findAndModify` with
//! `upsert: true`. The rule is the one [`UpsertByUnique`] applies, from the same code,
//! including a partial or sparse unique index's scope: an upsert whose new document is not
//! proven to be one the index holds is flagged too ([`Reason::OutsidePartialFilter`],
//! [`Reason::SparseKeyMissing`]).
//!
//! The handler only reads: it never changes, delays or fails a command. It runs on the
//! driver's send path, so it never waits for the network there: index lists are read by
//! `listIndexes` on a background task, through a [`Client`] the auditor is given, the first
//! time a namespace is seen. An upsert on a namespace whose list has not arrived yet is
//! judged when it does. A flag is only reported against a list read less than a minute
//! before: an older list is read again first, so a unique index created meanwhile counts.
//!
//! # Cost, and where it belongs
//!
//! With any command event handler installed, the driver converts every command it sends
//! (and every reply) to a [`Document`](mongodb::bson::Document) for the handler; without one
//! it does not. Measured on a local mongod 6.0.5 on a busy 2-core machine (benches/audit.rs,
//! interleaved, throughput from median op times, two runs): single `update_one` upserts run
//! at **0.96** of their throughput with no handler, and at 1.00 of their throughput with a
//! handler that does nothing: the cost is the driver's copy, not the audit. `insert_many` of
//! 1,000 documents runs at **0.85 to 0.93** (the whole batch is copied, though never judged).
//!
//! So: always in staging and CI, where every write path runs. In production, a few percent
//! on request-path clients (less over a real network round trip); sample it (one instance of
//! a fleet) rather than install it on clients that run bulk imports.
//!
//! # Examples
//!
//! ```no_run
//! use dupkey::audit::UpsertAudit;
//! use mongodb::{options::ClientOptions, Client};
//!
//! # async fn run() -> mongodb::error::Result<()> {
//! let options = ClientOptions::parse("mongodb://127.0.0.1:27017").await?;
//! // Index lists are read through a client of their own, with no handler installed.
//! let audit = UpsertAudit::new(Client::with_options(options.clone())?, |report| {
//!     eprintln!("{report}");
//! });
//! let mut audited = options;
//! audited.command_event_handler = Some(audit.handler());
//! let client = Client::with_options(audited)?;
//! # Ok(())
//! # }
//! ```
//!
//! [`UpsertByUnique`]: crate::UpsertByUnique

mod command;
mod namespaces;

use std::fmt;
use std::sync::Arc;

use mongodb::event::command::CommandEvent;
use mongodb::event::EventHandler;
use mongodb::{Client, Namespace};

use namespaces::Namespaces;

use crate::Fields;

/// Flags upserts whose filter is not plain equality on exactly a unique index's fields; see
/// the [module docs](self).
///
/// Cloning is cheap: clones share the index lists and the callback.
#[derive(Clone)]
pub struct UpsertAudit {
    namespaces: Arc<Namespaces>,
}

impl fmt::Debug for UpsertAudit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpsertAudit").finish_non_exhaustive()
    }
}

impl UpsertAudit {
    /// An auditor that reads index lists through `indexes` and calls `on_report` once per
    /// flagged upsert.
    ///
    /// `indexes` should reach the same deployment as the audited client and have no handler
    /// of its own. `on_report` runs on the driver's send path or on the background task that
    /// read a list: it should return quickly (log, count, or send into a channel).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use dupkey::audit::UpsertAudit;
    /// # fn run(plain: mongodb::Client) {
    /// let audit = UpsertAudit::new(plain, |report| eprintln!("{report}"));
    /// # }
    /// ```
    pub fn new(indexes: Client, on_report: impl Fn(&UpsertReport) + Send + Sync + 'static) -> Self {
        UpsertAudit {
            namespaces: Arc::new(Namespaces::new(indexes, Box::new(on_report))),
        }
    }

    /// The handler to install as `ClientOptions::command_event_handler`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn run(audit: &dupkey::audit::UpsertAudit, options: &mut mongodb::options::ClientOptions) {
    /// options.command_event_handler = Some(audit.handler());
    /// # }
    /// ```
    pub fn handler(&self) -> EventHandler<CommandEvent> {
        let audit = self.clone();
        EventHandler::callback(move |event| audit.observe(&event))
    }

    /// A handler that audits each event, then passes it to the application's own `handler`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn run(audit: &dupkey::audit::UpsertAudit, options: &mut mongodb::options::ClientOptions) {
    /// use mongodb::event::command::CommandEvent;
    /// options.command_event_handler = Some(audit.handler_with(|event| {
    ///     if let CommandEvent::Failed(failed) = event {
    ///         eprintln!("{} failed", failed.command_name);
    ///     }
    /// }));
    /// # }
    /// ```
    pub fn handler_with(
        &self,
        handler: impl Fn(CommandEvent) + Send + Sync + 'static,
    ) -> EventHandler<CommandEvent> {
        let audit = self.clone();
        EventHandler::callback(move |event| {
            audit.observe(&event);
            handler(event);
        })
    }

    /// Audits one event: for an application that dispatches events itself (an async
    /// handler, a channel), call it on each. Only `CommandEvent::Started` events count.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn run(audit: dupkey::audit::UpsertAudit, mut events: tokio::sync::mpsc::Receiver<mongodb::event::command::CommandEvent>) {
    /// while let Some(event) = events.recv().await {
    ///     audit.observe(&event);
    /// }
    /// # }
    /// ```
    pub fn observe(&self, event: &CommandEvent) {
        let CommandEvent::Started(started) = event else {
            return;
        };
        let Some((collection, upserts)) = command::upserts(&started.command_name, &started.command)
        else {
            return;
        };
        let namespace = Namespace::new(started.db.as_str(), collection);
        self.namespaces.check(namespace, upserts);
    }

    /// How many upserts went unjudged: their namespace's index list could not be read while
    /// too many others waited for it (each namespace holds at most 1,024).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn run(audit: &dupkey::audit::UpsertAudit) {
    /// assert_eq!(audit.unchecked(), 0);
    /// # }
    /// ```
    pub fn unchecked(&self) -> u64 {
        self.namespaces.unchecked()
    }
}

/// One flagged upsert: where, which command, the filter's fields and why. Holds no key
/// value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpsertReport {
    namespace: Namespace,
    command: &'static str,
    fields: Vec<String>,
    reason: Reason,
}

impl UpsertReport {
    /// The collection the upsert wrote to.
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// The command that carried it: `"update"` or `"findAndModify"`.
    pub fn command(&self) -> &str {
        self.command
    }

    /// The filter's top-level field names (operators such as `$or` included), in order.
    pub fn fields(&self) -> Fields<'_> {
        Fields::new(&self.fields)
    }

    /// Why the upsert was flagged.
    pub fn reason(&self) -> &Reason {
        &self.reason
    }
}

impl fmt::Display for UpsertReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "upsert ({}) on {} filters on [{}]: {}",
            self.command,
            self.namespace,
            self.fields.join(", "),
            self.reason
        )
    }
}

/// Why an upsert was flagged.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The filter is empty: it matches any document.
    EmptyFilter,
    /// A filter field is an operator or holds one (or a regex, or an array).
    #[non_exhaustive]
    NotEquality {
        /// The first such field.
        field: String,
    },
    /// No unique index has exactly the filter's fields.
    NotUnique,
    /// The filter names fields beyond the unique index it covers.
    #[non_exhaustive]
    ExtraFields {
        /// The unique index with the most of the filter's fields.
        index: String,
        /// The filter fields that index does not have.
        extra: Vec<String>,
    },
    /// The unique index on the filter's fields is partial, and the document the upsert would
    /// insert is not proven to match its filter: two racing upserts would both insert.
    #[non_exhaustive]
    OutsidePartialFilter {
        /// The partial unique index.
        index: String,
        /// The partial filter's field path (or operator) whose condition was not proven.
        condition: String,
    },
    /// The unique index on the filter's fields is sparse, and a key field may be null or
    /// missing (a sparse index does not hold such documents).
    #[non_exhaustive]
    SparseKeyMissing {
        /// The sparse unique index.
        index: String,
        /// The key field.
        field: String,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::EmptyFilter => f.write_str("the filter is empty"),
            Reason::NotEquality { field } => write!(f, "field {field} is not a plain equality"),
            Reason::NotUnique => f.write_str("no unique index is on exactly these fields"),
            Reason::ExtraFields { index, extra } => write!(
                f,
                "fields [{}] are not part of unique index {index}",
                extra.join(", ")
            ),
            Reason::OutsidePartialFilter { index, condition } => write!(
                f,
                "the document it may insert is not proven inside partial unique index {index} (condition on {condition})"
            ),
            Reason::SparseKeyMissing { index, field } => write!(
                f,
                "key field {field} may be null or missing, which sparse unique index {index} does not guard"
            ),
        }
    }
}
