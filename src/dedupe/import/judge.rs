//! One batch of rows judged as the server would insert them, in order, into the target.
//!
//! One scratch collection (`accepted`) carries a copy of every unique index of the target
//! (and the target's default collation, for `_id`). Before a batch, the stored documents
//! holding one of its keys on any index are copied in; then the copies of the batch's rows
//! that the validator lets through go in, unordered (which the server applies in order,
//! going on after a refusal). So a row is refused exactly when an index of the target
//! would refuse it given the stored documents and the rows accepted before it, and a row
//! refused (by an index or by the validator) is not there to make a later row collide.
//!
//! Then each row not accepted is told apart index by index: on each unique index that
//! holds it (its partial filter or sparseness, asked of the server on a second scratch
//! collection), the holder of its key is looked up among the stored documents and the rows
//! accepted before it.

use std::collections::HashSet;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use mongodb::bson::{doc, Document};
use mongodb::options::{FindOneOptions, FindOptions, InsertManyOptions};
use mongodb::Collection;

use super::super::scratch::Scratch;
use super::super::DedupeError;
use super::index_check::IndexCheck;
use super::layout::Layout;
use super::validator::Validator;
use super::{Collider, InvalidRow, RowConflict, LOOKUPS_IN_FLIGHT};
use crate::index::Index;
use crate::{extract, DuplicateKey};

/// What one batch found: its conflicts (in row order) and the rows the validator refuses.
pub(super) struct Verdicts {
    pub(super) conflicts: Vec<RowConflict>,
    pub(super) invalid: Vec<InvalidRow>,
}

/// Judges batches of rows against the target's unique indexes and validator.
pub(super) struct Judge {
    target: Collection<Document>,
    pub(super) checks: Vec<IndexCheck>,
    layout: Layout,
    /// Copies of the stored documents met so far and of the rows accepted so far.
    accepted: Collection<Document>,
    /// Copies of rows not accepted, under `_id: <position>`, to ask which indexes hold
    /// them; only when an index does not hold every document.
    members: Option<Collection<Document>>,
    validator: Option<Validator>,
    /// Whether an index with `prepareUnique` (not unique yet) may hold stored duplicates.
    prepared: bool,
}

/// A row not accepted, by place in its batch: refused by an index (named by the server,
/// when its message does) or by the validator.
enum Refusal {
    Index(Option<String>),
    Validator(Option<Document>),
}

impl Judge {
    pub(super) async fn new(
        target: Collection<Document>,
        indexes: &[Index],
        default_collation: Option<&Document>,
        validator: Option<Document>,
        scratch: &mut Scratch,
    ) -> Result<Self, DedupeError> {
        let indexes: Vec<&Index> = indexes.iter().filter(|i| i.refuses_duplicates()).collect();
        let layout = Layout::new(&indexes);
        let checks: Vec<IndexCheck> = indexes.iter().map(|i| IndexCheck::new(i)).collect();
        let mut options = Document::new();
        if let Some(collation) = default_collation {
            options.insert("collation", collation.clone());
        }
        let accepted = scratch.create(options).await?;
        let specs = layout.index_specs(&indexes);
        if !specs.is_empty() {
            accepted
                .client()
                .database(&accepted.namespace().db)
                .run_command(doc! { "createIndexes": accepted.name(), "indexes": specs })
                .await
                .map_err(DedupeError::driver("createIndexes"))?;
        }
        let members = if checks.iter().any(|c| c.membership.is_some()) {
            Some(scratch.create(Document::new()).await?)
        } else {
            None
        };
        let validator = match validator {
            Some(v) => Some(Validator::new(scratch, v, default_collation).await?),
            None => None,
        };
        Ok(Judge {
            target,
            prepared: indexes.iter().any(|i| !i.unique()),
            checks,
            layout,
            accepted,
            members,
            validator,
        })
    }

    /// Judges `rows`, the first of which is at position `base`.
    pub(super) async fn batch(
        &self,
        rows: &[Document],
        base: u64,
    ) -> Result<Verdicts, DedupeError> {
        let mut refusals: Vec<Option<Refusal>> = (0..rows.len()).map(|_| None).collect();
        if let Some(validator) = &self.validator {
            for (i, details) in validator.refused(rows).await? {
                refusals[i] = Some(Refusal::Validator(details));
            }
        }
        self.copy_stored(rows).await?;
        let mut copies = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            copies.push(self.layout.row_copy(row, base + i as u64)?);
        }
        let offered: Vec<usize> = (0..rows.len()).filter(|&i| refusals[i].is_none()).collect();
        let refused = insert(
            &self.accepted,
            offered.iter().map(|&i| &copies[i]).collect(),
        )
        .await?;
        for (place, index) in refused {
            refusals[offered[place]] = Some(Refusal::Index(index));
        }
        let refused: Vec<(usize, Refusal)> = refusals
            .into_iter()
            .enumerate()
            .filter_map(|(i, r)| r.map(|r| (i, r)))
            .collect();
        if refused.is_empty() {
            return Ok(Verdicts {
                conflicts: Vec::new(),
                invalid: Vec::new(),
            });
        }
        let members = self.members(&refused, &copies, base).await?;
        let mut asks = Vec::new();
        for (i, _) in &refused {
            for (c, check) in self.checks.iter().enumerate() {
                let member = members[c].as_ref().is_none_or(|m| m.contains(i));
                let has_id = !check.is_id || rows[*i].contains_key("_id");
                if member && has_id {
                    asks.push((*i, c));
                }
            }
        }
        let found: Vec<Option<Option<Collider>>> = stream::iter(asks.clone())
            .map(|(i, c)| self.holder(&self.checks[c], &copies[i], base + i as u64))
            .buffered(LOOKUPS_IN_FLIGHT)
            .try_collect()
            .await?;
        self.verdicts(refused, base, &asks, found)
    }

    /// The verdicts on the rows of `refused`, from what the lookups `asks` `found`: a
    /// conflict per index naming a holder; for a row the server refuses on an index it
    /// names, or on one no lookup can name, a conflict with [`Collider::Unknown`].
    fn verdicts(
        &self,
        refused: Vec<(usize, Refusal)>,
        base: u64,
        asks: &[(usize, usize)],
        found: Vec<Option<Option<Collider>>>,
    ) -> Result<Verdicts, DedupeError> {
        let mut verdicts = Verdicts {
            conflicts: Vec::new(),
            invalid: Vec::new(),
        };
        let mut found = asks.iter().zip(found).peekable();
        for (i, refusal) in refused {
            let position = base + i as u64;
            let mut named = Vec::new();
            let mut unknown = Vec::new();
            while let Some(((_, c), holder)) = found.next_if(|((row, _), _)| *row == i) {
                let check = &self.checks[*c];
                match holder {
                    Some(Some(with)) => named.push(conflict(position, check, with)),
                    Some(None) => {}
                    None => unknown.push(check),
                }
            }
            match refusal {
                Refusal::Validator(details) => {
                    verdicts.invalid.push(InvalidRow { position, details })
                }
                Refusal::Index(index) => {
                    let by_name = index
                        .as_deref()
                        .and_then(|n| self.checks.iter().find(|c| c.name == n));
                    match by_name {
                        Some(check) if !named.iter().any(|c| c.index == check.name) => {
                            named.push(conflict(position, check, Collider::Unknown))
                        }
                        Some(_) => {}
                        None if named.is_empty() && !unknown.is_empty() => named.extend(
                            unknown
                                .iter()
                                .map(|c| conflict(position, c, Collider::Unknown)),
                        ),
                        None if named.is_empty() => {
                            return Err(DedupeError::Reply {
                                detail: "a refused row that no unique index accounts for",
                            })
                        }
                        None => {}
                    }
                }
            }
            named.sort_by_key(|c| self.checks.iter().position(|k| k.name == c.index));
            verdicts.conflicts.extend(named);
        }
        Ok(verdicts)
    }

    /// Copies in the stored documents holding a key of `rows` on any index. One found by
    /// two indexes, or for an earlier batch, is refused again on `_id`: nothing to report.
    /// One refused as a duplicate on an index with `prepareUnique` (which leaves old
    /// duplicates be) goes in as a twin, which that index leaves out.
    async fn copy_stored(&self, rows: &[Document]) -> Result<(), DedupeError> {
        let projection = self.layout.projection();
        let found = futures_util::future::try_join_all(
            self.checks
                .iter()
                .map(|check| check.stored(&self.target, rows, projection.as_ref())),
        )
        .await?;
        let copies: Vec<Document> = found
            .into_iter()
            .flatten()
            .map(|stored| self.layout.stored_copy(stored))
            .collect();
        if copies.is_empty() {
            return Ok(());
        }
        let refused = insert(&self.accepted, copies.iter().collect()).await?;
        if self.prepared && !refused.is_empty() {
            let twins = refused
                .into_iter()
                .map(|(i, _)| self.layout.twin(copies[i].clone()));
            let twins: Vec<Document> = twins.collect();
            insert(&self.accepted, twins.iter().collect()).await?;
        }
        Ok(())
    }

    /// For each check, the rows of `refused` it holds (by place in the batch); `None`:
    /// every row.
    async fn members(
        &self,
        refused: &[(usize, Refusal)],
        copies: &[Document],
        base: u64,
    ) -> Result<Vec<Option<HashSet<usize>>>, DedupeError> {
        let mut members = Vec::with_capacity(self.checks.len());
        let Some(scratch) = &self.members else {
            members.resize_with(self.checks.len(), || None);
            return Ok(members);
        };
        let positions: Vec<i64> = refused
            .iter()
            .map(|(i, _)| base as i64 + *i as i64)
            .collect();
        let mut docs = Vec::with_capacity(refused.len());
        for ((i, _), position) in refused.iter().zip(&positions) {
            let mut copy = copies[*i].clone();
            copy.insert("_id", *position);
            docs.push(copy);
        }
        insert(scratch, docs.iter().collect()).await?;
        for check in &self.checks {
            let Some(membership) = &check.membership else {
                members.push(None);
                continue;
            };
            let filter = doc! { "$and": [{ "_id": { "$in": &positions } }, membership.clone()] };
            let options = FindOptions::builder()
                .collation(check.collation.clone())
                .projection(doc! { "_id": 1 })
                .build();
            let held: Vec<Document> = scratch
                .find(filter)
                .with_options(options)
                .await
                .map_err(DedupeError::driver("find"))?
                .try_collect()
                .await
                .map_err(DedupeError::driver("find"))?;
            let held = held
                .iter()
                .filter_map(|d| d.get_i64("_id").ok())
                .map(|p| (p - base as i64) as usize)
                .collect();
            members.push(Some(held));
        }
        Ok(members)
    }

    /// Who holds `copy`'s key on `check` before the row at `position`: `None` when a query
    /// cannot name it, `Some(None)` when nobody does.
    async fn holder(
        &self,
        check: &IndexCheck,
        copy: &Document,
        position: u64,
    ) -> Result<Option<Option<Collider>>, DedupeError> {
        let Some(filter) = check.holder_filter(copy) else {
            return Ok(None);
        };
        let before = doc! { &self.layout.marker: { "$not": { "$gte": position as i64 } } };
        let options = FindOneOptions::builder()
            .collation(check.collation.clone())
            .projection(doc! { "_id": 1, &self.layout.marker: 1 })
            .build();
        let holder = self
            .accepted
            .find_one(doc! { "$and": [filter, before] })
            .with_options(options)
            .await
            .map_err(DedupeError::driver("find"))?;
        Ok(Some(holder.map(|h| self.layout.collider(h))))
    }
}

fn conflict(position: u64, check: &IndexCheck, with: Collider) -> RowConflict {
    RowConflict {
        position,
        index: check.name.clone(),
        with,
    }
}

/// Inserts `docs` unordered; answers the places refused as duplicates, each with the index
/// the server names. Any other failure is an error.
async fn insert(
    scratch: &Collection<Document>,
    docs: Vec<&Document>,
) -> Result<Vec<(usize, Option<String>)>, DedupeError> {
    let options = InsertManyOptions::builder().ordered(false).build();
    if docs.is_empty() {
        return Ok(Vec::new());
    }
    let Err(err) = scratch.insert_many(docs).with_options(options).await else {
        return Ok(Vec::new());
    };
    let only_duplicates = matches!(&*err.kind, mongodb::error::ErrorKind::InsertMany(e)
        if e.write_concern_error.is_none());
    let mut refused = Vec::new();
    for failure in extract::failures(&err) {
        match failure.position {
            Some(position) if only_duplicates && failure.is_duplicate() => {
                let index = DuplicateKey::from_failure(&failure)
                    .index()
                    .map(str::to_owned);
                refused.push((position, index));
            }
            _ => {
                return Err(DedupeError::Driver {
                    operation: "insert",
                    source: err,
                })
            }
        }
    }
    if !only_duplicates {
        return Err(DedupeError::Driver {
            operation: "insert",
            source: err,
        });
    }
    Ok(refused)
}
