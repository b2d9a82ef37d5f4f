//! Bucket versioning through the real binary, on SQLite and (with `S3GATE_TEST_POSTGRES_URL`)
//! on PostgreSQL: enable, overwrite, delete markers, restore by copy, suspend, permanent
//! deletes by version, and version listings past 1,000 versions with delimiters.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, Delete, MfaDelete, ObjectIdentifier, VersioningConfiguration,
};

use crate::harness::{
    Flavour, Gateway, bucket_name, create_bucket, expect_err, get, put, random_keys,
};
use crate::scaleout::TestDb;

async fn set_versioning(c: &Client, b: &str, status: BucketVersioningStatus) {
    c.put_bucket_versioning()
        .bucket(b)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .unwrap();
}

async fn put_v(c: &Client, b: &str, k: &str, body: &[u8]) -> Option<String> {
    let out =
        c.put_object().bucket(b).key(k).body(ByteStream::from(body.to_vec())).send().await.unwrap();
    out.version_id().map(str::to_owned)
}

async fn get_v(c: &Client, b: &str, k: &str, v: &str) -> Vec<u8> {
    let out = c.get_object().bucket(b).key(k).version_id(v).send().await.unwrap();
    assert_eq!(out.version_id(), Some(v));
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

/// (key, version id, is latest, is delete marker) of every entry, paging with `page` keys.
async fn all_versions(c: &Client, b: &str, page: i32) -> Vec<(String, String, bool, bool)> {
    let mut out: Vec<(String, String, bool, bool)> = Vec::new();
    let (mut km, mut vm): (Option<String>, Option<String>) = (None, None);
    loop {
        let r = c
            .list_object_versions()
            .bucket(b)
            .max_keys(page)
            .set_key_marker(km.clone())
            .set_version_id_marker(vm.clone())
            .send()
            .await
            .unwrap();
        // The SDK parses Version and DeleteMarker entries into two lists: merge them back
        // into the one listing order (key, then newest first: ids sort newest first too,
        // except `null`, which never shares a page position ambiguously in these tests).
        let mut page_entries: Vec<(String, String, bool, bool)> = Vec::new();
        for v in r.versions() {
            page_entries.push((
                v.key().unwrap().into(),
                v.version_id().unwrap().into(),
                v.is_latest().unwrap(),
                false,
            ));
        }
        for m in r.delete_markers() {
            page_entries.push((
                m.key().unwrap().into(),
                m.version_id().unwrap().into(),
                m.is_latest().unwrap(),
                true,
            ));
        }
        page_entries.sort_by(|x, y| x.0.cmp(&y.0).then_with(|| order(&x.1).cmp(&order(&y.1))));
        out.extend(page_entries);
        if !r.is_truncated().unwrap_or(false) {
            break;
        }
        km = r.next_key_marker().map(str::to_owned);
        vm = r.next_version_id_marker().map(str::to_owned);
        assert!(km.is_some(), "a truncated page names where the next starts");
    }
    out
}

/// Listing order of version ids within a key: ids sort newest first; `null` is placed last
/// (the tests that use [`all_versions`] make the null version the oldest).
fn order(id: &str) -> (bool, String) {
    (id == "null", id.to_owned())
}

fn delete_marker_header<E>(err: &SdkError<E>) -> Option<String> {
    let raw = err.raw_response()?;
    raw.headers().get("x-amz-delete-marker").map(str::to_owned)
}

/// The whole life of one versioned key.
async fn scenario(c: &Client, b: &str) {
    create_bucket(c, b).await;
    let v = c.get_bucket_versioning().bucket(b).send().await.unwrap();
    assert_eq!(v.status(), None, "a new bucket is unversioned");
    assert_eq!(put_v(c, b, "k", b"v0").await, None, "no version id while unversioned");

    set_versioning(c, b, BucketVersioningStatus::Enabled).await;
    let v = c.get_bucket_versioning().bucket(b).send().await.unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));
    let v1 = put_v(c, b, "k", b"v1").await.unwrap();
    let v2 = put_v(c, b, "k", b"v2").await.unwrap();
    assert!(v1 != v2 && v1 != "null" && v2 < v1, "{v1} {v2}");
    assert_eq!(get(c, b, "k").await, b"v2");
    assert_eq!(get_v(c, b, "k", &v1).await, b"v1");
    assert_eq!(get_v(c, b, "k", "null").await, b"v0");
    let head = c.head_object().bucket(b).key("k").send().await.unwrap();
    assert_eq!(head.version_id(), Some(v2.as_str()));

    // Unknown and malformed version ids.
    let unknown = "0".repeat(32);
    expect_err(
        c.get_object().bucket(b).key("k").version_id(&unknown).send().await,
        404,
        "NoSuchVersion",
        "GET of an unknown version",
    );
    expect_err(
        c.get_object().bucket(b).key("k").version_id("nope").send().await,
        400,
        "InvalidArgument",
        "GET of a malformed version id",
    );

    // A delete adds a marker: the key is gone from reads and listings, not from history.
    let del = c.delete_object().bucket(b).key("k").send().await.unwrap();
    assert_eq!(del.delete_marker(), Some(true));
    let dm = del.version_id().unwrap().to_owned();
    let err = c.get_object().bucket(b).key("k").send().await.unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 404);
    assert_eq!(delete_marker_header(&err).as_deref(), Some("true"));
    let err = c.get_object().bucket(b).key("k").version_id(&dm).send().await.unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 405);
    assert_eq!(delete_marker_header(&err).as_deref(), Some("true"));
    let listed = c.list_objects_v2().bucket(b).send().await.unwrap();
    assert!(listed.contents().is_empty(), "{listed:?}");
    assert_eq!(
        all_versions(c, b, 1000).await,
        [
            ("k".into(), dm.clone(), true, true),
            ("k".into(), v2.clone(), false, false),
            ("k".into(), v1.clone(), false, false),
            ("k".into(), "null".into(), false, false),
        ]
    );

    // Restore an old version by copying it onto its own key.
    let copy = c
        .copy_object()
        .bucket(b)
        .key("k")
        .copy_source(format!("{b}/k?versionId={v1}"))
        .send()
        .await
        .unwrap();
    assert_eq!(copy.copy_source_version_id(), Some(v1.as_str()));
    let v3 = copy.version_id().unwrap().to_owned();
    assert_eq!(get(c, b, "k").await, b"v1");
    // UploadPartCopy from a version by id says which one it copied.
    let up = c.create_multipart_upload().bucket(b).key("mp").send().await.unwrap();
    let upload_id = up.upload_id().unwrap();
    let part = c
        .upload_part_copy()
        .bucket(b)
        .key("mp")
        .upload_id(upload_id)
        .part_number(1)
        .copy_source(format!("{b}/k?versionId={v2}"))
        .send()
        .await
        .unwrap();
    assert_eq!(part.copy_source_version_id(), Some(v2.as_str()));
    c.abort_multipart_upload().bucket(b).key("mp").upload_id(upload_id).send().await.unwrap();

    // Permanent deletes by version id: removing the latest promotes the next newest.
    let out = c.delete_object().bucket(b).key("k").version_id(&v3).send().await.unwrap();
    assert_eq!(out.version_id(), Some(v3.as_str()));
    expect_err(c.get_object().bucket(b).key("k").send().await, 404, "NoSuchKey", "marker again");
    let out = c.delete_object().bucket(b).key("k").version_id(&dm).send().await.unwrap();
    assert_eq!(out.delete_marker(), Some(true));
    assert_eq!(get(c, b, "k").await, b"v2");

    // Suspended: writes replace the null version, versions with ids stay.
    set_versioning(c, b, BucketVersioningStatus::Suspended).await;
    assert_eq!(put_v(c, b, "k", b"s").await, None, "suspended writes report no version id");
    assert_eq!(get_v(c, b, "k", "null").await, b"s");
    let ids: Vec<String> = all_versions(c, b, 1000).await.into_iter().map(|e| e.1).collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(ids.contains(&"null".to_owned()) && ids.contains(&v1) && ids.contains(&v2));
    let del = c.delete_object().bucket(b).key("k").send().await.unwrap();
    assert_eq!((del.delete_marker(), del.version_id()), (Some(true), Some("null")));
    expect_err(c.get_object().bucket(b).key("k").send().await, 404, "NoSuchKey", "suspended");

    // A bucket with versions is not empty; DeleteObjects by version empties it.
    expect_err(c.delete_bucket().bucket(b).send().await, 409, "BucketNotEmpty", "versions left");
    let mut delete = Delete::builder();
    for (key, id, _, _) in all_versions(c, b, 1000).await {
        delete =
            delete.objects(ObjectIdentifier::builder().key(key).version_id(id).build().unwrap());
    }
    let out = c.delete_objects().bucket(b).delete(delete.build().unwrap()).send().await.unwrap();
    assert!(out.errors().is_empty(), "{out:?}");
    assert_eq!(out.deleted().len(), 3);
    let marker = out.deleted().iter().find(|d| d.version_id() == Some("null")).unwrap();
    assert_eq!(marker.delete_marker(), Some(true));
    assert_eq!(marker.delete_marker_version_id(), Some("null"));
    assert!(all_versions(c, b, 1000).await.is_empty());
    // A DeleteObjects entry without a version id in a versioned bucket makes a marker.
    set_versioning(c, b, BucketVersioningStatus::Enabled).await;
    put(c, b, "x", b"x").await;
    let delete =
        Delete::builder().objects(ObjectIdentifier::builder().key("x").build().unwrap()).build();
    let out = c.delete_objects().bucket(b).delete(delete.unwrap()).send().await.unwrap();
    let d = &out.deleted()[0];
    assert_eq!(d.delete_marker(), Some(true));
    let marker_id = d.delete_marker_version_id().unwrap().to_owned();
    let versions = all_versions(c, b, 1000).await;
    assert_eq!(versions.len(), 2);
    assert!(versions.contains(&("x".into(), marker_id, true, true)));
    for (key, id, _, _) in versions {
        c.delete_object().bucket(b).key(key).version_id(id).send().await.unwrap();
    }
    c.delete_bucket().bucket(b).send().await.unwrap();
}

/// PutBucketVersioning's refusals: MFA delete, a bad status, a malformed body.
async fn refusals(c: &Client, b: &str) {
    create_bucket(c, b).await;
    let config = VersioningConfiguration::builder()
        .status(BucketVersioningStatus::Enabled)
        .mfa_delete(MfaDelete::Enabled)
        .build();
    expect_err(
        c.put_bucket_versioning().bucket(b).versioning_configuration(config).send().await,
        501,
        "NotImplemented",
        "MFA delete",
    );
    let config = VersioningConfiguration::builder().status("Bogus".into()).build();
    expect_err(
        c.put_bucket_versioning().bucket(b).versioning_configuration(config).send().await,
        400,
        "IllegalVersioningConfigurationException",
        "a status other than Enabled or Suspended",
    );
    let v = c.get_bucket_versioning().bucket(b).send().await.unwrap();
    assert_eq!(v.status(), None, "a refused request changes nothing");
    expect_err(
        c.list_object_versions().bucket(b).key_marker("k").version_id_marker("zz").send().await,
        400,
        "InvalidArgument",
        "a malformed version-id-marker",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versioned_key_lifecycle_sqlite() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        scenario(&c, &bucket_name("ver", flavour)).await;
        refusals(&c, &bucket_name("verr", flavour)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versioned_key_lifecycle_postgres() {
    let Some(db) = TestDb::create("versioning").await else { return };
    let dir = tempfile::tempdir().unwrap();
    let (ak, sk) = random_keys();
    let gw = Gateway::start_on_with(dir.path(), &ak, &sk, &["--metadata", &db.url]);
    let c = gw.client(Flavour::Default);
    scenario(&c, "ver-pg").await;
    refusals(&c, "verr-pg").await;
    listing_past_a_thousand(&c, "verlist-pg").await;
}

/// More than 1,000 versions of one key written by concurrent writers, plus delimited keys:
/// every version is listed once, in order, whatever the page size.
async fn listing_past_a_thousand(c: &Client, b: &str) {
    create_bucket(c, b).await;
    set_versioning(c, b, BucketVersioningStatus::Enabled).await;
    let mut tasks = Vec::new();
    for t in 0..4 {
        let (c, b) = (c.clone(), b.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..260 {
                ids.push(put_v(&c, &b, "many", format!("{t}-{i}").as_bytes()).await.unwrap());
            }
            ids
        }));
    }
    let mut written: Vec<Vec<String>> = Vec::new();
    for t in tasks {
        written.push(t.await.unwrap());
    }
    for key in ["dir/a", "dir/b", "dir/sub/c", "zz"] {
        put_v(c, b, key, b"1").await;
        put_v(c, b, key, b"2").await;
    }
    for page in [1000, 333] {
        let all = all_versions(c, b, page).await;
        assert_eq!(all.len(), 4 * 260 + 8, "page {page}");
        let many: Vec<&String> = all.iter().filter(|e| e.0 == "many").map(|e| &e.1).collect();
        assert_eq!(many.len(), 1040);
        // Newest first: each writer's versions appear in the reverse of the order it wrote
        // them, and only the first is the latest.
        let pos = |id: &String| many.iter().position(|m| *m == id).unwrap();
        for ids in &written {
            for w in ids.windows(2) {
                assert!(pos(&w[1]) < pos(&w[0]), "a later write lists after an earlier one");
            }
        }
        let latest: Vec<_> = all.iter().filter(|e| e.0 == "many" && e.2).collect();
        assert_eq!(latest.len(), 1);
        assert_eq!(&latest[0].1, many[0]);
        let mut sorted = many.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 1040, "version ids are distinct");
    }
    // Delimited: `dir/` rolls up once, the other keys list their versions.
    let r = c.list_object_versions().bucket(b).delimiter("/").max_keys(1000).send().await;
    let r = r.unwrap();
    let prefixes: Vec<&str> = r.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(prefixes, ["dir/"]);
    // 1,000 entries: the common prefix and 999 of the 1,042 versions.
    assert_eq!(r.versions().len(), 999);
    assert_eq!(r.is_truncated(), Some(true));
    let r = c.list_object_versions().bucket(b).prefix("dir/").delimiter("/").send().await;
    let r = r.unwrap();
    let prefixes: Vec<&str> = r.common_prefixes().iter().filter_map(|p| p.prefix()).collect();
    assert_eq!(prefixes, ["dir/sub/"]);
    assert_eq!(r.versions().len(), 4);
    // A small delimited page that ends on the common prefix continues after it.
    let r = c.list_object_versions().bucket(b).delimiter("/").max_keys(1).send().await.unwrap();
    assert_eq!(r.common_prefixes().len(), 1);
    assert_eq!(r.next_key_marker(), Some("dir/"));
    let r = c
        .list_object_versions()
        .bucket(b)
        .delimiter("/")
        .key_marker("dir/")
        .max_keys(2)
        .send()
        .await
        .unwrap();
    assert!(r.common_prefixes().is_empty());
    assert!(r.versions().iter().all(|v| v.key() == Some("many")));
    // encoding-type=url encodes keys.
    put_v(c, b, "a b+c", b"x").await;
    let r = c
        .list_object_versions()
        .bucket(b)
        .prefix("a ")
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .unwrap();
    // The Rust SDK hands url-encoded keys over as sent.
    assert_eq!(r.versions()[0].key(), Some("a%20b%2Bc"));
    assert_eq!(r.prefix(), Some("a%20"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_listing_past_a_thousand_sqlite() {
    let gw = Gateway::start();
    listing_past_a_thousand(&gw.client(Flavour::Default), "verlist").await;
}
