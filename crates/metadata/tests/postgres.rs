//! `PostgresMetadata` against a real PostgreSQL server: the same conformance suite as SQLite and
//! memory, plus what only a shared server has (atomic conditional writes across stores,
//! concurrent migration, lost connections).
//!
//! Gated by `S3GATE_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/postgres`, a
//! role allowed to create databases); each test creates its own database and drops it. When the
//! variable is unset every test prints that it skips and why.
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use s3gate_metadata::{
    Bucket, MetaError, MetadataStore, NULL_VERSION, ObjectPart, ObjectVersion, PostgresMetadata,
    PostgresOptions, WriteCondition,
};
use tokio_postgres::NoTls;

const URL_VAR: &str = "S3GATE_TEST_POSTGRES_URL";

/// The server URL, or `None` after printing why the test skips.
fn server_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "skipping: {URL_VAR} is not set (e.g. postgres://postgres@127.0.0.1:5432/postgres); \
                 these tests need a PostgreSQL server"
            );
            None
        }
    }
}

/// `url` with its database name replaced by `db`.
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

async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

/// A database created for one test, dropped (with its connections) when this is dropped.
struct TestDb {
    server: String,
    name: String,
    url: String,
}

impl TestDb {
    async fn create() -> Option<TestDb> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let server = server_url()?;
        let nanos =
            SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!(
            "s3gate_test_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        admin(&server).await.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        let url = with_db(&server, &name);
        Some(TestDb { server, name, url })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Drop runs inside the test's runtime: use a thread with its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                admin(&server)
                    .await
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

async fn fresh() -> Option<(PostgresMetadata, TestDb)> {
    let db = TestDb::create().await?;
    let store = PostgresMetadata::connect(&db.url, &PostgresOptions::default()).await.unwrap();
    Some((store, db))
}

mod conformance {
    s3gate_metadata::conformance_tests!(optional: super::fresh().await);
}

fn bucket(name: &str) -> Bucket {
    Bucket {
        name: name.into(),
        owner: "alice".into(),
        region: "us-east-1".into(),
        created: SystemTime::now(),
        versioning: s3gate_metadata::Versioning::Unversioned,
    }
}

fn version(key: &str, etag: &str, blob: &str) -> ObjectVersion {
    ObjectVersion {
        bucket: "bk".into(),
        key: key.into(),
        version_id: NULL_VERSION.into(),
        is_delete_marker: false,
        size: 1,
        etag: etag.into(),
        last_modified: SystemTime::now(),
        owner: "alice".into(),
        headers: vec![],
        tags: vec![],
        checksum_algorithm: None,
        checksum_type: None,
        checksum: None,
        parts: vec![ObjectPart {
            part_number: 1,
            blob_id: blob.into(),
            blob_offset: 0,
            size: 1,
            etag: etag.into(),
            checksum: None,
            salt: None,
        }],
        encryption: None,
        lock: s3gate_metadata::ObjectLock::default(),
        acl: None,
        storage_class: None,
    }
}

/// Three stores (three gateways) on one database: 3 x 8 concurrent `If-None-Match: *` writers
/// of one key; exactly one wins and the rest see PreconditionFailed. Keys with NUL work.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conditional_writes_are_atomic_across_stores() {
    let Some(db) = TestDb::create().await else { return };
    let mut stores = Vec::new();
    for _ in 0..3 {
        let s = PostgresMetadata::connect(&db.url, &PostgresOptions::default()).await.unwrap();
        stores.push(std::sync::Arc::new(s));
    }
    stores[0].create_bucket(bucket("bk")).await.unwrap();
    for round in 0..3 {
        let key = format!("race\0{round}");
        let mut tasks = Vec::new();
        for (i, store) in stores.iter().enumerate() {
            for j in 0..8 {
                let (store, key) = (std::sync::Arc::clone(store), key.clone());
                tasks.push(tokio::spawn(async move {
                    let v = version(&key, &format!("e{i}{j}"), &format!("blob{round}-{i}-{j}"));
                    store.put_object(v, WriteCondition::IfNoneMatchAny).await
                }));
            }
        }
        let mut wins = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(out) => wins.push(out),
                Err(MetaError::PreconditionFailed) => {}
                Err(e) => panic!("unexpected error {e:?}"),
            }
        }
        assert_eq!(wins.len(), 1, "round {round}: exactly one writer wins");
        assert!(!wins[0].replaced);
        let winner = stores[2].object("bk", &key).await.unwrap().unwrap();
        assert_eq!(winner.key, key);
        // Every losing blob was never registered: only the winner's is known.
        let all: Vec<String> =
            (0..3).flat_map(|i| (0..8).map(move |j| format!("blob{round}-{i}-{j}"))).collect();
        assert_eq!(
            stores[1].known_blobs(&all).await.unwrap(),
            vec![winner.parts[0].blob_id.clone()]
        );
    }
}

/// Several stores connecting at once to a fresh database migrate it once, without error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_start_migrates_once() {
    let Some(db) = TestDb::create().await else { return };
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = db.url.clone();
        tasks.push(tokio::spawn(async move {
            PostgresMetadata::connect(&url, &PostgresOptions::default()).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let c = admin(&db.url).await;
    let rows = c.query("SELECT version FROM s3gate_schema", &[]).await.unwrap();
    assert_eq!(rows.len(), 1);
    let v: i32 = rows[0].get(0);
    assert_eq!(u32::try_from(v).unwrap(), s3gate_metadata::postgres_schema_version());
    // Without migration, a current schema is accepted.
    let opts = PostgresOptions { migrate: false, ..PostgresOptions::default() };
    PostgresMetadata::connect(&db.url, &opts).await.unwrap();
}

/// A connection killed in the middle of a write (pg_terminate_backend) answers `Unavailable`,
/// commits nothing, and the store recovers on its next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_connection_is_unavailable_and_recovers() {
    let Some(db) = TestDb::create().await else { return };
    let store = std::sync::Arc::new(
        PostgresMetadata::connect(&db.url, &PostgresOptions::default()).await.unwrap(),
    );
    store.create_bucket(bucket("bk")).await.unwrap();
    // Hold the key's writer lock so that the write waits on the server.
    let mut holder = admin(&db.url).await;
    let tx = holder.transaction().await.unwrap();
    tx.execute("SELECT pg_advisory_xact_lock(s3gate_key_lock('bk', $1))", &[&b"k".as_slice()])
        .await
        .unwrap();
    let own_pid: i32 = tx.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
    let writer = {
        let store = std::sync::Arc::clone(&store);
        tokio::spawn(async move {
            store.put_object(version("k", "e1", "b1"), WriteCondition::None).await
        })
    };
    let killer = admin(&db.url).await;
    let mut terminated = 0;
    for _ in 0..500 {
        let row = killer
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> $1 AND pid <> pg_backend_pid() \
                 AND wait_event_type = 'Lock'",
                &[&own_pid],
            )
            .await
            .unwrap();
        terminated = row.get::<_, i64>(0);
        if terminated > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(terminated, 1, "the waiting write's backend was found and terminated");
    let r = writer.await.unwrap();
    assert!(matches!(r, Err(MetaError::Unavailable(_))), "{r:?}");
    tx.rollback().await.unwrap();
    // Nothing was committed, and the next calls work on fresh connections.
    assert_eq!(store.object("bk", "k").await.unwrap(), None);
    assert!(store.known_blobs(&["b1".to_owned()]).await.unwrap().is_empty());
    store.put_object(version("k", "e2", "b2"), WriteCondition::None).await.unwrap();
    assert_eq!(store.object("bk", "k").await.unwrap().unwrap().etag, "e2");
    // Every pooled connection killed while idle: the pool replaces them.
    killer
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut ok = false;
    for _ in 0..3 {
        match store.object("bk", "k").await {
            Ok(v) => {
                assert_eq!(v.unwrap().etag, "e2");
                ok = true;
                break;
            }
            Err(MetaError::Unavailable(_)) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert!(ok, "the store recovers after its connections were terminated");
}

/// Listing seeks use the `(bucket, key)` index of visible current versions in byte order (keys
/// whose latest version is a delete marker are not in it): no sort, no sequential scan.
#[tokio::test]
async fn listing_seeks_the_index() {
    let Some((store, db)) = fresh().await else { return };
    store.create_bucket(bucket("bk")).await.unwrap();
    let c = admin(&db.url).await;
    c.batch_execute(
        "INSERT INTO objects (bucket, key, version_id, is_latest, is_delete_marker, size, etag, \
         last_modified, owner, headers, tags, parts) \
         SELECT 'bk', convert_to('k' || lpad(i::text, 6, '0'), 'UTF8'), 'null', true, false, 1, \
         'e', 0, 'alice', '[]', '[]', '[]' FROM generate_series(1, 20000) i; ANALYZE objects;",
    )
    .await
    .unwrap();
    let plan: Vec<String> = c
        .query(
            "EXPLAIN SELECT key, size, etag, last_modified, owner, checksum_algorithm FROM objects \
             WHERE bucket = 'bk' AND is_latest AND key > 'k000100'::bytea AND key < 'l'::bytea \
             AND NOT is_delete_marker ORDER BY key LIMIT 33",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let plan = plan.join("\n");
    assert!(plan.contains("Index Scan using objects_visible"), "{plan}");
    assert!(!plan.contains("Sort"), "{plan}");
    // Version listings seek the (bucket, key, seq) index, newest first, without a sort.
    let plan: Vec<String> = c
        .query(
            "EXPLAIN SELECT key, version_id, seq FROM objects WHERE bucket = 'bk' \
             AND key > 'k000100'::bytea AND key < 'l'::bytea ORDER BY key, seq DESC LIMIT 33",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let plan = plan.join("\n");
    assert!(plan.contains("Index Scan using objects_versions"), "{plan}");
    assert!(!plan.contains("Sort"), "{plan}");
    let q = s3gate_metadata::ListQuery { max_keys: 1000, ..Default::default() };
    let s0 = store.listing_seeks();
    let page = store.list_objects("bk", &q).await.unwrap();
    assert_eq!((page.entries.len(), page.is_truncated), (1000, true));
    assert_eq!(store.listing_seeks() - s0, 1);
}

/// Several gateways (here: two stores, each with its own pool) writing one key of a versioned
/// bucket concurrently get distinct versions, ordered as they committed: each writer's own
/// sequential writes list newest first, and the latest is the newest of all.
#[tokio::test]
async fn concurrent_writers_of_one_key_get_versions_in_commit_order() {
    let Some((a, db)) = fresh().await else { return };
    let b = PostgresMetadata::connect(&db.url, &PostgresOptions::default()).await.unwrap();
    a.create_bucket(bucket("bk")).await.unwrap();
    a.set_bucket_versioning("bk", s3gate_metadata::Versioning::Enabled).await.unwrap();
    let (a, b) = (std::sync::Arc::new(a), std::sync::Arc::new(b));
    let mut tasks = Vec::new();
    for (t, store) in [a.clone(), b.clone(), a.clone(), b.clone()].into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..40 {
                let out = store
                    .put_object(
                        version("k", &format!("e{t}-{i}"), &format!("b{t}-{i}")),
                        WriteCondition::None,
                    )
                    .await
                    .unwrap();
                ids.push(out.version_id.unwrap());
            }
            ids
        }));
    }
    let mut written = Vec::new();
    for t in tasks {
        written.push(t.await.unwrap());
    }
    let q = s3gate_metadata::VersionListQuery { max_keys: 1000, ..Default::default() };
    let page = a.list_object_versions("bk", &q).await.unwrap();
    let listed: Vec<(String, bool)> = page
        .entries
        .iter()
        .map(|e| match e {
            s3gate_metadata::VersionListEntry::Version(v) => (v.version_id.clone(), v.is_latest),
            s3gate_metadata::VersionListEntry::CommonPrefix(p) => panic!("{p}"),
        })
        .collect();
    assert_eq!(listed.len(), 160);
    let mut ids: Vec<&String> = listed.iter().map(|(id, _)| id).collect();
    let in_list_order = ids.clone();
    ids.sort();
    assert_eq!(ids, in_list_order, "listing order is id order, newest first");
    ids.dedup();
    assert_eq!(ids.len(), 160, "distinct ids");
    assert!(listed[0].1 && listed[1..].iter().all(|(_, l)| !l));
    let pos = |id: &String| in_list_order.iter().position(|x| *x == id).unwrap();
    for w in &written {
        for pair in w.windows(2) {
            assert!(pos(&pair[1]) < pos(&pair[0]), "a later write of one writer lists first");
        }
    }
    let current = b.object("bk", "k").await.unwrap().unwrap();
    assert_eq!(&current.version_id, in_list_order[0]);
}

/// A database written by the previous release (schema version 3, its own write functions)
/// upgrades in place: objects keep their meaning (the current `null` version, its data and blob
/// references), buckets are unversioned, and versioning then works on the old data.
#[tokio::test]
async fn a_database_of_the_previous_schema_upgrades_in_place() {
    let Some(db) = TestDb::create().await else { return };
    let c = admin(&db.url).await;
    c.batch_execute(include_str!("../migrations/postgres/0001_initial.sql")).await.unwrap();
    c.batch_execute(include_str!("../migrations/postgres/0002_set_object_tags.sql")).await.unwrap();
    c.batch_execute(include_str!("../migrations/postgres/0003_bucket_configs.sql")).await.unwrap();
    c.batch_execute(
        "CREATE TABLE s3gate_schema (version integer NOT NULL);
         INSERT INTO s3gate_schema (version) VALUES (3);
         INSERT INTO buckets (name, owner, region, created) VALUES ('bk', 'alice', 'r', 0);
         SELECT * FROM s3gate_put_object('bk', 'k'::bytea, 'null', false, 5, 'e', 7, 'alice',
             '[]', '[]', NULL, NULL, NULL,
             '[{\"n\":1,\"b\":\"blob-old\",\"o\":0,\"s\":5,\"e\":\"e\"}]'::jsonb, 0::smallint, NULL, 1);",
    )
    .await
    .unwrap();
    let store = PostgresMetadata::connect(&db.url, &PostgresOptions::default()).await.unwrap();
    assert_eq!(
        store.bucket("bk").await.unwrap().unwrap().versioning,
        s3gate_metadata::Versioning::Unversioned
    );
    let v = store.object("bk", "k").await.unwrap().unwrap();
    assert_eq!((v.version_id.as_str(), v.size, v.etag.as_str()), (NULL_VERSION, 5, "e"));
    assert_eq!(v.parts[0].blob_id, "blob-old");
    let q = s3gate_metadata::VersionListQuery { max_keys: 10, ..Default::default() };
    assert_eq!(store.list_object_versions("bk", &q).await.unwrap().entries.len(), 1);
    store.set_bucket_versioning("bk", s3gate_metadata::Versioning::Enabled).await.unwrap();
    let out = store.put_object(version("k", "e2", "blob-new"), WriteCondition::None).await.unwrap();
    assert!(out.retired_blobs.is_empty(), "the null version stays");
    let page = store.list_object_versions("bk", &q).await.unwrap();
    assert_eq!(page.entries.len(), 2);
    let opts = s3gate_metadata::DeleteOptions {
        version_id: Some(NULL_VERSION.into()),
        condition: WriteCondition::None,
        owner: "alice".into(),
        now: SystemTime::now(),
        bypass_governance: false,
    };
    let out = store.delete_object("bk", "k", opts).await.unwrap();
    assert_eq!(out.retired_blobs, ["blob-old"]);
    assert_eq!(store.object("bk", "k").await.unwrap().unwrap().etag, "e2");
}

/// A database of schema 10 (one key per user, no identity policies) upgrades in place: the
/// users keep their keys and get self-service (root excepted), as on SQLite.
#[tokio::test]
async fn users_of_schema_10_keep_their_keys_and_get_self_service() {
    let Some(db) = TestDb::create().await else { return };
    let c = admin(&db.url).await;
    let migrations = [
        include_str!("../migrations/postgres/0001_initial.sql"),
        include_str!("../migrations/postgres/0002_set_object_tags.sql"),
        include_str!("../migrations/postgres/0003_bucket_configs.sql"),
        include_str!("../migrations/postgres/0004_versioning.sql"),
        include_str!("../migrations/postgres/0005_retired_users.sql"),
        include_str!("../migrations/postgres/0006_encryption.sql"),
        include_str!("../migrations/postgres/0007_object_lock.sql"),
        include_str!("../migrations/postgres/0008_kms_keys.sql"),
        include_str!("../migrations/postgres/0009_rename_object.sql"),
        include_str!("../migrations/postgres/0010_acl.sql"),
    ];
    for sql in migrations {
        c.batch_execute(sql).await.unwrap();
    }
    c.batch_execute(
        "CREATE TABLE s3gate_schema (version integer NOT NULL);
         INSERT INTO s3gate_schema VALUES (10);
         INSERT INTO users (name, access_key_id, secret_key, is_root, created)
             VALUES ('alice', 'AKALICE', 'sk-alice', false, 5), ('root', 'AKROOT', 'sk', true, 6);",
    )
    .await
    .unwrap();
    let m = PostgresMetadata::connect(&db.url, &PostgresOptions::default()).await.unwrap();
    let alice = m.key_access("AKALICE").await.unwrap().unwrap();
    assert_eq!((alice.user.name.as_str(), alice.user.secret_key.as_str()), ("alice", "sk-alice"));
    let names: Vec<&str> = alice.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["self-service"]);
    let root = m.key_access("AKROOT").await.unwrap().unwrap();
    assert!(root.user.is_root && root.policies.is_empty());
    assert_eq!(m.user_by_access_key("AKALICE").await.unwrap().unwrap().name, "alice");
}
