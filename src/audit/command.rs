//! The upserts one command carries, and how each is judged: the filter rule and the unique
//! index lookup are `upsert_by_unique`'s own (`crate::conflict`), not a copy.

use mongodb::bson::{Bson, Document};

use super::{Reason, UpsertReport};
use crate::conflict::{equality_fields, unique_index};
use crate::index::Indexes;
use crate::Refusal;

/// One upsert statement: its filter's top-level fields, and the verdict the filter alone
/// gives (`None`: plain equality, the indexes decide).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Upsert {
    pub(super) command: &'static str,
    pub(super) fields: Vec<String>,
    pub(super) refused: Option<Reason>,
}

/// The collection a command names and the upserts it carries; `None` for any command that
/// is not `update` or `findAndModify`, or carries no upsert.
pub(super) fn upserts(command_name: &str, command: &Document) -> Option<(String, Vec<Upsert>)> {
    let (name, filters): (&'static str, Vec<Option<&Document>>) = match command_name {
        "update" => {
            let statements = command.get_array("updates").ok()?;
            let filters = statements
                .iter()
                .filter_map(Bson::as_document)
                .filter(|statement| is_true(statement.get("upsert")))
                .map(|statement| statement.get_document("q").ok())
                .collect();
            ("update", filters)
        }
        "findAndModify" | "findandmodify" if is_true(command.get("upsert")) => {
            ("findAndModify", vec![command.get_document("query").ok()])
        }
        _ => return None,
    };
    if filters.is_empty() {
        return None;
    }
    let collection = command.get_str(command_name).ok()?.to_owned();
    let empty = Document::new();
    let upserts = filters
        .into_iter()
        .map(|filter| judge_filter(name, filter.unwrap_or(&empty)))
        .collect();
    Some((collection, upserts))
}

fn is_true(value: Option<&Bson>) -> bool {
    matches!(value, Some(Bson::Boolean(true)))
}

fn judge_filter(command: &'static str, filter: &Document) -> Upsert {
    let refused = match equality_fields(filter) {
        Ok(_) => None,
        Err(Refusal::EmptyFilter) => Some(Reason::EmptyFilter),
        Err(Refusal::NotEquality { field }) => Some(Reason::NotEquality { field }),
        // The filter rule refuses with the two above only.
        Err(_) => Some(Reason::NotUnique),
    };
    Upsert {
        command,
        fields: filter.keys().cloned().collect(),
        refused,
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
                match unique_index(indexes, &fields) {
                    Ok(_) => return None,
                    Err(Refusal::ExtraFields { index, extra }) => {
                        Reason::ExtraFields { index, extra }
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
