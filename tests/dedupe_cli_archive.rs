//! The `dupkey` binary (feature `cli`) archives every document it deletes or changes, under a
//! run id it prints, and `--restore` undoes the run; a delete skips the archive only with
//! `--no-archive`. Run as a user runs it, against a real mongod.

mod support;

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::Collection;
use support::cli::{base, ids, run};

/// The run id in a report's archive line: `... as run <id> (undo: ...`.
fn run_id(out: &str) -> String {
    let (_, rest) = out.split_once(" as run ").expect("an archive line");
    rest.split_once(" (undo: ")
        .expect("an undo hint")
        .0
        .to_owned()
}

async fn unique_email_index(coll: &Collection<Document>) -> bool {
    coll.list_indexes()
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .into_iter()
        .any(|i| i.keys == doc! { "email": 1 } && i.options.and_then(|o| o.unique) == Some(true))
}

#[tokio::test]
async fn rollout_prepares_resolves_and_converts() {
    let client = support::client().await;
    let db_name = support::unique_db("cli_rollout");
    let coll = client.database(&db_name).collection::<Document>("users");
    let before = vec![
        doc! { "_id": 1, "email": "a@x" },
        doc! { "_id": 2, "email": "a@x" },
        doc! { "_id": 3, "email": "b@x" },
    ];
    coll.insert_many(before.clone()).await.unwrap();
    let uri = support::server().uri.clone();
    let base = base(&uri, &db_name, "email");
    let (status, _, err) = run(&[&base[..], &["--rollout"]].concat());
    assert_eq!(status, 2, "--rollout without --yes is refused: {err}");
    assert_eq!(ids(&coll).await, [1, 2, 3]);

    // Archived by default, under a new run id the report prints.
    let (status, out, err) = run(&[&base[..], &["--rollout", "--yes"]].concat());
    assert_eq!(status, 0, "{out}{err}");
    let id = run_id(&out);
    assert!(id.starts_with("dupkey-"), "{id}");
    assert_eq!(
        out,
        format!(
            "unique index email_1 rolled out (online, started from Missing): 1 duplicate groups resolved, 1 documents removed, 0 changed\n\
             archived 1 in {db_name}.users_dupkey_archive as run {id} (undo: drop the unique index, then --restore {id})\n"
        )
    );
    assert_eq!(ids(&coll).await, [1, 3]);
    assert!(unique_email_index(&coll).await);

    // The unique index refuses the duplicate back; without it, `--restore` brings it back.
    let restore = [&base[..6], &["--restore", &id]].concat();
    let (status, out, _) = run(&restore);
    assert_eq!(status, 3, "{out}");
    assert_eq!(
        out,
        format!(
            "restored 0 documents of run {id} from {db_name}.users_dupkey_archive (0 already as archived)\n\
             1 refused as duplicates on unique index email_1: 2; drop index email_1, then --restore {id}\n"
        )
    );
    coll.drop_index("email_1").await.unwrap();
    let (status, out, err) = run(&restore);
    assert_eq!(status, 0, "{out}{err}");
    assert!(
        out.starts_with(&format!("restored 1 documents of run {id}")),
        "{out}"
    );
    assert_eq!(support::documents(&coll).await, before);
    client.database(&db_name).drop().await.unwrap();
}

#[tokio::test]
async fn rollout_merges_into_the_archive_asked_for_and_restore_undoes_it() {
    let client = support::client().await;
    let db_name = support::unique_db("cli_rollout_merge");
    let coll = client.database(&db_name).collection::<Document>("users");
    let before = vec![
        doc! { "_id": 1, "email": "a@x", "tags": ["red"] },
        doc! { "_id": 2, "email": "a@x", "tags": ["blue"], "phone": "1" },
        doc! { "_id": 3, "email": "b@x" },
    ];
    coll.insert_many(before.clone()).await.unwrap();
    let uri = support::server().uri.clone();
    let base = base(&uri, &db_name, "email");
    let args = [
        "--rollout",
        "--fix",
        "merge",
        "--merge",
        "union",
        "--archive",
        "kept",
        "--run",
        "m1",
        "--yes",
    ];
    let (status, out, err) = run(&[&base[..], &args].concat());
    assert_eq!(status, 0, "{out}{err}");
    assert_eq!(
        out,
        format!(
            "unique index email_1 rolled out (online, started from Missing): 1 duplicate groups resolved, 1 documents removed, 1 changed\n\
             archived 2 in {db_name}.kept as run m1 (undo: drop the unique index, then --restore m1 --archive kept)\n"
        )
    );
    assert!(
        err.ends_with(
            "Convert: 1 groups, 1 removed, 1 changed\nDone: 1 groups, 1 removed, 1 changed\n"
        ),
        "{err}"
    );
    assert_eq!(
        support::documents(&coll).await,
        [
            doc! { "_id": 1, "email": "a@x", "tags": ["red", "blue"], "phone": "1" },
            doc! { "_id": 3, "email": "b@x" },
        ]
    );
    coll.drop_index("email_1").await.unwrap();
    let restore = [&base[..6], &["--restore", "m1", "--archive", "kept"]].concat();
    let (status, out, err) = run(&restore);
    assert_eq!(status, 0, "{out}{err}");
    assert_eq!(support::documents(&coll).await, before);
    client.database(&db_name).drop().await.unwrap();
}

#[tokio::test]
async fn deleting_without_an_archive_takes_an_explicit_flag() {
    let client = support::client().await;
    let db_name = support::unique_db("cli_no_archive");
    let db = client.database(&db_name);
    let coll = db.collection::<Document>("users");
    coll.insert_many(vec![
        doc! { "_id": 1, "email": "a@x" },
        doc! { "_id": 2, "email": "a@x" },
        doc! { "_id": 3, "email": "b@x" },
    ])
    .await
    .unwrap();
    let uri = support::server().uri.clone();
    let base = base(&uri, &db_name, "email");

    // A merge always archives: --no-archive is refused before anything is written.
    let merge = [
        &base[..],
        &["--rollout", "--fix", "merge", "--no-archive", "--yes"],
    ]
    .concat();
    let (status, out, err) = run(&merge);
    assert_eq!((status, out.as_str()), (2, ""));
    assert_eq!(err, "--no-archive is not used with --rollout --fix merge\n");
    assert_eq!(ids(&coll).await, [1, 2, 3]);

    let (status, out, err) = run(&[&base[..], &["--rollout", "--no-archive", "--yes"]].concat());
    assert_eq!(status, 0, "{out}{err}");
    assert_eq!(
        out,
        "unique index email_1 rolled out (online, started from Missing): 1 duplicate groups resolved, 1 documents removed, 0 changed\n\
         not archived (--no-archive): no undo\n"
    );
    assert_eq!(ids(&coll).await, [1, 3]);

    // The same for a fix.
    let people = db.collection::<Document>("people");
    people
        .insert_many(vec![doc! { "_id": 1, "k": 1 }, doc! { "_id": 2, "k": 1 }])
        .await
        .unwrap();
    let fix = [
        "--uri",
        &uri,
        "--db",
        &db_name,
        "--coll",
        "people",
        "--keys",
        "k",
        "--fix",
        "delete",
        "--no-archive",
        "--yes",
    ];
    let (status, out, err) = run(&fix);
    assert_eq!(status, 0, "{out}{err}");
    assert!(
        out.contains(
            "deleted 1 and changed 0 documents in 1 groups; not archived (--no-archive): no undo\n"
        ),
        "{out}"
    );
    assert_eq!(ids(&people).await, [1]);
    let mut names = db.list_collection_names().await.unwrap();
    names.sort();
    assert_eq!(names, ["people", "users"], "no archive is written");
    client.database(&db_name).drop().await.unwrap();
}

#[tokio::test]
async fn restore_leaves_newer_writes_as_they_are_unless_told_to_overwrite() {
    let client = support::client().await;
    let db_name = support::unique_db("cli_restore_conflicts");
    let coll = client.database(&db_name).collection::<Document>("users");
    // Five pairs: the first of each survives and gets the other's tag.
    let before: Vec<Document> = (1..=10)
        .map(|id| doc! { "_id": id, "email": format!("{}@x", (id + 1) / 2), "tags": [id] })
        .collect();
    coll.insert_many(before.clone()).await.unwrap();
    let uri = support::server().uri.clone();
    let base = base(&uri, &db_name, "email");
    let fix = ["--fix", "merge", "--merge", "union", "--run", "m2", "--yes"];
    let (status, out, err) = run(&[&base[..], &fix].concat());
    assert_eq!(status, 0, "{out}{err}");
    assert_eq!(ids(&coll).await, [1, 3, 5, 7, 9]);

    // The application writes to every survivor after the run.
    coll.update_many(doc! {}, doc! { "$set": { "seen": true } })
        .await
        .unwrap();
    let after: Vec<Document> = support::documents(&coll).await;

    // The unique index refuses the merged-away documents; the survivors are conflicts.
    let restore = [&base[..6], &["--restore", "m2"]].concat();
    let (status, out, err) = run(&restore);
    assert_eq!((status, err.as_str()), (3, ""), "{out}");
    let ns = format!("{db_name}.users_dupkey_archive");
    assert_eq!(
        out,
        format!(
            "restored 0 documents of run m2 from {ns} (0 already as archived)\n\
             5 documents changed since the run, left as they are: 1, 3, 5 (+2 more)\n\
             to put the archived versions back over those newer writes: --restore m2 --overwrite\n\
             5 refused as duplicates on unique index email_1: 2, 4, 6 (+2 more); drop index email_1, then --restore m2\n"
        )
    );
    assert_eq!(support::documents(&coll).await, after, "nothing written");

    // Without the index, the others come back; the application's writes still win.
    coll.drop_index("email_1").await.unwrap();
    let (status, out, err) = run(&restore);
    assert_eq!((status, err.as_str()), (3, ""), "{out}");
    assert_eq!(
        out,
        format!(
            "restored 5 documents of run m2 from {ns} (0 already as archived)\n\
             5 documents changed since the run, left as they are: 1, 3, 5 (+2 more)\n\
             to put the archived versions back over those newer writes: --restore m2 --overwrite\n"
        )
    );
    let mut expected = after.clone();
    expected.extend(
        before
            .iter()
            .filter(|d| d.get_i32("_id").unwrap() % 2 == 0)
            .cloned(),
    );
    expected.sort_by_key(|d| d.get_i32("_id").unwrap());
    assert_eq!(support::documents(&coll).await, expected);

    // --overwrite puts the archived versions back over them.
    let (status, out, err) = run(&[&restore[..], &["--overwrite"]].concat());
    assert_eq!((status, err.as_str()), (0, ""), "{out}");
    assert_eq!(
        out,
        format!("restored 5 documents of run m2 from {ns} (5 already as archived)\n")
    );
    assert_eq!(support::documents(&coll).await, before);
    client.database(&db_name).drop().await.unwrap();
}

#[tokio::test]
async fn restoring_a_run_the_archive_does_not_hold_is_an_error() {
    let client = support::client().await;
    let db_name = support::unique_db("cli_restore_unknown");
    let coll = client.database(&db_name).collection::<Document>("users");
    coll.insert_many(vec![
        doc! { "_id": 1, "email": "a@x" },
        doc! { "_id": 2, "email": "a@x" },
    ])
    .await
    .unwrap();
    let uri = support::server().uri.clone();
    let base = base(&uri, &db_name, "email");
    let fix = [
        "--fix",
        "delete",
        "--archive",
        "kept",
        "--run",
        "d1",
        "--yes",
    ];
    let (status, out, err) = run(&[&base[..], &fix].concat());
    assert_eq!(status, 0, "{out}{err}");
    coll.drop_index("email_1").await.unwrap();

    // A typo in the run id, and the right id in the wrong archive.
    for (run_id, archive) in [("d2", "kept"), ("d1", "users_dupkey_archive")] {
        let restore = [&base[..6], &["--restore", run_id, "--archive", archive]].concat();
        let (status, out, err) = run(&restore);
        assert_eq!((status, out.as_str()), (1, ""), "{err}");
        assert_eq!(
            err,
            format!(
                "error: {db_name}.{archive} holds no run {run_id:?}: check the run id, and --archive if the run archived elsewhere\n"
            )
        );
    }
    assert_eq!(ids(&coll).await, [1], "nothing written");
    client.database(&db_name).drop().await.unwrap();
}

#[tokio::test]
async fn restore_sums_up_refusals_other_than_duplicates_by_code() {
    let client = support::client().await;
    let db_name = support::unique_db("cli_restore_refused");
    let db = client.database(&db_name);
    let coll = db.collection::<Document>("users");
    let before: Vec<Document> = (1..=6)
        .map(|id| doc! { "_id": id, "email": "a@x", "ok": id % 2 == 0 })
        .collect();
    coll.insert_many(before.clone()).await.unwrap();
    let uri = support::server().uri.clone();
    let base = base(&uri, &db_name, "email");
    let fix = ["--fix", "delete", "--run", "d1", "--yes"];
    let (status, out, err) = run(&[&base[..], &fix].concat());
    assert_eq!(status, 0, "{out}{err}");
    coll.drop_index("email_1").await.unwrap();
    // A validator added since the run refuses the odd ones.
    db.run_command(doc! { "collMod": "users", "validator": { "ok": true } })
        .await
        .unwrap();

    let restore = [&base[..6], &["--restore", "d1"]].concat();
    let (status, out, err) = run(&restore);
    assert_eq!((status, err.as_str()), (3, ""), "{out}");
    assert_eq!(
        out,
        format!(
            "restored 3 documents of run d1 from {db_name}.users_dupkey_archive (0 already as archived)\n\
             2 refused with code 121: 3, 5\n"
        )
    );
    assert_eq!(ids(&coll).await, [1, 2, 4, 6]);
    client.database(&db_name).drop().await.unwrap();
}
