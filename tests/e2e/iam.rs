//! Users, groups and identity policies through the real binary (issue 19): built-in and stored
//! policies attached to users and groups with `s3gate user|group|policy ...`, several access
//! keys per user with disable/enable/delete, and the gateway deciding every request with them
//! (within the signer cache's 5 seconds of a change, on SQLite and on a shared PostgreSQL).

use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::Client;

use crate::harness::{
    Flavour, Gateway, create_bucket, expect_err, get, put, run_cli, run_cli_status,
};
use crate::scaleout::TestDb;

/// How long a change takes to reach a running gateway: the signer cache's TTL, and a margin.
const PROPAGATION: Duration = Duration::from_millis(5_500);

/// (access key, secret) from the output of `user add` or `user key create`.
fn keys_of(out: &str) -> (String, String) {
    let field = |prefix: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in:\n{out}"))
            .trim()
            .to_owned()
    };
    (field("access_key_id:"), field("secret_access_key:"))
}

/// `s3gate ARGS` on the gateway's store (`extra`: `--metadata URL`, or nothing for SQLite).
fn cli(dir: &Path, extra: &[&str], args: &[&str]) -> String {
    let all: Vec<&str> = args.iter().chain(extra).copied().collect();
    run_cli(&all, dir)
}

fn add_user(gw: &Gateway, name: &str, flags: &[&str]) -> Client {
    let args: Vec<&str> = ["user", "add", name].into_iter().chain(flags.iter().copied()).collect();
    let (ak, sk) = keys_of(&run_cli(&args, &gw.dir));
    gw.client_as(&ak, &sk, Flavour::Default)
}

fn write_policy(dir: &Path, name: &str, document: &str) -> String {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, document).unwrap();
    path.to_str().unwrap().to_owned()
}

async fn bucket_names(c: &Client) -> Vec<String> {
    let out = c.list_buckets().send().await.unwrap();
    out.buckets().iter().filter_map(|b| b.name().map(str::to_owned)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_user_reads_everything_and_writes_nothing() {
    let gw = Gateway::start();
    let root = gw.client(Flavour::Default);
    create_bucket(&root, "ro-data").await;
    put(&root, "ro-data", "a.txt", b"alpha").await;
    let reader = add_user(&gw, "reader", &["--policy", "read-only"]);
    assert_eq!(get(&reader, "ro-data", "a.txt").await, b"alpha");
    let listed = reader.list_objects_v2().bucket("ro-data").send().await.unwrap();
    assert_eq!(listed.contents().len(), 1);
    // ListBuckets shows what its policies let it list (and s3:List* includes ListAllMyBuckets).
    assert_eq!(bucket_names(&reader).await, ["ro-data"]);
    let put_res = reader.put_object().bucket("ro-data").key("b").body(b"x".to_vec().into());
    expect_err(put_res.send().await, 403, "AccessDenied", "read-only PUT");
    let del = reader.delete_object().bucket("ro-data").key("a.txt").send().await;
    expect_err(del, 403, "AccessDenied", "read-only DELETE");
    expect_err(reader.create_bucket().bucket("ro-own").send().await, 403, "AccessDenied", "create");
    assert_eq!(get(&root, "ro-data", "a.txt").await, b"alpha");

    // A user with no policy may do nothing (AWS's implicit deny), not even list buckets; the
    // default `user add` gives self-service: create buckets and use one's own.
    let nobody = add_user(&gw, "nobody", &["--no-policy"]);
    expect_err(nobody.list_buckets().send().await, 403, "AccessDenied", "no policy: list");
    expect_err(
        nobody.create_bucket().bucket("nb-bucket").send().await,
        403,
        "AccessDenied",
        "create",
    );
    expect_err(
        nobody.get_object().bucket("ro-data").key("a.txt").send().await,
        403,
        "AccessDenied",
        "get",
    );
    let selfserve = add_user(&gw, "self", &[]);
    create_bucket(&selfserve, "self-own").await;
    put(&selfserve, "self-own", "k", b"v").await;
    assert_eq!(bucket_names(&selfserve).await, ["self-own"]);
    expect_err(
        selfserve.get_object().bucket("ro-data").key("a.txt").send().await,
        403,
        "AccessDenied",
        "other's",
    );

    // Refused commands change nothing and say why.
    let (ok, text) = run_cli_status(&["user", "attach-policy", "reader", "no-such"], &gw.dir);
    assert!(!ok && text.contains("no policy named no-such"), "{text}");
    let (ok, text) = run_cli_status(&["user", "add", "ghost", "--policy", "no-such"], &gw.dir);
    assert!(!ok && text.contains("no policy named no-such"), "{text}");
    assert!(!run_cli(&["user", "list"], &gw.dir).contains("ghost"));
    let (ok, text) = run_cli_status(&["user", "attach-policy", "root", "read-only"], &gw.dir);
    assert!(!ok && text.contains("root"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_scoped_user_and_identity_deny() {
    let gw = Gateway::start();
    let root = gw.client(Flavour::Default);
    create_bucket(&root, "shared").await;
    for key in ["team/a.txt", "team/sub/b.txt", "other/c.txt"] {
        put(&root, "shared", key, b"data").await;
    }
    let doc = r#"{"Version": "2012-10-17", "Statement": [
      {"Sid": "ListTeam", "Effect": "Allow", "Action": "s3:ListBucket",
       "Resource": "arn:aws:s3:::shared",
       "Condition": {"StringLike": {"s3:prefix": ["team/*"]}}},
      {"Sid": "UseTeam", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
       "Resource": "arn:aws:s3:::shared/team/*"}]}"#;
    let file = write_policy(&gw.dir, "team", doc);
    let out = run_cli(&["policy", "create", "team-prefix", "--document", &file], &gw.dir);
    assert!(out.contains("created policy team-prefix"), "{out}");
    let shown = run_cli(&["policy", "show", "team-prefix"], &gw.dir);
    assert!(shown.contains("\"Sid\":\"ListTeam\""), "stored canonical: {shown}");
    let scoped = add_user(&gw, "scoped", &["--policy", "team-prefix"]);

    let listed = scoped.list_objects_v2().bucket("shared").prefix("team/").send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["team/a.txt", "team/sub/b.txt"]);
    let all = scoped.list_objects_v2().bucket("shared").send().await;
    expect_err(all, 403, "AccessDenied", "list without the prefix");
    let other = scoped.list_objects_v2().bucket("shared").prefix("other/").send().await;
    expect_err(other, 403, "AccessDenied", "list another prefix");
    assert_eq!(get(&scoped, "shared", "team/sub/b.txt").await, b"data");
    put(&scoped, "shared", "team/new.txt", b"mine").await;
    let outside = scoped.get_object().bucket("shared").key("other/c.txt").send().await;
    expect_err(outside, 403, "AccessDenied", "get outside the prefix");
    let outside = scoped.put_object().bucket("shared").key("x").body(b"x".to_vec().into());
    expect_err(outside.send().await, 403, "AccessDenied", "put outside the prefix");

    // An explicit Deny in an identity policy overrides a bucket policy's Allow.
    let bucket_policy = r#"{"Version": "2012-10-17", "Statement": [
      {"Sid": "ScopedReadsAll", "Effect": "Allow", "Principal": {"AWS": "scoped"},
       "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/*"}]}"#;
    root.put_bucket_policy().bucket("shared").policy(bucket_policy).send().await.unwrap();
    assert_eq!(get(&scoped, "shared", "other/c.txt").await, b"data");
    let deny = r#"{"Version": "2012-10-17", "Statement": [
      {"Sid": "NoOther", "Effect": "Deny", "Action": "s3:GetObject",
       "Resource": "arn:aws:s3:::shared/other/*"}]}"#;
    let file = write_policy(&gw.dir, "deny", deny);
    run_cli(&["policy", "create", "no-other", "--document", &file], &gw.dir);
    run_cli(&["user", "attach-policy", "scoped", "no-other"], &gw.dir);
    tokio::time::sleep(PROPAGATION).await;
    let denied = scoped.get_object().bucket("shared").key("other/c.txt").send().await;
    expect_err(denied, 403, "AccessDenied", "identity Deny over bucket Allow");
    assert_eq!(get(&scoped, "shared", "team/a.txt").await, b"data");

    // An attached policy cannot be deleted; a refused document stores nothing.
    let (ok, text) = run_cli_status(&["policy", "delete", "no-other"], &gw.dir);
    assert!(!ok && text.contains("attached"), "{text}");
    let bad = write_policy(
        &gw.dir,
        "bad",
        r#"{"Version": "2012-10-17", "Statement": [
      {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]}"#,
    );
    let (ok, text) = run_cli_status(&["policy", "create", "bad", "--document", &bad], &gw.dir);
    assert!(!ok && text.contains("should not specify a principal"), "{text}");
    let (ok, text) =
        run_cli_status(&["policy", "create", "read-only", "--document", &file], &gw.dir);
    assert!(!ok && text.contains("built-in"), "{text}");
    let list = run_cli(&["policy", "list"], &gw.dir);
    assert!(list.contains("read-only\tbuilt-in"), "{list}");
    assert!(list.contains("no-other\tstored\tattached: user:scoped"), "{list}");
    assert!(!list.contains("bad\t"), "{list}");
    run_cli(&["user", "detach-policy", "scoped", "no-other"], &gw.dir);
    run_cli(&["policy", "delete", "no-other"], &gw.dir);
}

/// Groups and keys on one store: `extra` is `--metadata URL` for PostgreSQL (two gateways on
/// it), nothing for SQLite.
async fn groups_and_keys(gws: &[&Gateway], extra: &[&str]) {
    let gw = gws[0];
    let dir = gw.dir.clone();
    let root = gw.client(Flavour::Default);
    create_bucket(&root, "drop").await;
    put(&root, "drop", "existing", b"old").await;

    // An upload-only key: write-only, through a group.
    cli(&dir, extra, &["group", "create", "uploaders"]);
    cli(&dir, extra, &["group", "attach-policy", "uploaders", "write-only"]);
    let (ak, sk) = keys_of(&cli(&dir, extra, &["user", "add", "ci", "--no-policy"]));
    cli(&dir, extra, &["group", "add-user", "uploaders", "ci"]);
    let listed = cli(&dir, extra, &["group", "list"]);
    assert!(listed.contains("uploaders\tmembers: ci\tpolicies: write-only"), "{listed}");
    for g in gws {
        let ci = g.client_as(&ak, &sk, Flavour::Default);
        put(&ci, "drop", "build.tar", b"artefact").await;
        let read = ci.get_object().bucket("drop").key("existing").send().await;
        expect_err(read, 403, "AccessDenied", "upload-only GET");
        let list = ci.list_objects_v2().bucket("drop").send().await;
        expect_err(list, 403, "AccessDenied", "upload-only LIST");
        let del = ci.delete_object().bucket("drop").key("existing").send().await;
        expect_err(del, 403, "AccessDenied", "upload-only DELETE");
    }
    assert_eq!(get(&root, "drop", "build.tar").await, b"artefact");

    // A second key signs as the same user; a disabled key is InvalidAccessKeyId until enabled.
    let (ak2, sk2) = keys_of(&cli(&dir, extra, &["user", "key", "create", "ci"]));
    let keys = cli(&dir, extra, &["user", "key", "list", "ci"]);
    assert_eq!(keys.lines().count(), 2, "{keys}");
    assert!(keys.contains(&format!("{ak}\tActive")) && keys.contains(&format!("{ak2}\tActive")));
    assert!(!keys.contains(&sk) && !keys.contains(&sk2), "secrets are never listed: {keys}");
    assert!(keys.contains("last used 20"), "the first key has signed requests: {keys}");
    cli(&dir, extra, &["user", "key", "disable", "ci", &ak]);
    tokio::time::sleep(PROPAGATION).await;
    for g in gws {
        let first = g.client_as(&ak, &sk, Flavour::Default);
        let second = g.client_as(&ak2, &sk2, Flavour::Default);
        let put1 = first.put_object().bucket("drop").key("k1").body(b"1".to_vec().into());
        expect_err(put1.send().await, 403, "InvalidAccessKeyId", "disabled key");
        put(&second, "drop", "k2", b"2").await;
    }
    assert!(cli(&dir, extra, &["user", "key", "list", "ci"]).contains(&format!("{ak}\tInactive")));
    cli(&dir, extra, &["user", "key", "enable", "ci", &ak]);
    tokio::time::sleep(PROPAGATION).await;
    for g in gws {
        put(&g.client_as(&ak, &sk, Flavour::Default), "drop", "k1", b"1").await;
    }

    // Leaving the group takes the access away (within the cache's bound).
    cli(&dir, extra, &["group", "remove-user", "uploaders", "ci"]);
    tokio::time::sleep(PROPAGATION).await;
    for g in gws {
        let ci = g.client_as(&ak2, &sk2, Flavour::Default);
        let put_res = ci.put_object().bucket("drop").key("late").body(b"x".to_vec().into());
        expect_err(put_res.send().await, 403, "AccessDenied", "removed from the group");
    }

    // A deleted key is gone; refusals change nothing.
    cli(&dir, extra, &["user", "key", "delete", "ci", &ak2]);
    let args: Vec<&str> =
        ["user", "key", "delete", "ci", &ak2].into_iter().chain(extra.iter().copied()).collect();
    let (ok, text) = run_cli_status(&args, &dir);
    assert!(!ok && text.contains("has no access key"), "{text}");
    let args: Vec<&str> =
        ["group", "add-user", "nope", "ci"].into_iter().chain(extra.iter().copied()).collect();
    let (ok, text) = run_cli_status(&args, &dir);
    assert!(!ok && text.contains("no group named nope"), "{text}");
    tokio::time::sleep(PROPAGATION).await;
    let gone = gw.client_as(&ak2, &sk2, Flavour::Default);
    expect_err(gone.list_buckets().send().await, 403, "InvalidAccessKeyId", "deleted key");
    cli(&dir, extra, &["group", "delete", "uploaders"]);
    assert!(!cli(&dir, extra, &["group", "list"]).contains("uploaders"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_and_keys_on_sqlite() {
    let gw = Gateway::start();
    groups_and_keys(&[&gw], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_and_keys_on_postgres_reach_every_gateway() {
    let Some(db) = TestDb::create("iam_groups").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let (ak, sk) = crate::harness::random_keys();
    let flags = ["--metadata", db.url.as_str()];
    let a = Gateway::start_on_with(dir.path(), &ak, &sk, &flags);
    let b = Gateway::start_on_with(dir.path(), &ak, &sk, &flags);
    groups_and_keys(&[&a, &b], &flags).await;
}
