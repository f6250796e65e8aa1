//! Running the `dupkey` binary (feature `cli`) as a user runs it.

use std::process::Command;

use mongodb::bson::Document;
use mongodb::Collection;

/// Runs the binary; stderr is a pipe, so progress comes as plain lines.
pub fn run(args: &[&str]) -> (u8, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_dupkey"))
        .args(args)
        .env_remove("MONGODB_URI")
        .output()
        .expect("run dupkey");
    (
        output.status.code().expect("an exit code") as u8,
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// The integer `_id`s of `coll`, in order.
pub async fn ids(coll: &Collection<Document>) -> Vec<i64> {
    super::int_ids(coll).await.into_iter().collect()
}

/// `--uri <uri> --db <db> --coll users --keys <keys>`.
pub fn base<'a>(uri: &'a str, db: &'a str, keys: &'a str) -> Vec<&'a str> {
    vec!["--uri", uri, "--db", db, "--coll", "users", "--keys", keys]
}
