//! Scale-out: three `s3gate` processes sharing one PostgreSQL database and one data directory.
//!
//! Gated by `S3GATE_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/postgres`, a
//! role that may create databases): each test creates its own database and drops it. When the
//! variable is unset the tests print that they skip and why.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use tokio_postgres::NoTls;

use crate::harness::{
    Flavour, Gateway, create_bucket, err_info, etag_of, get, random_bytes, random_keys, run_cli,
};

const URL_VAR: &str = "S3GATE_TEST_POSTGRES_URL";
const MIB: usize = 1024 * 1024;

/// A database for one test, dropped (with its connections) at the end.
pub(crate) struct TestDb {
    server: String,
    name: String,
    pub(crate) url: String,
}

fn with_db(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{db}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

async fn sql(url: &str, statement: &str) -> Result<(), tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(conn);
    client.batch_execute(statement).await
}

impl TestDb {
    pub(crate) async fn create(test: &str) -> Option<TestDb> {
        let server = match std::env::var(URL_VAR) {
            Ok(u) if !u.is_empty() => u,
            _ => {
                eprintln!(
                    "skipping {test}: {URL_VAR} is not set (e.g. \
                     postgres://postgres@127.0.0.1:5432/postgres); it needs a PostgreSQL server"
                );
                return None;
            }
        };
        let nanos =
            SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("s3gate_e2e_{test}_{}_{nanos}", std::process::id());
        sql(&server, &format!("CREATE DATABASE {name}")).await.unwrap();
        let url = with_db(&server, &name);
        Some(TestDb { server, name, url })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(sql(&server, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

/// Three gateways on `dir` and the database, started together (they migrate once).
fn start_three(dir: &Path, url: &str) -> Vec<Gateway> {
    let (ak, sk) = random_keys();
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let (dir, url, ak, sk) = (dir.to_owned(), url.to_owned(), ak.clone(), sk.clone());
            std::thread::spawn(move || {
                Gateway::start_on_with(&dir, &ak, &sk, &["--metadata", &url, "--pg-pool-size", "8"])
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

async fn list_all(c: &Client, b: &str, delimiter: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = c
            .list_objects_v2()
            .bucket(b)
            .set_delimiter(delimiter.map(Into::into))
            .max_keys(7)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        for o in page.contents() {
            out.push(format!("{}={}", o.key().unwrap(), o.e_tag().unwrap()));
        }
        for p in page.common_prefixes() {
            out.push(format!("{}*", p.prefix().unwrap()));
        }
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    out.sort();
    out
}

/// A multipart upload whose parts go through two gateways and whose Complete goes through the
/// third; listings identical from every gateway; 3 x 8 concurrent `If-None-Match: *` writers of
/// one key across gateways: exactly one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_gateways_share_one_namespace() {
    let Some(db) = TestDb::create("share").await else { return };
    let dir = tempfile::Builder::new().prefix("s3gate-scaleout-").tempdir().unwrap();
    let gws = start_three(dir.path(), &db.url);
    let cs: Vec<Client> = gws.iter().map(|g| g.client(Flavour::Default)).collect();
    let b = "shared";
    create_bucket(&cs[0], b).await;

    // Multipart across gateways.
    let k = "big/object";
    let p1 = random_bytes(5 * MIB);
    let p2 = random_bytes(MIB + 17);
    let id = cs[0].create_multipart_upload().bucket(b).key(k).send().await.unwrap();
    let id = id.upload_id().unwrap().to_owned();
    let mut parts = Vec::new();
    for (n, (c, data)) in [(&cs[0], &p1), (&cs[1], &p2)].into_iter().enumerate() {
        let n = i32::try_from(n + 1).unwrap();
        let out = c
            .upload_part()
            .bucket(b)
            .key(k)
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(out.e_tag().unwrap(), etag_of(data));
        parts.push(CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).build());
    }
    // The parts are visible from the third gateway before completion.
    let listed = cs[2].list_parts().bucket(b).key(k).upload_id(&id).send().await.unwrap();
    assert_eq!(listed.parts().len(), 2);
    cs[2]
        .complete_multipart_upload()
        .bucket(b)
        .key(k)
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    let whole = [p1.as_slice(), p2.as_slice()].concat();
    for c in &cs {
        assert_eq!(get(c, b, k).await, whole, "the object reads the same from every gateway");
    }

    // Writes spread over the gateways; listings agree everywhere.
    for i in 0..30 {
        let key = format!("dir{}/k{i:02}", i % 4);
        cs[i % 3]
            .put_object()
            .bucket(b)
            .key(&key)
            .body(ByteStream::from(vec![u8::try_from(i).unwrap(); i + 1]))
            .send()
            .await
            .unwrap();
    }
    let flat = list_all(&cs[0], b, None).await;
    assert_eq!(flat.len(), 31);
    let rolled = list_all(&cs[0], b, Some("/")).await;
    assert_eq!(rolled, ["big/*", "dir0/*", "dir1/*", "dir2/*", "dir3/*"]);
    for c in &cs[1..] {
        assert_eq!(list_all(c, b, None).await, flat);
        assert_eq!(list_all(c, b, Some("/")).await, rolled);
    }

    // A user added with the CLI on the shared store signs requests at every gateway.
    let out = run_cli(&["user", "add", "alice", "--metadata", &db.url], dir.path());
    let key_of = |prefix: &str| {
        out.lines().find_map(|l| l.trim().strip_prefix(prefix)).unwrap().trim().to_owned()
    };
    let (ak, sk) = (key_of("access_key_id:"), key_of("secret_access_key:"));
    for gw in &gws {
        let alice = gw.client_as(&ak, &sk, Flavour::Default);
        assert!(alice.list_buckets().send().await.unwrap().buckets().is_empty());
    }

    // 3 x 8 concurrent If-None-Match: * writers of one key, across gateways.
    for round in 0..3 {
        let key = format!("race-{round}");
        let mut tasks = Vec::new();
        for (g, c) in cs.iter().enumerate() {
            for w in 0..8 {
                let (c, key) = (c.clone(), key.clone());
                let body = format!("gateway {g} writer {w}").into_bytes();
                tasks.push(tokio::spawn(async move {
                    let r = c
                        .put_object()
                        .bucket(b)
                        .key(&key)
                        .if_none_match("*")
                        .body(ByteStream::from(body.clone()))
                        .send()
                        .await;
                    (body, r.map_err(|e| err_info(&e)))
                }));
            }
        }
        let mut winners = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                (body, Ok(_)) => winners.push(body),
                (_, Err((412, code))) => assert_eq!(code, "PreconditionFailed"),
                (_, Err(other)) => panic!("unexpected answer {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one writer wins");
        for c in &cs {
            assert_eq!(get(c, b, &key).await, winners[0]);
        }
    }
}

/// One gateway killed with SIGKILL mid-traffic: the others keep serving and every acknowledged
/// write is there, readable from both survivors.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_gateway_loses_nothing_acknowledged() {
    let Some(db) = TestDb::create("kill").await else { return };
    let dir = tempfile::Builder::new().prefix("s3gate-scaleout-").tempdir().unwrap();
    let mut gws = start_three(dir.path(), &db.url);
    let b = "survive";
    create_bucket(&gws[0].client(Flavour::Default), b).await;
    let killed = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for (g, gw) in gws.iter().enumerate() {
        let c = gw.client_no_retry(Flavour::WhenRequired);
        let killed = Arc::clone(&killed);
        writers.push(tokio::spawn(async move {
            let mut acked: BTreeMap<String, Vec<u8>> = BTreeMap::new();
            // Survivors keep writing after the kill; the victim's writers stop at their first
            // failure (the process is gone).
            let mut after_kill = 0;
            for i in 0..400 {
                let key = format!("g{g}/k{i:03}");
                let body = random_bytes(100 + i);
                match c
                    .put_object()
                    .bucket(b)
                    .key(&key)
                    .body(ByteStream::from(body.clone()))
                    .send()
                    .await
                {
                    Ok(_) => {
                        acked.insert(key, body);
                    }
                    Err(e) => {
                        assert_eq!(g, 2, "only the killed gateway fails: {e:?}");
                        break;
                    }
                }
                if killed.load(Ordering::SeqCst) {
                    after_kill += 1;
                    if after_kill >= 20 {
                        break;
                    }
                }
            }
            acked
        }));
    }
    // Let traffic flow, then kill gateway 2 in the middle of it.
    let probe = gws[2].client(Flavour::Default);
    for _ in 0..1000 {
        let n = probe.list_objects_v2().bucket(b).send().await.unwrap().key_count().unwrap_or(0);
        if n >= 60 {
            break;
        }
        tokio::task::yield_now().await;
    }
    gws[2].crash();
    killed.store(true, Ordering::SeqCst);
    let mut acked = BTreeMap::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    assert!(acked.keys().any(|k| k.starts_with("g2/")), "the killed gateway acknowledged writes");
    // Every acknowledged write is there, through both survivors.
    for gw in &gws[..2] {
        let c = gw.client(Flavour::Default);
        for (k, body) in &acked {
            assert_eq!(&get(&c, b, k).await, body, "{k} through port {}", gw.port);
        }
    }
}

/// `s3gate metadata copy` moves a SQLite gateway's metadata into PostgreSQL: a gateway on the
/// same data directory then serves the same objects from the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_metadata_copies_to_postgres() {
    let Some(db) = TestDb::create("copy").await else { return };
    let dir = tempfile::Builder::new().prefix("s3gate-copy-").tempdir().unwrap();
    let (ak, sk) = random_keys();
    let b = "moved";
    let mut objects = BTreeMap::new();
    {
        let mut gw = Gateway::start_on_with(dir.path(), &ak, &sk, &[]);
        let c = gw.client(Flavour::Default);
        create_bucket(&c, b).await;
        for i in 0..25 {
            let (k, body) = (format!("p{}/o{i}", i % 2), random_bytes(10 + i));
            c.put_object()
                .bucket(b)
                .key(&k)
                .body(ByteStream::from(body.clone()))
                .send()
                .await
                .unwrap();
            objects.insert(k, body);
        }
        assert!(gw.stop_graceful());
    }
    let sqlite = format!("sqlite://{}", dir.path().join("metadata.sqlite").display());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(["metadata", "copy", "--from", &sqlite, "--to", &db.url])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("1 buckets, 25 objects"), "{stdout}");
    let gw = Gateway::start_on_with(dir.path(), &ak, &sk, &["--metadata", &db.url]);
    let c = gw.client(Flavour::Default);
    for (k, body) in &objects {
        assert_eq!(&get(&c, b, k).await, body, "{k}");
    }
    // A second copy into the now non-empty database is refused and changes nothing.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(["metadata", "copy", "--from", &sqlite, "--to", &db.url])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert_eq!(list_all(&c, b, None).await.len(), 25);
}
