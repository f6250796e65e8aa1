//! The check before a chunk's re-keys or deletes: are the chunk's survivors still there,
//! holding what their groups need? See invariant 3 in `engine.rs`.

use std::collections::HashSet;

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::Collection;

use super::archive::id_key;
use super::engine::simple;
use super::plan::Planned;
use super::report::{SkipReason, Skipped};
use super::{step_down, DedupeError, Report};

/// `{ _id: { $in: [...] }, $nor: [{ $nor: [<a>, <b>, ...] }] }`: the documents looked up by
/// `_id` that match one of the conditions. The double negation is an `$or` the query
/// planner leaves alone: a plain `$or` of conditions on `_id` makes it plan each branch
/// apart, which costs more than the lookups (three times the delete's own time, measured
/// with 100 branches).
pub(super) fn any_of(ids: Vec<Bson>, conditions: Vec<Bson>) -> Document {
    doc! { "_id": { "$in": ids }, "$nor": [{ "$nor": conditions }] }
}

/// The groups of `asked` (indexes in `groups`) not yet in `skipped`, each once.
pub(super) fn unskipped(asked: impl Iterator<Item = usize>, skipped: &[bool]) -> Vec<usize> {
    let mut asked: Vec<usize> = asked.filter(|&g| !skipped[g]).collect();
    asked.sort_unstable();
    asked.dedup();
    asked
}

/// Re-reads, in one query, the survivors of the groups `asked`, each matched only while it
/// holds what its group needs ([`Planned::check`]); returns the groups whose survivor did
/// not come back.
pub(super) async fn failed(
    collection: &Collection<Document>,
    groups: &[Planned],
    asked: Vec<usize>,
) -> Result<Vec<usize>, DedupeError> {
    if asked.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Bson> = asked.iter().map(|&g| groups[g].survivor.clone()).collect();
    let checks: Vec<Bson> = asked
        .iter()
        .map(|&g| groups[g].check.clone().into())
        .collect();
    let filter = any_of(ids, checks);
    let mut attempts = 0;
    let found = loop {
        attempts += 1;
        match survivors(collection, filter.clone(), asked.len()).await {
            Err(err) if attempts < step_down::ATTEMPTS && step_down::is_step_down(&err) => {
                tokio::time::sleep(step_down::PAUSE).await;
            }
            other => break other.map_err(DedupeError::driver("find"))?,
        }
    };
    Ok(asked
        .into_iter()
        .filter(|&g| !found.contains(&id_key(&groups[g].survivor)))
        .collect())
}

/// Marks the `failed` groups skipped, and reports them.
pub(super) fn skip(
    groups: &[Planned],
    failed: Vec<usize>,
    skipped: &mut [bool],
    report: &mut Report,
) {
    for g in failed {
        if std::mem::replace(&mut skipped[g], true) {
            continue;
        }
        let group = &groups[g];
        report.groups = report.groups.saturating_sub(1);
        report.skipped.push(Skipped {
            key: group.key.clone(),
            count: group.count,
            survivor: Some(group.survivor.clone()),
            reason: SkipReason::SurvivorChanged,
        });
    }
}

/// The `_id`s (by [`id_key`]) of the documents `filter` matches under the simple
/// collation.
async fn survivors(
    collection: &Collection<Document>,
    filter: Document,
    expected: usize,
) -> mongodb::error::Result<HashSet<Vec<u8>>> {
    let mut cursor = collection
        .find(filter)
        .projection(doc! { "_id": 1 })
        .collation(simple())
        // One more than can come back, so the first reply closes the cursor.
        .batch_size(u32::try_from(expected + 1).unwrap_or(u32::MAX))
        .await?;
    let mut found = HashSet::new();
    while let Some(doc) = cursor.try_next().await? {
        if let Some(id) = doc.get("_id") {
            found.insert(id_key(id));
        }
    }
    Ok(found)
}
