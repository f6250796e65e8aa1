//! Typed constraints against a real mongod: `constraint::<C>()` on the errors real writes
//! return, and the startup check of declarations against live unique indexes.

mod support;

use dupkey::{Drift, IsDuplicate, WhichConstraint};
use mongodb::bson::{doc, Document};
use mongodb::options::IndexOptions;
use mongodb::IndexModel;
use support::http::{user_document, users, UserConstraint};

dupkey::constraints! {
    /// What an application believes the collection holds.
    enum Believed {
        /// Right.
        Email = Unique::new("email_taken").on_index("email_1").on_key(&["profile.email"]),
        /// Right, by key only, in another order.
        Handle = Unique::new("handle_taken").on_key(&["handle", "tenant"]),
        /// Gone: nobody created it.
        Phone = Unique::new("phone_taken").on_index("phone_1"),
        /// The right name on a key the index does not have.
        Nick = Unique::new("nick_taken").on_index("nick_ci").on_key(&["nickname"]),
    }
}

#[tokio::test]
async fn real_errors_name_their_constraint() {
    let client = support::client().await;
    let db = client.database(&support::unique_db("constraints_live"));
    let users = users(&db).await;
    let ann = serde_json::json!({ "email": "ann@example.com", "tenant": 1, "handle": "ann", "nick": "Ann" });
    users.insert_one(user_document(&ann)).await.unwrap();

    // insert_one: the text is all the driver keeps.
    let err = users.insert_one(user_document(&ann)).await.unwrap_err();
    assert_eq!(
        err.constraint::<UserConstraint>(),
        Some(UserConstraint::Email)
    );
    let other_email = serde_json::json!({ "email": "b@example.com", "tenant": 1, "handle": "ann" });
    let err = users
        .insert_one(user_document(&other_email))
        .await
        .unwrap_err();
    assert_eq!(
        err.constraint::<UserConstraint>(),
        Some(UserConstraint::Handle)
    );

    // update_one: the server's reply (keyPattern) is kept.
    users
        .insert_one(doc! { "profile": { "email": "c@example.com" }, "tenant": 1, "handle": "c" })
        .await
        .unwrap();
    let err = users
        .update_one(doc! { "handle": "c" }, doc! { "$set": { "nick": "ANN" } })
        .await
        .unwrap_err();
    assert_eq!(
        err.constraint::<UserConstraint>(),
        Some(UserConstraint::Nick)
    );
    let result: mongodb::error::Result<()> = Err(err);
    assert_eq!(
        result.constraint::<UserConstraint>(),
        Some(UserConstraint::Nick)
    );

    // insert_many: the first duplicate in batch order.
    let batch: Vec<Document> = vec![
        doc! { "profile": { "email": "d@example.com" }, "tenant": 2, "handle": "d" },
        doc! { "profile": { "email": "ann@example.com" }, "tenant": 3, "handle": "e" },
    ];
    let err = users.insert_many(batch).ordered(false).await.unwrap_err();
    assert_eq!(
        err.constraint::<UserConstraint>(),
        Some(UserConstraint::Email)
    );
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
    assert_eq!(
        boxed.constraint::<UserConstraint>(),
        Some(UserConstraint::Email)
    );

    // Not a duplicate: no constraint.
    let err = db
        .run_command(doc! { "no_such_command": 1 })
        .await
        .unwrap_err();
    assert!(!err.is_duplicate());
    assert_eq!(err.constraint::<UserConstraint>(), None);
    db.drop().await.unwrap();
}

#[tokio::test]
async fn the_startup_check_reports_drift_both_ways() {
    let client = support::client().await;
    let db = client.database(&support::unique_db("constraints_live"));

    // A collection not created yet has only its _id index.
    let missing = db.collection::<Document>("users");
    let drift = Drift::<UserConstraint>::check(&missing).await.unwrap();
    assert_eq!(
        drift.missing(),
        [
            UserConstraint::Email,
            UserConstraint::Handle,
            UserConstraint::Nick
        ]
    );
    assert!(drift.undeclared().is_empty());

    let users = users(&db).await;
    assert!(Drift::<UserConstraint>::check(&users)
        .await
        .unwrap()
        .is_empty());

    let unique = IndexOptions::builder().unique(true).build();
    users
        .create_index(
            IndexModel::builder()
                .keys(doc! { "sku": 1 })
                .options(unique)
                .build(),
        )
        .await
        .unwrap();
    users
        .create_index(IndexModel::builder().keys(doc! { "plain": 1 }).build())
        .await
        .unwrap();
    let drift = Drift::<Believed>::check(&users).await.unwrap();
    assert_eq!(drift.missing(), [Believed::Phone, Believed::Nick]);
    let undeclared: Vec<(&str, &Document)> = drift
        .undeclared()
        .iter()
        .map(|i| (i.name(), i.key()))
        .collect();
    assert_eq!(
        undeclared,
        [
            ("nick_ci", &doc! { "nick": 1 }),
            ("sku_1", &doc! { "sku": 1 })
        ]
    );
    assert_eq!(
        drift.to_string(),
        "declared constraints with no unique index: phone_taken, nick_taken; \
         unique indexes nobody declared: nick_ci (nick), sku_1 (sku)"
    );
    db.drop().await.unwrap();
}

dupkey::constraints! {
    /// Constraints that depend on their index's collation and partial filter.
    enum Scoped {
        /// Case-insensitive nicknames.
        Nick = Unique::new("nick_taken")
            .on_index("nick_ci")
            .with_collation(r#"{ "locale": "en", "strength": 2 }"#),
        /// One active account per email.
        Email = Unique::new("email_taken")
            .on_key(&["email"])
            .with_partial_filter(r#"{ "active": true }"#),
    }
}

#[tokio::test]
async fn the_startup_check_reports_an_index_rebuilt_without_its_collation_or_filter() {
    let client = support::client().await;
    let db = client.database(&support::unique_db("constraints_scoped"));
    let users = db.collection::<Document>("users");
    let create = |keys: Document, options: IndexOptions| {
        let users = users.clone();
        async move {
            let model = IndexModel::builder().keys(keys).options(options).build();
            users.create_index(model).await.unwrap();
        }
    };
    let nick_ci = || {
        IndexOptions::builder()
            .unique(true)
            .name("nick_ci".to_owned())
    };
    let email_active = || IndexOptions::builder().unique(true);
    create(
        doc! { "nick": 1 },
        nick_ci().collation(support::case_insensitive()).build(),
    )
    .await;
    create(
        doc! { "email": 1 },
        email_active()
            .partial_filter_expression(doc! { "active": true })
            .build(),
    )
    .await;
    assert!(Drift::<Scoped>::check(&users).await.unwrap().is_empty());

    // Rebuilt without the collation and without the filter: both reported.
    users.drop_indexes().await.unwrap();
    create(doc! { "nick": 1 }, nick_ci().build()).await;
    create(doc! { "email": 1 }, email_active().build()).await;
    let drift = Drift::<Scoped>::check(&users).await.unwrap();
    assert_eq!(drift.missing(), [Scoped::Nick, Scoped::Email]);
    assert_eq!(
        drift.to_string(),
        "declared constraints with no unique index: nick_taken, email_taken; \
         unique indexes nobody declared: nick_ci (nick), email_1 (email)"
    );

    // Another collation (case-sensitive) is not the declared one either.
    users.drop_index("nick_ci").await.unwrap();
    let tertiary = mongodb::options::Collation::builder()
        .locale("en")
        .strength(mongodb::options::CollationStrength::Tertiary)
        .build();
    create(doc! { "nick": 1 }, nick_ci().collation(tertiary).build()).await;
    let drift = Drift::<Scoped>::check(&users).await.unwrap();
    assert_eq!(drift.missing(), [Scoped::Nick, Scoped::Email]);
    db.drop().await.unwrap();
}
