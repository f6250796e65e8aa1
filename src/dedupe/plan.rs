//! How one group of a batch becomes writes: its survivor, its archive entries, and the
//! update and delete statements of its others.

use std::collections::HashMap;

use mongodb::bson::{doc, Bson, Document, RawDocument, RawDocumentBuf};

use super::archive::{self, id_key, Archived};
use super::engine::Documents;
use super::keep::Strategy;
use super::merged;
use super::report::{SkipReason, Skipped};
use super::resolve::{Action, ResolveDuplicates};
use super::{DedupeError, DuplicateGroup, Resolution, UniqueIndex};

/// The writes one batch plans.
#[derive(Default)]
pub(super) struct Plan {
    /// Archive entries, written before any update or delete.
    pub(super) entries: Vec<RawDocumentBuf>,
    /// Merged survivors' `update` statements, sent before their groups are checked.
    pub(super) merges: Vec<Document>,
    /// Re-key `update` statements, each with its group (an index in `groups`).
    pub(super) rekeys: Vec<(Document, usize)>,
    /// Documents to delete.
    pub(super) deletes: Vec<Delete>,
    /// The keys the documents to delete were read with.
    pub(super) guards: Vec<Document>,
    /// The groups the other fields point into.
    pub(super) groups: Vec<Planned>,
    /// Groups left alone while planning.
    pub(super) skipped: Vec<Skipped>,
}

/// One document to delete.
pub(super) struct Delete {
    pub(super) id: Bson,
    /// Its group, an index in [`Plan::groups`].
    pub(super) group: usize,
    /// The key it was read with, an index in [`Plan::guards`].
    pub(super) guard: usize,
}

/// One group of a plan: what must still hold before its others are deleted or re-keyed.
pub(super) struct Planned {
    pub(super) key: Document,
    pub(super) count: u64,
    pub(super) survivor: Bson,
    /// Matches the survivor only while it holds the key it was read with (and, in a merge,
    /// the merged values), and the partial filter.
    pub(super) check: Document,
}

impl Plan {
    /// Adds a group; returns its index.
    fn group(&mut self, key: &Document, count: u64, survivor: &Bson, check: Document) -> usize {
        self.groups.push(Planned {
            key: key.clone(),
            count,
            survivor: survivor.clone(),
            check,
        });
        self.groups.len() - 1
    }

    /// Adds a guard key; returns its index (the last one again when it is the same).
    fn guard(&mut self, key: &Document) -> usize {
        if self.guards.last() != Some(key) {
            self.guards.push(key.clone());
        }
        self.guards.len() - 1
    }

    /// Adds `member` of the group `group` to the deletes.
    fn delete(&mut self, member: &Member, group: usize) {
        let guard = self.guard(&member.guard);
        self.deletes.push(Delete {
            id: member.id.clone(),
            group,
            guard,
        });
    }
}

impl ResolveDuplicates<'_> {
    /// A plain delete by `_id`s, the documents unread: only without a collation, where the
    /// group's key is the key each of its documents holds.
    pub(super) fn plan_ids(
        &mut self,
        group: DuplicateGroup,
        plan: &mut Plan,
    ) -> Result<Option<Resolution>, DedupeError> {
        let survivor = self.survivor_by_id(&group)?;
        let check = guarded(self.index, &survivor, &group.key, Vec::new());
        let at = plan.group(&group.key, group.count, &survivor, check);
        let guard = plan.guard(&group.key);
        let DuplicateGroup {
            key, count, ids, ..
        } = group;
        let removed: Vec<Bson> = ids.into_iter().filter(|id| *id != survivor).collect();
        plan.deletes.extend(removed.iter().map(|id| Delete {
            id: id.clone(),
            group: at,
            guard,
        }));
        Ok(Some(Resolution {
            key,
            count,
            survivor,
            removed,
            changed: Vec::new(),
        }))
    }

    /// The survivor the server picked, or the caller chose by `_id`.
    fn survivor_by_id(&mut self, group: &DuplicateGroup) -> Result<Bson, DedupeError> {
        match &mut self.keep.inner {
            Strategy::Sorted(_) => group.keep.clone().ok_or(DedupeError::Reply {
                detail: "a group without its survivor",
            }),
            Strategy::Chosen(choose) => {
                let Some(survivor) = choose(group) else {
                    return Err(DedupeError::NoSurvivor {
                        group: Box::new(group.clone()),
                    });
                };
                if !group.ids.contains(&survivor) {
                    return Err(DedupeError::SurvivorOutsideGroup {
                        group: Box::new(group.clone()),
                        survivor,
                    });
                }
                Ok(survivor)
            }
            Strategy::Prefer(_) => Err(DedupeError::Reply {
                detail: "a survivor by content without the documents",
            }),
        }
    }

    /// Plans one group from its documents. `None` when nothing of it is left to do (its
    /// documents went meanwhile, or its survivor did: then the group is in
    /// [`Plan::skipped`]).
    pub(super) async fn plan_documents(
        &mut self,
        group: DuplicateGroup,
        current: &Documents,
        archived: &HashMap<Vec<u8>, Archived>,
        plan: &mut Plan,
    ) -> Result<Option<Resolution>, DedupeError> {
        // Content is parsed only for what reads it: a merge, a re-key, a survivor by content,
        // the keys of a collated index.
        let collated = self.collated();
        let reads_content = !matches!(self.action, Action::Delete)
            || matches!(self.keep.inner, Strategy::Prefer(_))
            || collated;
        // The members still there, in `_id` order, each with its original.
        let mut found: Vec<(usize, Vec<u8>)> = group
            .ids
            .iter()
            .filter_map(|id| {
                let key = id_key(id);
                current.at.get(&key).map(|&at| (at, key))
            })
            .collect();
        found.sort_unstable_by_key(|(at, _)| *at);
        let decode = |raw: &RawDocument| {
            crate::bson_compat::from_raw::<Document>(raw).map_err(|_| DedupeError::Reply {
                detail: "a document that cannot be decoded",
            })
        };
        let mut members = Vec::with_capacity(found.len());
        for (at, key) in found {
            let archived = archived.get(&key);
            let now = current.docs[at].as_ref();
            let original = archived.map_or(now, |a| a.doc.as_ref());
            let (content, read) = match reads_content {
                true => {
                    let read = decode(now)?;
                    let content = match archived {
                        Some(_) => decode(original)?,
                        None => read.clone(),
                    };
                    (Some(content), Some(read))
                }
                false => (None, None),
            };
            // The key it holds now, exactly: under a collation, the group's key stands for
            // several spellings.
            let guard = match (&read, collated) {
                (Some(read), true) => exact_key(self.index, read),
                _ => group.key.clone(),
            };
            members.push(Member {
                id: &current.ids[at],
                key,
                original,
                archived,
                content,
                read,
                guard,
            });
        }
        let survivor = match &mut self.keep.inner {
            Strategy::Prefer(prefer) => {
                let mut best: Option<&Member> = None;
                for member in &members {
                    best = match best {
                        Some(b) if !prefer.prefer(member.content(), b.content()).await => Some(b),
                        _ => Some(member),
                    };
                }
                match best {
                    Some(b) => b.id.clone(),
                    None => return Ok(None),
                }
            }
            _ => self.survivor_by_id(&group)?,
        };
        let survivor_key = id_key(&survivor);
        let survivor_member = members.iter().find(|m| m.key == survivor_key);
        let others: Vec<&Member> = members.iter().filter(|m| m.key != survivor_key).collect();
        if others.is_empty() {
            return Ok(None);
        }
        // The survivor was read but is gone: its group is left alone.
        if survivor_member.is_none() && self.reads_survivor() {
            plan.skipped.push(Skipped {
                key: group.key,
                count: group.count,
                survivor: Some(survivor),
                reason: SkipReason::SurvivorChanged,
            });
            return Ok(None);
        }
        let survivor_guard = survivor_member.map_or(&group.key, |m| &m.guard);
        let (mut removed, mut changed) = (Vec::new(), Vec::new());
        let archiving = self.archive.is_some();
        let archive_entry = |plan: &mut Plan,
                             member: &Member,
                             reason: &str,
                             change: Option<&Document>|
         -> Result<(), DedupeError> {
            if archiving && member.archived.is_none() {
                plan.entries.push(archive::entry(
                    member.id,
                    reason,
                    &survivor,
                    member.original,
                    change,
                )?);
            }
            Ok(())
        };
        match &mut self.action {
            Action::Delete => {
                let check = guarded(self.index, &survivor, survivor_guard, Vec::new());
                let at = plan.group(&group.key, group.count, &survivor, check);
                for member in &others {
                    archive_entry(plan, member, "deleted: a duplicate of the survivor", None)?;
                    plan.delete(member, at);
                    removed.push(member.id.clone());
                }
            }
            Action::Merge(merge) => {
                let Some(kept) = survivor_member else {
                    return Ok(None);
                };
                let target = match kept.change() {
                    Some(change) => merged::applied(kept.content(), change),
                    None => {
                        let mut target = kept.content().clone();
                        for member in &others {
                            merge.fold(&mut target, member.content());
                        }
                        target
                    }
                };
                let change = merged::Change::between(kept.content(), &target)?;
                // Archived even when the merge leaves it as it was: a re-run then repeats this
                // merge, not one of the members left.
                archive_entry(
                    plan,
                    kept,
                    "changed: the survivor of a merge",
                    Some(&change.update()),
                )?;
                let read = kept.read.as_ref().expect("a merge reads its survivor");
                if !change.is_empty() {
                    let filter = guarded(self.index, &survivor, &kept.guard, change.as_read(read));
                    plan.merges.push(statement(filter, change.update()));
                    changed.push(survivor.clone());
                }
                let check = guarded(self.index, &survivor, &kept.guard, change.as_merged());
                let at = plan.group(&group.key, group.count, &survivor, check);
                for member in &others {
                    archive_entry(plan, member, "deleted: merged into the survivor", None)?;
                    plan.delete(member, at);
                    removed.push(member.id.clone());
                }
            }
            Action::Rekey(rekey) => {
                let check = guarded(self.index, &survivor, survivor_guard, Vec::new());
                let at = plan.group(&group.key, group.count, &survivor, check);
                for member in &others {
                    let update = match member.change() {
                        Some(update) => update.clone(),
                        None => rekey.update(self.index, member.content())?,
                    };
                    archive_entry(plan, member, "changed: re-keyed", Some(&update))?;
                    let filter = guarded(self.index, member.id, &member.guard, Vec::new());
                    plan.rekeys.push((statement(filter, update), at));
                    changed.push(member.id.clone());
                }
            }
        }
        Ok(Some(Resolution {
            key: group.key,
            count: group.count,
            survivor,
            removed,
            changed,
        }))
    }

    /// Whether keys compare under a collation other than the simple one: then a group's key
    /// stands for several spellings, and each document's own key is read.
    pub(super) fn collated(&self) -> bool {
        self.index
            .collation()
            .is_some_and(|collation| collation.locale != "simple")
    }

    /// Whether a batch reads the survivors' documents too.
    pub(super) fn reads_survivor(&self) -> bool {
        !matches!(self.action, Action::Delete) || self.collated()
    }
}

/// The filter that matches the document `id` while it holds `key` (each field by `$eq`),
/// the index's partial filter and `conditions`: flat, so that the server plans it as a
/// lookup by `_id`. Sent with the simple collation, so `_id` and key match exactly.
fn guarded(index: &UniqueIndex, id: &Bson, key: &Document, conditions: Vec<Bson>) -> Document {
    let mut filter = doc! { "_id": id.clone() };
    filter.extend(index.key_filter(key));
    let mut all: Vec<Bson> = index
        .partial_filter()
        .map(|partial| Bson::from(partial.clone()))
        .into_iter()
        .collect();
    all.extend(conditions);
    if !all.is_empty() {
        filter.insert("$and", all);
    }
    filter
}

/// One `update` statement under the simple collation: `_id`s and keys match exactly.
fn statement(filter: Document, update: Document) -> Document {
    doc! { "q": filter, "u": update, "collation": simple_collation() }
}

/// The simple collation, as a command field: binary comparison, whatever the collection's
/// default.
pub(super) fn simple_collation() -> Document {
    doc! { "locale": "simple" }
}

/// The key `document` holds, by the index's field names; a missing field reads `null`, as
/// the index stores it.
fn exact_key(index: &UniqueIndex, document: &Document) -> Document {
    index
        .fields()
        .map(|field| {
            let mut parent = Some(document);
            let mut value = None;
            for part in field.split('.') {
                value = parent.and_then(|d| d.get(part));
                parent = match value {
                    Some(Bson::Document(d)) => Some(d),
                    _ => None,
                };
            }
            (field.to_owned(), value.cloned().unwrap_or(Bson::Null))
        })
        .collect()
}

/// One document of a group, as a batch plans it.
struct Member<'a> {
    id: &'a Bson,
    key: Vec<u8>,
    /// As archived when the run archived it already, else as read.
    original: &'a RawDocument,
    /// What the run archived of it before.
    archived: Option<&'a Archived>,
    /// The original, parsed, when the run reads content.
    content: Option<Document>,
    /// As read now, parsed, when the run reads content.
    read: Option<Document>,
    /// The key it was read with: its own under a collation, else its group's.
    guard: Document,
}

impl Member<'_> {
    /// The change the archive recorded for it.
    fn change(&self) -> Option<&Document> {
        self.archived.and_then(|a| a.change.as_ref())
    }

    fn content(&self) -> &Document {
        self.content
            .as_ref()
            .expect("content is parsed whenever the run reads it")
    }
}
