//! The upserts one command carries, and how each is judged: the filter rule and the unique
//! index lookup are `upsert_by_unique`'s own (`crate::conflict`), not a copy.

use mongodb::bson::{Bson, Document};
use mongodb::options::UpdateModifications;

use super::{Reason, UpsertReport};
use crate::conflict::{backing_index, equality_fields};
use crate::index::Indexes;
use crate::Refusal;

/// One upsert statement: its filter's top-level fields, and the verdict the filter alone
/// gives (`None`: plain equality, the indexes decide, and `sent` holds the filter and the
/// update, for a partial or sparse index's scope).
#[derive(Debug, Clone)]
pub(super) struct Upsert {
    pub(super) command: &'static str,
    pub(super) fields: Vec<String>,
    pub(super) refused: Option<Reason>,
    sent: Option<(Document, UpdateModifications)>,
}

/// The collection a command names and the upserts it carries; `None` for any command that
/// is not `update` or `findAndModify`, or carries no upsert.
pub(super) fn upserts(command_name: &str, command: &Document) -> Option<(String, Vec<Upsert>)> {
    type Statement<'a> = (Option<&'a Document>, Option<&'a Bson>);
    let (name, filters): (&'static str, Vec<Statement<'_>>) = match command_name {
        "update" => {
            let statements = command.get_array("updates").ok()?;
            let filters = statements
                .iter()
                .filter_map(Bson::as_document)
                .filter(|statement| is_true(statement.get("upsert")))
                .map(|statement| (statement.get_document("q").ok(), statement.get("u")))
                .collect();
            ("update", filters)
        }
        "findAndModify" | "findandmodify" if is_true(command.get("upsert")) => (
            "findAndModify",
            vec![(command.get_document("query").ok(), command.get("update"))],
        ),
        _ => return None,
    };
    if filters.is_empty() {
        return None;
    }
    let collection = command.get_str(command_name).ok()?.to_owned();
    let empty = Document::new();
    let upserts = filters
        .into_iter()
        .map(|(filter, update)| judge_filter(name, filter.unwrap_or(&empty), update))
        .collect();
    Some((collection, upserts))
}

fn is_true(value: Option<&Bson>) -> bool {
    matches!(value, Some(Bson::Boolean(true)))
}

fn judge_filter(command: &'static str, filter: &Document, update: Option<&Bson>) -> Upsert {
    let refused = match equality_fields(filter) {
        Ok(_) => None,
        Err(Refusal::EmptyFilter) => Some(Reason::EmptyFilter),
        Err(Refusal::NotEquality { field }) => Some(Reason::NotEquality { field }),
        // The filter rule refuses with the two above only.
        Err(_) => Some(Reason::NotUnique),
    };
    let sent = refused
        .is_none()
        .then(|| (filter.clone(), modifications(update)));
    Upsert {
        command,
        fields: filter.keys().cloned().collect(),
        refused,
        sent,
    }
}

/// The update as the helper's rules take it; what is neither a document nor a pipeline is
/// judged as a pipeline (nothing known of what it writes).
fn modifications(update: Option<&Bson>) -> UpdateModifications {
    match update {
        Some(Bson::Document(update)) => UpdateModifications::Document(update.clone()),
        Some(Bson::Array(stages)) => UpdateModifications::Pipeline(
            stages
                .iter()
                .filter_map(Bson::as_document)
                .cloned()
                .collect(),
        ),
        _ => UpdateModifications::Pipeline(Vec::new()),
    }
}

impl Upsert {
    /// The report this upsert earns against `indexes` (`None`: its filter is plain equality
    /// on exactly a unique index's fields).
    pub(super) fn judge(
        &self,
        namespace: &mongodb::Namespace,
        indexes: Option<&Indexes>,
    ) -> Option<UpsertReport> {
        let reason = match (&self.refused, indexes) {
            (Some(reason), _) => reason.clone(),
            (None, None) => return None,
            (None, Some(indexes)) => {
                let fields: Vec<&str> = self.fields.iter().map(String::as_str).collect();
                let empty = (Document::new(), UpdateModifications::Pipeline(Vec::new()));
                let (filter, update) = self.sent.as_ref().unwrap_or(&empty);
                match backing_index(indexes, &fields, filter, update) {
                    Ok(_) => return None,
                    Err(Refusal::ExtraFields { index, extra }) => {
                        Reason::ExtraFields { index, extra }
                    }
                    Err(Refusal::OutsidePartialFilter {
                        index, condition, ..
                    }) => Reason::OutsidePartialFilter { index, condition },
                    Err(Refusal::SparseKeyMissing { index, field, .. }) => {
                        Reason::SparseKeyMissing { index, field }
                    }
                    Err(_) => Reason::NotUnique,
                }
            }
        };
        Some(UpsertReport {
            namespace: namespace.clone(),
            command: self.command,
            fields: self.fields.clone(),
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use mongodb::bson::{doc, Document};
    use mongodb::Namespace;

    use super::{upserts, Reason};
    use crate::index::Indexes;

    fn indexes() -> Indexes {
        Indexes::from_specs([
            doc! { "key": { "_id": 1 }, "name": "_id_" },
            doc! { "key": { "email": 1 }, "name": "email_1", "unique": true },
            doc! { "key": { "tenant": 1, "sku": 1 }, "name": "tenant_sku", "unique": true },
            doc! { "key": { "name": 1 }, "name": "name_1" },
        ])
    }

    fn verdicts(command_name: &str, command: Document) -> Vec<Option<Reason>> {
        let ns = Namespace::new("shop", "users");
        let (coll, upserts) = upserts(command_name, &command).expect("upserts");
        assert_eq!(coll, "users");
        let indexes = indexes();
        upserts
            .iter()
            .map(|u| u.judge(&ns, Some(&indexes)).map(|r| r.reason().clone()))
            .collect()
    }

    #[test]
    fn update_statements_are_judged_one_by_one() {
        let command = doc! {
            "update": "users",
            "updates": [
                { "q": { "email": "a" }, "u": { "$set": { "n": 1 } }, "upsert": true },
                { "q": { "name": "a" }, "u": { "$set": { "n": 1 } }, "upsert": true },
                { "q": { "name": "a" }, "u": { "$set": { "n": 1 } } },
                { "q": { "email": "a", "name": "b" }, "u": { "$set": { "n": 1 } }, "upsert": true, "multi": true },
                { "q": { "sku": "x", "tenant": 1 }, "u": { "$set": { "n": 1 } }, "upsert": true },
                { "q": { "email": { "$in": ["a"] } }, "u": { "$set": { "n": 1 } }, "upsert": true },
                { "q": {}, "u": { "$set": { "n": 1 } }, "upsert": true },
            ],
            "ordered": true,
        };
        assert_eq!(
            verdicts("update", command),
            [
                None,
                Some(Reason::NotUnique),
                Some(Reason::ExtraFields {
                    index: "email_1".into(),
                    extra: vec!["name".into()]
                }),
                None,
                Some(Reason::NotEquality {
                    field: "email".into()
                }),
                Some(Reason::EmptyFilter),
            ]
        );
    }

    #[test]
    fn upserts_on_partial_and_sparse_indexes_are_judged_by_what_they_insert() {
        let indexes = Indexes::from_specs([
            doc! { "key": { "sku": 1 }, "name": "sku_active", "unique": true,
            "partialFilterExpression": { "active": true } },
            doc! { "key": { "email": 1 }, "name": "email_sparse", "unique": true, "sparse": true },
        ]);
        let command = doc! {
            "update": "users",
            "updates": [
                { "q": { "sku": "a" }, "u": { "$setOnInsert": { "active": true } }, "upsert": true },
                { "q": { "sku": "a" }, "u": { "$inc": { "n": 1 } }, "upsert": true },
                { "q": { "sku": "a" }, "u": [{ "$set": { "active": true } }], "upsert": true },
                { "q": { "email": "a" }, "u": { "$inc": { "n": 1 } }, "upsert": true },
                { "q": { "email": null }, "u": { "$inc": { "n": 1 } }, "upsert": true },
            ],
        };
        let ns = Namespace::new("shop", "users");
        let (_, upserts) = upserts("update", &command).unwrap();
        let reasons: Vec<Option<Reason>> = upserts
            .iter()
            .map(|u| u.judge(&ns, Some(&indexes)).map(|r| r.reason().clone()))
            .collect();
        let outside = || Reason::OutsidePartialFilter {
            index: "sku_active".into(),
            condition: "active".into(),
        };
        let sparse = Reason::SparseKeyMissing {
            index: "email_sparse".into(),
            field: "email".into(),
        };
        assert_eq!(
            reasons,
            [
                None,
                Some(outside()),
                Some(outside()),
                None,
                Some(sparse.clone())
            ]
        );
        assert_eq!(
            outside().to_string(),
            "the document it may insert is not proven inside partial unique index sku_active (condition on active)"
        );
        assert_eq!(
            sparse.to_string(),
            "key field email may be null or missing, which sparse unique index email_sparse does not guard"
        );
        let fam = doc! { "findAndModify": "users", "query": { "sku": "b" }, "update": { "$set": { "active": true } }, "upsert": true };
        let (_, upserts) = super::upserts("findAndModify", &fam).unwrap();
        assert!(upserts[0].judge(&ns, Some(&indexes)).is_none());
    }

    #[test]
    fn find_and_modify_counts_only_with_upsert() {
        let good = doc! { "findAndModify": "users", "query": { "_id": 3 }, "update": { "$set": { "n": 1 } }, "upsert": true };
        assert_eq!(verdicts("findAndModify", good), [None]);
        let bad = doc! { "findAndModify": "users", "query": { "$or": [{ "email": "a" }] }, "update": { "$set": { "n": 1 } }, "upsert": true };
        assert_eq!(
            verdicts("findAndModify", bad),
            [Some(Reason::NotEquality {
                field: "$or".into()
            })]
        );
        let no_query =
            doc! { "findAndModify": "users", "update": { "$set": { "n": 1 } }, "upsert": true };
        assert_eq!(
            verdicts("findAndModify", no_query),
            [Some(Reason::EmptyFilter)]
        );
        let plain = doc! { "findAndModify": "users", "query": { "name": "a" }, "remove": true };
        assert!(upserts("findAndModify", &plain).is_none());
    }

    #[test]
    fn other_commands_and_plain_updates_carry_nothing() {
        let update = doc! { "update": "users", "updates": [{ "q": { "name": "a" }, "u": { "$set": { "n": 1 } } }] };
        assert!(upserts("update", &update).is_none());
        assert!(upserts(
            "insert",
            &doc! { "insert": "users", "documents": [{ "a": 1 }] }
        )
        .is_none());
        assert!(upserts("find", &doc! { "find": "users", "filter": {} }).is_none());
    }

    #[test]
    fn an_unread_index_list_leaves_plain_equality_undecided() {
        let command = doc! { "update": "users", "updates": [
            { "q": { "name": "a" }, "u": { "$set": { "n": 1 } }, "upsert": true },
            { "q": { "name": { "$gt": 1 } }, "u": { "$set": { "n": 1 } }, "upsert": true },
        ] };
        let ns = Namespace::new("shop", "users");
        let (_, upserts) = upserts("update", &command).unwrap();
        assert!(upserts[0].judge(&ns, None).is_none());
        let report = upserts[1].judge(&ns, None).unwrap();
        assert!(report.fields().eq(["name"]));
        assert_eq!(
            report.to_string(),
            "upsert (update) on shop.users filters on [name]: field name is not a plain equality"
        );
    }
}
