//! How one group of a batch becomes writes: its survivor, its archive entries, and the
//! update and delete statements of its others.

use std::collections::HashMap;

use mongodb::bson::{doc, Bson, Document, RawDocument, RawDocumentBuf};

use super::archive::{self, id_key, Archived};
use super::engine::Documents;
use super::keep::Strategy;
use super::resolve::{Action, ResolveDuplicates};
use super::{DedupeError, DuplicateGroup, Resolution, UniqueIndex};

/// The writes one batch plans.
#[derive(Default)]
pub(super) struct Plan {
    /// Archive entries, written before any update or delete.
    pub(super) entries: Vec<RawDocumentBuf>,
    /// `update` statements.
    pub(super) updates: Vec<Document>,
    /// `_id`s to delete, each with the index of its group's guard.
    pub(super) deletes: Vec<(Bson, usize)>,
    /// Each group's key, which its deletes are guarded by.
    pub(super) guards: Vec<Document>,
}

impl ResolveDuplicates<'_> {
    /// A plain delete by `_id`s, the documents unread.
    pub(super) fn plan_ids(
        &mut self,
        group: DuplicateGroup,
        plan: &mut Plan,
    ) -> Result<Option<Resolution>, DedupeError> {
        let survivor = self.survivor_by_id(&group)?;
        let guard = plan.guards.len();
        plan.guards.push(group.key.clone());
        let DuplicateGroup {
            key, count, ids, ..
        } = group;
        let removed: Vec<Bson> = ids.into_iter().filter(|id| *id != survivor).collect();
        plan.deletes
            .extend(removed.iter().map(|id| (id.clone(), guard)));
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
    /// documents went meanwhile).
    pub(super) async fn plan_documents(
        &mut self,
        group: DuplicateGroup,
        current: &Documents,
        archived: &HashMap<Vec<u8>, Archived>,
        plan: &mut Plan,
    ) -> Result<Option<Resolution>, DedupeError> {
        // Content is parsed only for what reads it: a merge, a re-key, a survivor by content.
        let reads_content = !matches!(self.action, Action::Delete)
            || matches!(self.keep.inner, Strategy::Prefer(_));
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
        let mut members = Vec::with_capacity(found.len());
        for (at, key) in found {
            let archived = archived.get(&key);
            let original = archived.map_or(current.docs[at].as_ref(), |a| a.doc.as_ref());
            let content =
                match reads_content {
                    true => Some(crate::bson_compat::from_raw::<Document>(original).map_err(
                        |_| DedupeError::Reply {
                            detail: "a document that cannot be decoded",
                        },
                    )?),
                    false => None,
                };
            members.push(Member {
                id: &current.ids[at],
                key,
                original,
                archived,
                content,
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
        let guard_index = plan.guards.len();
        plan.guards.push(group.key.clone());
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
                for member in &others {
                    archive_entry(plan, member, "deleted: a duplicate of the survivor", None)?;
                    removed.push(member.id.clone());
                }
            }
            Action::Merge(merge) => {
                // The survivor went meanwhile: nothing to merge into; a re-run sees the rest.
                let Some(kept) = survivor_member else {
                    return Ok(None);
                };
                let target = match kept.change() {
                    Some(target) => target.clone(),
                    None => {
                        let mut target = kept.content().clone();
                        for member in &others {
                            merge.fold(&mut target, member.content());
                        }
                        target
                    }
                };
                // Archived even when the merge leaves it as it was: a re-run then repeats this
                // merge, not one of the members left.
                archive_entry(
                    plan,
                    kept,
                    "changed: the survivor of a merge",
                    Some(&target),
                )?;
                if target != *kept.content() {
                    let filter = guarded(self.index, &survivor, &group.key);
                    plan.updates.push(statement(self.index, filter, target));
                    changed.push(survivor.clone());
                }
                for member in &others {
                    archive_entry(plan, member, "deleted: merged into the survivor", None)?;
                    removed.push(member.id.clone());
                }
            }
            Action::Rekey(rekey) => {
                for member in &others {
                    let update = match member.change() {
                        Some(update) => update.clone(),
                        None => rekey.update(self.index, member.content())?,
                    };
                    archive_entry(plan, member, "changed: re-keyed", Some(&update))?;
                    let filter = guarded(self.index, member.id, &group.key);
                    plan.updates.push(statement(self.index, filter, update));
                    changed.push(member.id.clone());
                }
            }
        }
        plan.deletes
            .extend(removed.iter().map(|id| (id.clone(), guard_index)));
        Ok(Some(Resolution {
            key: group.key,
            count: group.count,
            survivor,
            removed,
            changed,
        }))
    }
}

/// The filter of an update to the document `id` of the group `key`: the `_id`, the key
/// and the partial filter, flat, so that the server plans it as a lookup by `_id`.
fn guarded(index: &UniqueIndex, id: &Bson, key: &Document) -> Document {
    let mut filter = doc! { "_id": id.clone() };
    filter.extend(index.key_filter(key));
    if let Some(partial) = index.partial_filter() {
        filter.insert("$and", vec![Bson::from(partial.clone())]);
    }
    filter
}

/// One `update` statement, under the index's collation.
fn statement(index: &UniqueIndex, filter: Document, update: Document) -> Document {
    let mut statement = doc! { "q": filter, "u": update };
    if let Some(collation) = index.collation() {
        if let Some(collation) = crate::bson_compat::to_document(collation) {
            statement.insert("collation", collation);
        }
    }
    statement
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
