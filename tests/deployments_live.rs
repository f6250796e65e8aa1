//! Index knowledge per deployment: two mongod servers in one test process, and indexes
//! dropped or recreated under a warm cache.

mod support;

use std::time::Duration;

use dupkey::prelude::*;
use dupkey::{IndexCache, Refusal};
use mongodb::bson::{doc, Document};
use mongodb::options::IndexOptions;
use mongodb::{Client, IndexModel};
use support::{recording_client, take, unique_index, IntoDuplicate};

async fn plain_index(coll: &mongodb::Collection<Document>, keys: Document) {
    let model = IndexModel::builder()
        .keys(keys)
        .options(IndexOptions::builder().build())
        .build();
    coll.create_index(model).await.unwrap();
}

#[tokio::test]
async fn a_namespace_on_two_deployments_is_two_caches() {
    let name = support::unique_db("two_deployments");
    let unique_side = Client::with_uri_str(&support::server().uri).await.unwrap();
    let plain_side = Client::with_uri_str(&support::second_server().uri)
        .await
        .unwrap();
    let on_unique = unique_side.database(&name).collection::<Document>("users");
    let on_plain = plain_side.database(&name).collection::<Document>("users");
    unique_index(&on_unique, doc! { "email": 1 }).await;
    plain_index(&on_plain, doc! { "email": 1 }).await;

    let (unique_cache, plain_cache) = (IndexCache::new(), IndexCache::new());
    let filter = doc! { "email": "ann@example.com" };
    let update = doc! { "$inc": { "logins": 1 } };
    on_unique
        .upsert_by_unique(filter.clone(), update.clone())
        .index_cache(&unique_cache)
        .await
        .unwrap();
    // The same namespace elsewhere: its own list says `email` is not unique.
    let err = on_plain
        .upsert_by_unique(filter, update)
        .index_cache(&plain_cache)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, dupkey::Error::Refused(Refusal::NotUnique { .. })),
        "{err:?}"
    );
    assert_eq!(on_plain.count_documents(doc! {}).await.unwrap(), 0);
    unique_side.database(&name).drop().await.unwrap();
    plain_side.database(&name).drop().await.unwrap();
}

#[tokio::test]
async fn a_unique_index_recreated_with_another_key_is_noticed() {
    let name = support::unique_db("recreated");
    let (client, log) = recording_client(&name).await;
    let users = client.database(&name).collection::<Document>("users");
    let cache = IndexCache::new();
    let model = |keys| {
        IndexModel::builder()
            .keys(keys)
            .options(
                IndexOptions::builder()
                    .unique(true)
                    .name("login".to_owned())
                    .build(),
            )
            .build()
    };
    users
        .create_index(model(doc! { "email": 1 }))
        .await
        .unwrap();
    users
        .insert_one(doc! { "email": "a@b.c", "phone": "1" })
        .await
        .unwrap();
    let dup = users
        .insert_or_conflict(doc! { "email": "a@b.c", "phone": "2" })
        .index_cache(&cache)
        .await
        .unwrap_err()
        .into_duplicate();
    assert_eq!(dup.key_pattern(), Some(&doc! { "email": 1 }));

    // Same name, another key: the cached entry disagrees with the message's fields.
    users.drop_index("login").await.unwrap();
    users
        .create_index(model(doc! { "phone": 1 }))
        .await
        .unwrap();
    take(&log);
    let dup = users
        .insert_or_conflict(doc! { "email": "z@b.c", "phone": "1" })
        .index_cache(&cache)
        .await
        .unwrap_err()
        .into_duplicate();
    assert_eq!(take(&log), ["insert", "listIndexes"]);
    assert_eq!(dup.key_pattern(), Some(&doc! { "phone": 1 }));
    assert_eq!(dup.key_value(), Some(&doc! { "phone": "1" }));
    client.database(&name).drop().await.unwrap();
}

#[tokio::test]
async fn an_acceptance_relies_on_a_list_no_older_than_the_max_age() {
    let name = support::unique_db("max_age");
    let (client, log) = recording_client(&name).await;
    let users = client.database(&name).collection::<Document>("users");
    unique_index(&users, doc! { "email": 1 }).await;
    let cache = IndexCache::with_max_age(Duration::from_millis(200));
    let upsert = || {
        users
            .upsert_by_unique(doc! { "email": "a@b.c" }, doc! { "$inc": { "n": 1 } })
            .index_cache(&cache)
    };
    take(&log);
    upsert().await.unwrap();
    upsert().await.unwrap();
    assert_eq!(
        take(&log),
        ["listIndexes", "findAndModify", "findAndModify"]
    );

    // The unique index goes, a plain one takes its place: once the list is older than the
    // maximum age, the filter is checked again and refused.
    users.drop_index("email_1").await.unwrap();
    plain_index(&users, doc! { "email": 1 }).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    take(&log);
    let err = upsert().await.unwrap_err();
    assert!(matches!(
        err,
        dupkey::Error::Refused(Refusal::NotUnique { .. })
    ));
    assert_eq!(take(&log), ["listIndexes"]);

    // Forgetting reads the list again at once.
    unique_index(&users, doc! { "phone": 1 }).await;
    cache.forget(&users.namespace());
    take(&log);
    users
        .upsert_by_unique(doc! { "phone": "1" }, doc! { "$inc": { "n": 1 } })
        .index_cache(&cache)
        .await
        .unwrap();
    assert_eq!(take(&log), ["listIndexes", "findAndModify"]);
    client.database(&name).drop().await.unwrap();
}
