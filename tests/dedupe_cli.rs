//! The `dupkey` binary (feature `cli`), run as a user runs it, against a real mongod: find,
//! plan, fix, build, verify, restore, check an import; usage errors and refused options.

mod support;

use mongodb::bson::{doc, Document};
use mongodb::IndexModel;
use support::cli::{base, ids, run};

#[tokio::test]
async fn find_plan_fix_build_verify_restore() {
    let client = support::client().await;
    let db_name = support::unique_db("dedupe_cli");
    let coll = client.database(&db_name).collection::<Document>("users");
    coll.insert_many(vec![
        doc! { "_id": 1, "email": "a@x", "tenant": 1 },
        doc! { "_id": 2, "email": "a@x", "tenant": 1 },
        doc! { "_id": 3, "email": "a@x", "tenant": 1 },
        doc! { "_id": 4, "email": "a@x", "tenant": 2 },
        doc! { "_id": 5, "email": "b@x", "tenant": 2 },
        doc! { "_id": 6, "email": "b@x", "tenant": 2 },
        doc! { "_id": 7, "email": "c@x", "tenant": 2 },
    ])
    .await
    .unwrap();
    let uri = support::server().uri.clone();
    let base = base(&uri, &db_name, "email,tenant");

    let (status, out, err) = run(&base);
    assert_eq!(status, 3, "{err}");
    let ns = format!("{db_name}.users");
    let expected = [
        format!("2 duplicate groups in {ns} on email, tenant: 5 documents, 3 to resolve"),
        format!(" COUNT  {:<40}  IDS", "KEY"),
        format!(
            "     3  {:<40}  1, 2, 3",
            r#"{ "email": "a@x", "tenant": 1 }"#
        ),
        format!("     2  {:<40}  5, 6", r#"{ "email": "b@x", "tenant": 2 }"#),
    ];
    assert_eq!(out, expected.join("\n") + "\n");
    assert_eq!(err, "scanned: 2 groups, 5 documents\n");

    let mut dry = base.clone();
    dry.extend(["--fix", "delete", "--keep", "newest"]);
    let (status, out, _) = run(&dry);
    assert_eq!(status, 3);
    let expected = [
        "dry run: would delete 3 and change 0 documents in 2 groups".to_owned(),
        format!("{:<40}  {:<10}  {:<20}  CHANGE", "KEY", "KEEP", "DELETE"),
        format!(
            "{:<40}  3           1, 2",
            r#"{ "email": "a@x", "tenant": 1 }"#
        ),
        format!(
            "{:<40}  6           5",
            r#"{ "email": "b@x", "tenant": 2 }"#
        ),
        "pass --yes to resolve them, build the index and verify".to_owned(),
    ];
    assert!(out.ends_with(&(expected.join("\n") + "\n")), "{out}");
    assert_eq!(ids(&coll).await, [1, 2, 3, 4, 5, 6, 7]);

    let mut fix = base.clone();
    fix.extend(["--fix=delete", "--run", "r1", "--yes"]);
    let (status, out, err) = run(&fix);
    assert_eq!(status, 0, "{err}");
    assert!(
        out.ends_with(&format!(
            "deleted 3 and changed 0 documents in 2 groups; archived 3 in {db_name}.users_dupkey_archive as run r1 (undo: --restore r1)\n\
             built unique index email_1_tenant_1\n\
             verified: no duplicates, unique index email_1_tenant_1 present\n"
        )),
        "{out}"
    );
    assert!(
        err.ends_with("fixed: 2/2 groups, 5 documents, 3 deleted, 0 changed\n"),
        "{err:?}"
    );
    assert_eq!(ids(&coll).await, [1, 4, 5, 7]);
    let (status, out, _) = run(&base);
    assert_eq!(
        (status, out),
        (0, format!("no duplicates in {ns} on email, tenant\n"))
    );

    // The unique index refuses the deleted duplicates back, each reported.
    let mut back = base[..6].to_vec();
    back.extend(["--restore", "r1"]);
    let (status, out, _) = run(&back);
    assert_eq!(status, 3);
    assert_eq!(
        out,
        format!(
            "restored 0 documents of run r1 from {db_name}.users_dupkey_archive (0 already as archived)\n\
             3 refused as duplicates on unique index email_1_tenant_1: 2, 3, 6; drop index email_1_tenant_1, then --restore r1\n"
        )
    );
    coll.drop_index("email_1_tenant_1").await.unwrap();
    let (status, out, _) = run(&back);
    assert_eq!(status, 0);
    assert!(out.starts_with("restored 3 documents of run r1"), "{out}");
    assert_eq!(ids(&coll).await, [1, 2, 3, 4, 5, 6, 7]);
    client.database(&db_name).drop().await.unwrap();
}

#[tokio::test]
async fn the_table_shows_the_largest_groups() {
    let client = support::client().await;
    let db_name = support::unique_db("dedupe_cli_top");
    let coll = client.database(&db_name).collection::<Document>("users");
    // 30 pairs, then one group of 5 and one of 4 whose keys sort last.
    let mut docs = Vec::new();
    for i in 0..60 {
        docs.push(doc! { "_id": i, "k": format!("a{:02}", i / 2) });
    }
    for i in 60..65 {
        docs.push(doc! { "_id": i, "k": "z5" });
    }
    for i in 65..69 {
        docs.push(doc! { "_id": i, "k": "y4" });
    }
    coll.insert_many(docs).await.unwrap();
    let uri = support::server().uri.clone();
    let mut args = base(&uri, &db_name, "k");
    args.extend(["--show", "3"]);
    let (status, out, _) = run(&args);
    assert_eq!(status, 3);
    let counts: Vec<&str> = out
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(counts, ["5", "4", "2", "...",], "{out}");
    assert!(
        out.contains(r#"{ "k": "a00" }"#),
        "ties go to the smaller key: {out}"
    );
    client.database(&db_name).drop().await.unwrap();
}

#[tokio::test]
async fn a_case_insensitive_index_is_found_merged_and_built_as_asked() {
    let client = support::client().await;
    let db_name = support::unique_db("dedupe_cli_collation");
    let coll = client.database(&db_name).collection::<Document>("users");
    coll.insert_many(vec![
        doc! { "_id": 1, "email": "Ann@X", "tags": ["a"] },
        doc! { "_id": 2, "email": "ann@x", "tags": ["b"], "phone": "1" },
        doc! { "_id": 3, "email": "bob@x" },
    ])
    .await
    .unwrap();
    let uri = support::server().uri.clone();
    let mut args = base(&uri, &db_name, "email");
    args.extend([
        "--collation",
        r#"{"locale": "en", "strength": 2}"#,
        "--name",
        "email_ci",
        "--fix",
        "merge",
        "--merge",
        "union",
        "--yes",
    ]);
    let (status, out, err) = run(&args);
    assert_eq!(status, 0, "{out}{err}");
    assert!(out.contains("built unique index email_ci\n"), "{out}");
    assert_eq!(
        support::documents(&coll).await,
        [
            doc! { "_id": 1, "email": "Ann@X", "tags": ["a", "b"], "phone": "1" },
            doc! { "_id": 3, "email": "bob@x" },
        ]
    );
    client.database(&db_name).drop().await.unwrap();
}

#[tokio::test]
async fn an_index_in_the_way_is_refused_before_any_write() {
    let client = support::client().await;
    let db_name = support::unique_db("dedupe_cli_conflict");
    let coll = client.database(&db_name).collection::<Document>("users");
    coll.insert_many(vec![
        doc! { "_id": 1, "email": "a@x" },
        doc! { "_id": 2, "email": "a@x" },
    ])
    .await
    .unwrap();
    coll.create_index(IndexModel::builder().keys(doc! { "email": 1 }).build())
        .await
        .unwrap();
    let uri = support::server().uri.clone();
    let mut args = base(&uri, &db_name, "email");
    args.extend(["--fix", "delete", "--yes"]);
    let (status, out, err) = run(&args);
    assert_eq!((status, out.as_str()), (1, ""));
    assert!(
        err.starts_with("error: index \"email_1\" already exists with the same name"),
        "{err}"
    );
    assert_eq!(ids(&coll).await, [1, 2]);
    client.database(&db_name).drop().await.unwrap();
}

#[tokio::test]
async fn groups_without_the_key_are_left_alone_unless_asked_for() {
    let client = support::client().await;
    let db_name = support::unique_db("dedupe_cli_null");
    let coll = client.database(&db_name).collection::<Document>("users");
    coll.insert_many(vec![
        doc! { "_id": 1, "email": "a@x" },
        doc! { "_id": 2, "email": "a@x" },
        doc! { "_id": 3 },
        doc! { "_id": 4 },
    ])
    .await
    .unwrap();
    let uri = support::server().uri.clone();
    let mut args = base(&uri, &db_name, "email");
    args.extend(["--fix", "delete", "--run", "n1", "--yes"]);
    let (status, out, err) = run(&args);
    assert_eq!(status, 3, "{err}");
    let tail: Vec<&str> = out.lines().rev().take(2).collect();
    assert_eq!(
        tail,
        [
            "not building the index while groups are left",
            "left alone: 1 groups without the key (a sparse or partial index leaves them out; --null-keys resolves them)",
        ]
    );
    assert_eq!(ids(&coll).await, [1, 3, 4]);

    args.extend(["--null-keys"]);
    args.iter_mut().for_each(|a| {
        if *a == "n1" {
            *a = "n2";
        }
    });
    let (status, out, err) = run(&args);
    assert_eq!(status, 0, "{out}{err}");
    assert!(out.contains("built unique index email_1"), "{out}");
    assert_eq!(ids(&coll).await, [1, 3]);
    client.database(&db_name).drop().await.unwrap();
}

#[tokio::test]
async fn usage_and_input_errors() {
    let (status, _, err) = run(&["--db", "x", "--coll", "y"]);
    assert_eq!(status, 2);
    assert!(
        err.starts_with("--keys is required\nusage: dupkey "),
        "{err}"
    );
    let (status, _, err) = run(&[
        "--db", "x", "--coll", "y", "--keys", "a", "--fix", "keep-all",
    ]);
    assert_eq!(status, 2);
    assert!(
        err.starts_with("--fix: unknown strategy \"keep-all\"\n"),
        "{err}"
    );
    let (status, _, err) = run(&[
        "--db",
        "x",
        "--coll",
        "y",
        "--keys",
        "a",
        "--collation",
        "{",
    ]);
    assert_eq!(status, 2);
    assert!(err.starts_with("--collation: "), "{err}");

    let uri = support::server().uri.clone();
    let (status, out, err) = run(&[
        "--uri", &uri, "--db", "x", "--coll", "y", "--keys", "a,$where",
    ]);
    assert_eq!((status, out.as_str()), (1, ""));
    assert_eq!(
        err,
        "error: invalid key field \"$where\": a path segment starts with '$'\n"
    );
    let db = support::unique_db("dedupe_cli_missing");
    let (status, _, err) = run(&["--uri", &uri, "--db", &db, "--coll", "nope", "--keys", "a"]);
    assert_eq!(status, 1);
    assert_eq!(
        err,
        format!("error: collection \"{db}.nope\" does not exist\n")
    );
}

#[tokio::test]
async fn check_import_names_the_rows_an_import_would_lose() {
    let client = support::client().await;
    let db_name = support::unique_db("cli_check_import");
    let coll = client.database(&db_name).collection::<Document>("users");
    coll.create_index(
        IndexModel::builder()
            .keys(doc! { "email": 1 })
            .options(
                mongodb::options::IndexOptions::builder()
                    .unique(true)
                    .build(),
            )
            .build(),
    )
    .await
    .unwrap();
    coll.insert_one(doc! { "_id": 1, "email": "taken@x" })
        .await
        .unwrap();
    let rows = std::env::temp_dir().join(format!("{db_name}.jsonl"));
    std::fs::write(
        &rows,
        "{\"email\": \"new@x\"}\n{\"email\": \"taken@x\"}\n{\"email\": \"new@x\"}\n",
    )
    .unwrap();
    let uri = support::server().uri.clone();
    let file = rows.to_str().unwrap();
    let args = ["--uri", &uri, "--db", &db_name, "--coll", "users"];
    let (status, out, err) = run(&[&args[..], &["--check-import", file]].concat());
    assert_eq!(status, 1, "{out}{err}");
    assert!(
        out.contains("row 1: refused by index email_1 (collides with stored document 1)"),
        "{out}"
    );
    assert!(
        out.contains("row 2: refused by index email_1 (collides with row 0)"),
        "{out}"
    );
    assert!(
        out.ends_with("3 rows checked against 2 unique indexes: 2 would be refused (1 with other rows, 1 with stored documents)\n"),
        "{out}"
    );
    assert!(!out.contains("taken@x") && !out.contains("new@x"), "{out}");
    assert_eq!(ids(&coll).await, [1], "nothing is written");
    std::fs::remove_file(rows).unwrap();
    client.database(&db_name).drop().await.unwrap();
}

#[test]
fn options_a_mode_does_not_use_are_refused() {
    let common = ["--db", "x", "--coll", "y"];
    let cases: [(&[&str], &str); 17] = [
        (
            &["--keys", "a", "--rollout", "--show", "3", "--yes"],
            "--show is not used with --rollout --fix delete",
        ),
        (
            &["--keys", "a", "--rollout", "--merge", "union", "--yes"],
            "--merge is not used with --rollout --fix delete",
        ),
        (
            &[
                "--keys",
                "a",
                "--rollout",
                "--fix",
                "rekey",
                "--merge",
                "fill",
            ],
            "--merge is not used with --rollout --fix rekey",
        ),
        (
            &["--keys", "a", "--fix", "merge", "--rekey", "unset"],
            "--rekey is not used with --fix merge",
        ),
        (
            &["--keys", "a", "--fix", "rekey", "--no-archive"],
            "--no-archive is not used with --fix rekey",
        ),
        (
            &[
                "--keys",
                "a",
                "--fix",
                "delete",
                "--no-archive",
                "--archive",
                "z",
            ],
            "--no-archive conflicts with --archive",
        ),
        (
            &[
                "--keys",
                "a",
                "--rollout",
                "--run",
                "r",
                "--no-archive",
                "--yes",
            ],
            "--no-archive conflicts with --run",
        ),
        (
            &["--keys", "a", "--fix", "delete", "--offline"],
            "--offline is not used with --fix delete",
        ),
        (
            &["--keys", "a", "--yes"],
            "--yes is not used with a search (no --fix or --rollout)",
        ),
        (
            &["--keys", "a", "--archive", "z"],
            "--archive is not used with a search (no --fix or --rollout)",
        ),
        (
            &["--restore", "r", "--keys", "a"],
            "--keys is not used with --restore",
        ),
        (
            &["--restore", "r", "--rollout"],
            "--rollout is not used with --restore",
        ),
        (
            &["--check-import", "rows.jsonl", "--archive", "z"],
            "--archive is not used with --check-import",
        ),
        (
            &["--keys", "a", "--overwrite"],
            "--overwrite is not used with a search (no --fix or --rollout)",
        ),
        (
            &["--keys", "a", "--fix", "delete", "--overwrite", "--yes"],
            "--overwrite is not used with --fix delete",
        ),
        (
            &["--keys", "a", "--rollout", "--overwrite", "--yes"],
            "--overwrite is not used with --rollout --fix delete",
        ),
        (
            &["--check-import", "rows.jsonl", "--overwrite"],
            "--overwrite is not used with --check-import",
        ),
    ];
    for (args, message) in cases {
        let (status, out, err) = run(&[&common[..], args].concat());
        assert_eq!((status, out.as_str()), (2, ""), "{args:?}");
        assert_eq!(err, format!("{message}\n"), "{args:?}");
    }
}
