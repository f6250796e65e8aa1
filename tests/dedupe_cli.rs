//! examples/dedupe.rs: its `run` called with arguments and output buffers, against a real
//! mongod. (Cargo gives tests no path to an example's binary, so the logic lives in a
//! function this test includes.)

mod support;

#[path = "../examples/dedupe.rs"]
mod cli;

use mongodb::bson::{doc, Document};
use mongodb::Collection;

async fn run(args: &[&str]) -> (u8, String, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = cli::run(&args, &mut out, &mut err).await;
    (
        status,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

async fn ids(coll: &Collection<Document>) -> Vec<i32> {
    let docs = support::documents(coll).await;
    docs.iter().map(|d| d.get_i32("_id").unwrap()).collect()
}

#[tokio::test]
async fn find_plan_fix_build_verify() {
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
    let base = [
        "--uri",
        &uri,
        "--db",
        &db_name,
        "--coll",
        "users",
        "--keys",
        "email,tenant",
    ];

    let (status, out, err) = run(&base).await;
    assert_eq!(status, 3, "{err}");
    let ns = format!("{db_name}.users");
    let expected = [
        format!("2 duplicate groups in {ns} on email, tenant: 5 documents, 3 to remove"),
        format!(" COUNT  {:<40}  IDS", "KEY"),
        format!(
            "     3  {:<40}  1, 2, 3",
            r#"{ "email": "a@x", "tenant": 1 }"#
        ),
        format!("     2  {:<40}  5, 6", r#"{ "email": "b@x", "tenant": 2 }"#),
    ];
    assert_eq!(out, expected.join("\n") + "\n");
    assert_eq!(err, "\rscanning: 2 groups, 5 documents\n");

    let mut dry = base.to_vec();
    dry.extend(["--fix", "keep-newest"]);
    let (status, out, _) = run(&dry).await;
    assert_eq!(status, 3);
    let expected = [
        "dry run: would delete 3 documents in 2 groups".to_owned(),
        format!("{:<40}  {:<10}  DELETE", "KEY", "KEEP"),
        format!(
            "{:<40}  3           1, 2",
            r#"{ "email": "a@x", "tenant": 1 }"#
        ),
        format!(
            "{:<40}  6           5",
            r#"{ "email": "b@x", "tenant": 2 }"#
        ),
        "pass --yes to delete them, build the index and verify".to_owned(),
    ];
    assert!(out.ends_with(&(expected.join("\n") + "\n")), "{out}");
    assert_eq!(ids(&coll).await, [1, 2, 3, 4, 5, 6, 7]);

    let mut fix = base.to_vec();
    fix.extend(["--fix=keep-oldest", "--yes"]);
    let (status, out, err) = run(&fix).await;
    assert_eq!(status, 0, "{err}");
    assert!(
        out.ends_with(
            "deleted 3 documents in 2 groups\n\
             built unique index email_1_tenant_1\n\
             verified: no duplicates, unique index email_1_tenant_1 present\n"
        ),
        "{out}"
    );
    assert!(
        err.ends_with("[####################] 100% 2/2 groups, 3 removed\n"),
        "{err:?}"
    );
    assert_eq!(ids(&coll).await, [1, 4, 5, 7]);

    let (status, out, _) = run(&base).await;
    assert_eq!(
        (status, out),
        (0, format!("no duplicates in {ns} on email, tenant\n"))
    );
    client.database(&db_name).drop().await.unwrap();
}

#[tokio::test]
async fn usage_and_input_errors() {
    let (status, _, err) = run(&["--db", "x", "--coll", "y"]).await;
    assert_eq!(status, 2);
    assert!(
        err.starts_with("--keys is required\nusage: dedupe "),
        "{err}"
    );
    let (status, _, err) = run(&[
        "--db", "x", "--coll", "y", "--keys", "a", "--fix", "keep-all",
    ])
    .await;
    assert_eq!(status, 2);
    assert!(
        err.starts_with("--fix: unknown strategy \"keep-all\"\n"),
        "{err}"
    );

    let uri = support::server().uri.clone();
    let (status, out, err) = run(&[
        "--uri", &uri, "--db", "x", "--coll", "y", "--keys", "a,$where",
    ])
    .await;
    assert_eq!((status, out.as_str()), (1, ""));
    assert_eq!(
        err,
        "error: invalid key field \"$where\": a path segment starts with '$'\n"
    );
    let db = support::unique_db("dedupe_cli_missing");
    let (status, _, err) =
        run(&["--uri", &uri, "--db", &db, "--coll", "nope", "--keys", "a"]).await;
    assert_eq!(status, 1);
    assert_eq!(
        err,
        format!("error: collection \"{db}.nope\" does not exist\n")
    );
}
