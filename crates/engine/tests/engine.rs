//! Engine tests on the in-memory stores: no disk, no sockets.
#![allow(clippy::unwrap_used, clippy::too_many_lines, missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use md5::{Digest as _, Md5};
use s3gate_engine::*;
use s3gate_metadata::{MemMetadata, MetadataStore as _};
use s3gate_protocol::{
    BucketName, Checksum, ChecksumAlgorithm, ChecksumType, DeleteConditions, ETag, ErrorCode,
    ObjectKey, PartNumber, Preconditions, RangeSpec, UploadId,
};
use s3gate_storage_backend::{BlobError, BlobId, BlobStore as _, BlobStream, MemBlobs};

type TestEngine = Engine<MemMetadata, MemBlobs>;

fn config() -> EngineConfig {
    let mut c = EngineConfig::new("us-east-1");
    c.min_part_size = 5;
    c.gc_grace = Duration::ZERO;
    c.max_put_size = 1000;
    c
}

fn engine() -> TestEngine {
    Engine::new(MemMetadata::new(), MemBlobs::new(), config())
}

fn alice() -> Caller {
    Caller { user: "alice".into(), is_root: false, authorized: false }
}
fn bob() -> Caller {
    Caller { user: "bob".into(), is_root: false, authorized: false }
}
fn root() -> Caller {
    Caller { user: "root".into(), is_root: true, authorized: false }
}
fn bn(s: &str) -> BucketName {
    BucketName::parse(s).unwrap()
}
fn key(s: &str) -> ObjectKey {
    ObjectKey::parse(s.to_owned()).unwrap()
}
fn md5(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

fn body_of(chunks: Vec<Vec<u8>>) -> ByteStream {
    Box::pin(futures_util::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from(c)))))
}
fn body(data: &[u8]) -> ByteStream {
    // Split in uneven chunks so the pipeline sees several frames.
    let chunks: Vec<Vec<u8>> = data.chunks(3).map(<[u8]>::to_vec).collect();
    body_of(chunks)
}

fn put_req(bucket: &str, k: &str) -> PutObjectRequest {
    PutObjectRequest {
        lock: s3gate_protocol::LockHeaders::default(),
        bucket: bn(bucket),
        key: key(k),
        headers: vec![("content-type".into(), "text/plain".into())],
        tags: vec![],
        integrity: BodyIntegrity::default(),
        condition: WriteCondition::None,
        encryption: SseRequest::Default,
        ownership: s3gate_engine::VersionOwnership::default(),
        storage_class: None,
    }
}

/// Whether `r` is a 412 whose `<Condition>` names `header`.
fn failed_on<T>(r: Result<T, EngineError>, header: &str) -> bool {
    matches!(r, Err(EngineError::Protocol(s)) if s.code == ErrorCode::PreconditionFailed
        && s.extra == [("Condition".to_owned(), header.to_owned())])
}

async fn setup() -> TestEngine {
    let e = engine();
    e.create_bucket(&alice(), &bn("bkt"), None).await.unwrap();
    e
}

async fn put(e: &TestEngine, k: &str, data: &[u8]) -> WriteOutput {
    e.put_object(&alice(), put_req("bkt", k), body(data)).await.unwrap()
}

fn get_req(k: &str) -> GetObjectRequest {
    GetObjectRequest {
        bucket: bn("bkt"),
        key: key(k),
        range: None,
        part_number: None,
        conditions: Preconditions::default(),
        version: VersionRef::Current,
        customer_key: None,
    }
}

async fn collect(mut s: BodyStream) -> Result<Vec<u8>, BlobError> {
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

async fn get(e: &TestEngine, k: &str) -> Vec<u8> {
    let out = e.get_object(&alice(), &get_req(k), false).await.unwrap();
    collect(out.body).await.unwrap()
}

async fn get_range(e: &TestEngine, k: &str, range: RangeSpec) -> Result<Vec<u8>, EngineError> {
    let mut req = get_req(k);
    req.range = Some(range);
    let out = e.get_object(&alice(), &req, false).await?;
    let data = collect(out.body).await.unwrap();
    assert_eq!(data.len() as u64, out.content_length);
    Ok(data)
}

/// Blob ids referenced by the current versions of every listed key of `bkt`.
async fn referenced_blobs(e: &TestEngine) -> BTreeSet<String> {
    let page = e
        .list_objects(
            &alice(),
            &bn("bkt"),
            &ListObjectsRequest { max_keys: 1000, ..Default::default() },
        )
        .await
        .unwrap();
    let mut out = BTreeSet::new();
    for entry in page.entries {
        if let s3gate_metadata::ListEntry::Object(o) = entry {
            let v = e.metadata().object("bkt", &o.key).await.unwrap().unwrap();
            out.extend(v.parts.into_iter().map(|p| p.blob_id));
        }
    }
    out
}

fn stored_blobs(e: &TestEngine) -> BTreeSet<String> {
    e.blobs().ids().into_iter().map(|id| id.as_str().to_owned()).collect()
}

/// After collection the blob store holds exactly the live objects' blobs.
async fn assert_no_leak(e: &TestEngine) {
    e.collect_garbage().await.unwrap();
    assert_eq!(stored_blobs(e), referenced_blobs(e).await);
}

// ---------------------------------------------------------------- buckets

#[tokio::test]
async fn buckets_ownership_and_errors() {
    let e = engine();
    e.create_bucket(&alice(), &bn("a-bkt"), Some("")).await.unwrap();
    e.create_bucket(&alice(), &bn("b-bkt"), Some("us-east-1")).await.unwrap();
    e.create_bucket(&bob(), &bn("c-bkt"), None).await.unwrap();
    // us-east-1 keeps AWS's legacy answer: creating a bucket you own succeeds, changing nothing.
    e.put_object(&alice(), put_req("a-bkt", "k"), body(b"kept")).await.unwrap();
    e.create_bucket(&alice(), &bn("a-bkt"), None).await.unwrap();
    e.create_bucket(&alice(), &bn("a-bkt"), Some("us-east-1")).await.unwrap();
    let mut req = get_req("k");
    req.bucket = bn("a-bkt");
    let out = e.get_object(&alice(), &req, false).await.unwrap();
    assert_eq!(collect(out.body).await.unwrap(), b"kept", "the bucket is not reset");
    e.delete_object(&alice(), &bn("a-bkt"), &key("k"), &VersionRef::Current, WriteCondition::None)
        .await
        .unwrap();
    e.collect_garbage().await.unwrap();
    assert!(matches!(
        e.create_bucket(&bob(), &bn("a-bkt"), None).await,
        Err(EngineError::BucketAlreadyExists)
    ));
    assert!(matches!(
        e.create_bucket(&alice(), &bn("d-bkt"), Some("eu-west-1")).await,
        Err(EngineError::InvalidLocationConstraint)
    ));
    // Every other region answers BucketAlreadyOwnedByYou.
    let eu = Engine::new(MemMetadata::new(), MemBlobs::new(), EngineConfig::new("eu-west-1"));
    eu.create_bucket(&alice(), &bn("a-bkt"), None).await.unwrap();
    assert!(matches!(
        eu.create_bucket(&alice(), &bn("a-bkt"), None).await,
        Err(EngineError::BucketAlreadyOwnedByYou)
    ));
    assert!(matches!(
        eu.create_bucket(&bob(), &bn("a-bkt"), None).await,
        Err(EngineError::BucketAlreadyExists)
    ));
    let names = |v: Vec<Bucket>| v.into_iter().map(|b| b.name).collect::<Vec<_>>();
    assert_eq!(names(e.list_buckets(&alice()).await.unwrap()), ["a-bkt", "b-bkt"]);
    assert_eq!(names(e.list_buckets(&bob()).await.unwrap()), ["c-bkt"]);
    // Root may act on every bucket but lists only its own, as S3 lists the sender's buckets.
    assert!(e.list_buckets(&root()).await.unwrap().is_empty());

    assert_eq!(e.head_bucket(&alice(), &bn("a-bkt")).await.unwrap().owner, "alice");
    assert!(matches!(e.head_bucket(&bob(), &bn("a-bkt")).await, Err(EngineError::AccessDenied)));
    assert!(e.head_bucket(&root(), &bn("a-bkt")).await.is_ok());
    assert!(matches!(e.head_bucket(&alice(), &bn("nope")).await, Err(EngineError::NoSuchBucket)));
    assert_eq!(e.bucket_location(&alice(), &bn("a-bkt")).await.unwrap(), "us-east-1");
    assert!(matches!(
        e.bucket_location(&bob(), &bn("a-bkt")).await,
        Err(EngineError::AccessDenied)
    ));

    // Every object operation checks ownership too.
    assert!(matches!(
        e.put_object(&bob(), put_req("a-bkt", "k"), body(b"x")).await,
        Err(EngineError::AccessDenied)
    ));
    assert!(matches!(
        e.put_object(&alice(), put_req("nope", "k"), body(b"x")).await,
        Err(EngineError::NoSuchBucket)
    ));
    assert!(e.blobs().is_empty());

    e.put_object(&alice(), put_req("a-bkt", "k"), body(b"x")).await.unwrap();
    assert!(matches!(
        e.delete_bucket(&alice(), &bn("a-bkt")).await,
        Err(EngineError::BucketNotEmpty)
    ));
    assert!(matches!(e.delete_bucket(&bob(), &bn("b-bkt")).await, Err(EngineError::AccessDenied)));
    e.delete_bucket(&alice(), &bn("b-bkt")).await.unwrap();
    assert!(matches!(
        e.delete_bucket(&alice(), &bn("b-bkt")).await,
        Err(EngineError::NoSuchBucket)
    ));
}

// ---------------------------------------------------------------- put / get

#[tokio::test]
async fn put_get_head_round_trip() {
    let e = setup().await;
    let data: Vec<u8> = (0..=255u8).cycle().take(700).collect();
    let out = put(&e, "dir/obj", &data).await;
    assert_eq!(out.etag, ETag::from_md5(&md5(&data)));
    assert_eq!(out.version_id, None, "an unversioned bucket reports no version id");
    // No checksum requested: CRC64NVME is computed and stored, as S3 does.
    let crc = Checksum::compute(ChecksumAlgorithm::Crc64Nvme, &data);
    assert_eq!(out.checksum.as_ref(), Some(&crc));
    assert_eq!(out.checksum_type, Some(ChecksumType::FullObject));

    let got = e.get_object(&alice(), &get_req("dir/obj"), false).await.unwrap();
    assert_eq!(got.content_length, 700);
    assert!(got.range.is_none());
    assert_eq!(got.parts_count, None);
    assert_eq!(got.checksum, Some((ChecksumAlgorithm::Crc64Nvme, crc.to_base64())));
    assert_eq!(got.version.headers, [("content-type".to_owned(), "text/plain".to_owned())]);
    assert_eq!(collect(got.body).await.unwrap(), data);

    let head = e.get_object(&alice(), &get_req("dir/obj"), true).await.unwrap();
    assert_eq!(head.content_length, 700);
    assert!(collect(head.body).await.unwrap().is_empty());

    assert!(matches!(
        e.get_object(&alice(), &get_req("missing"), false).await,
        Err(EngineError::NoSuchKey)
    ));
    assert!(matches!(
        e.get_object(&bob(), &get_req("dir/obj"), false).await,
        Err(EngineError::AccessDenied)
    ));

    // Overwrite replaces, and the old blob is collected.
    put(&e, "dir/obj", b"new").await;
    assert_eq!(get(&e, "dir/obj").await, b"new");
    assert_no_leak(&e).await;
    assert_eq!(e.blobs().len(), 1);
}

#[tokio::test]
async fn empty_object_has_no_blob() {
    let e = setup().await;
    let out = put(&e, "empty", b"").await;
    assert_eq!(out.etag.as_str(), "d41d8cd98f00b204e9800998ecf8427e");
    assert!(e.blobs().is_empty());
    let got = e.get_object(&alice(), &get_req("empty"), false).await.unwrap();
    assert_eq!(got.content_length, 0);
    assert!(collect(got.body).await.unwrap().is_empty());
    assert!(matches!(
        get_range(&e, "empty", RangeSpec::FromTo(0, 0)).await,
        Err(EngineError::Protocol(s)) if s.code == ErrorCode::InvalidRange
    ));

    // Declared empty: verified without writing a blob.
    let declared =
        |integrity: BodyIntegrity| PutObjectRequest { integrity, ..put_req("bkt", "e2") };
    let zero = BodyIntegrity { length: Some(0), content_md5: Some(md5(b"")), ..Default::default() };
    let out = e.put_object(&alice(), declared(zero.clone()), body(b"")).await.unwrap();
    assert_eq!(out.checksum, Some(Checksum::compute(ChecksumAlgorithm::Crc64Nvme, b"")));
    assert!(e.blobs().is_empty());
    assert!(get(&e, "e2").await.is_empty());
    assert!(matches!(
        e.put_object(&alice(), declared(zero.clone()), body(b"x")).await,
        Err(EngineError::TooMuchBody)
    ));
    let bad_md5 = BodyIntegrity { content_md5: Some(md5(b"x")), ..zero.clone() };
    assert!(matches!(
        e.put_object(&alice(), declared(bad_md5), body(b"")).await,
        Err(EngineError::BadDigest)
    ));
    let alg = ChecksumAlgorithm::Sha1;
    let bad_sum = BodyIntegrity {
        checksum: Some(ChecksumRequest {
            algorithm: alg,
            expected: ExpectedChecksum::Header(Checksum::compute(alg, b"x").to_base64()),
        }),
        ..zero
    };
    assert!(matches!(
        e.put_object(&alice(), declared(bad_sum), body(b"")).await,
        Err(EngineError::ChecksumMismatch(ChecksumAlgorithm::Sha1))
    ));
    assert!(e.blobs().is_empty());
}

#[tokio::test]
async fn read_preconditions() {
    let e = setup().await;
    let out = put(&e, "k", b"hello").await;
    let cond = |f: fn(&mut Preconditions, String), etag: &str| {
        let mut req = get_req("k");
        f(&mut req.conditions, etag.to_owned());
        req
    };
    let quoted = out.etag.quoted();
    let ok = cond(|c, v| c.if_match = Some(v), &quoted);
    assert!(e.get_object(&alice(), &ok, false).await.is_ok());
    let bad = cond(|c, v| c.if_match = Some(v), "\"nope\"");
    assert!(failed_on(e.get_object(&alice(), &bad, true).await, "If-Match"));
    let nm = cond(|c, v| c.if_none_match = Some(v), &quoted);
    assert!(matches!(
        e.get_object(&alice(), &nm, false).await,
        Err(EngineError::NotModified { .. })
    ));
    let nm_other = cond(|c, v| c.if_none_match = Some(v), "\"other\"");
    assert!(e.get_object(&alice(), &nm_other, false).await.is_ok());
}

#[tokio::test]
async fn simple_ranges_and_part_numbers() {
    let e = setup().await;
    put(&e, "k", b"0123456789").await;
    assert_eq!(get_range(&e, "k", RangeSpec::FromTo(2, 4)).await.unwrap(), b"234");
    assert_eq!(get_range(&e, "k", RangeSpec::From(7)).await.unwrap(), b"789");
    assert_eq!(get_range(&e, "k", RangeSpec::Suffix(3)).await.unwrap(), b"789");
    assert_eq!(get_range(&e, "k", RangeSpec::FromTo(8, 100)).await.unwrap(), b"89");
    assert!(matches!(
        get_range(&e, "k", RangeSpec::From(10)).await,
        Err(EngineError::Protocol(s)) if s.code == ErrorCode::InvalidRange
    ));
    // A range never carries a checksum.
    let mut req = get_req("k");
    req.range = Some(RangeSpec::FromTo(0, 1));
    let out = e.get_object(&alice(), &req, true).await.unwrap();
    assert!(out.checksum.is_none());
    assert_eq!(out.range.unwrap().content_range(10), "bytes 0-1/10");

    let mut req = get_req("k");
    req.part_number = Some(PartNumber::parse("1").unwrap());
    let out = e.get_object(&alice(), &req, false).await.unwrap();
    assert_eq!(out.content_length, 10);
    assert!(out.checksum.is_some());
    assert_eq!(collect(out.body).await.unwrap(), b"0123456789");
    req.part_number = Some(PartNumber::parse("2").unwrap());
    assert!(matches!(
        e.get_object(&alice(), &req, false).await,
        Err(EngineError::Protocol(s)) if s.code == ErrorCode::InvalidPartNumber
    ));
    req.range = Some(RangeSpec::From(0));
    assert!(matches!(
        e.get_object(&alice(), &req, false).await,
        Err(EngineError::InvalidRequest(_))
    ));
}

// ---------------------------------------------------------------- integrity

fn with_integrity(integrity: BodyIntegrity) -> PutObjectRequest {
    PutObjectRequest { integrity, ..put_req("bkt", "k") }
}

async fn put_err(e: &TestEngine, integrity: BodyIntegrity, b: ByteStream) -> EngineError {
    let err = e.put_object(&alice(), with_integrity(integrity), b).await.unwrap_err();
    // Nothing is stored on failure.
    assert!(e.blobs().is_empty(), "blob left after {err:?}");
    assert!(e.metadata().object("bkt", "k").await.unwrap().is_none());
    err
}

#[tokio::test]
async fn content_md5_and_length() {
    let e = setup().await;
    let data = b"some bytes here";
    let ok = BodyIntegrity { content_md5: Some(md5(data)), length: Some(15), ..Default::default() };
    e.put_object(&alice(), with_integrity(ok), body(data)).await.unwrap();
    e.delete_object(&alice(), &bn("bkt"), &key("k"), &VersionRef::Current, WriteCondition::None)
        .await
        .unwrap();
    e.collect_garbage().await.unwrap();
    assert!(e.blobs().is_empty());

    let bad = BodyIntegrity { content_md5: Some(md5(b"other")), ..Default::default() };
    assert!(matches!(put_err(&e, bad, body(data)).await, EngineError::BadDigest));
    let short = BodyIntegrity { length: Some(20), ..Default::default() };
    assert!(matches!(
        put_err(&e, short, body(data)).await,
        EngineError::IncompleteBody { expected: 20, received: 15 }
    ));
    let long = BodyIntegrity { length: Some(10), ..Default::default() };
    assert!(matches!(put_err(&e, long, body(data)).await, EngineError::TooMuchBody));
    let declared_big = BodyIntegrity { length: Some(1001), ..Default::default() };
    assert!(matches!(put_err(&e, declared_big, body(data)).await, EngineError::EntityTooLarge));
    let streamed_big = vec![0u8; 1001];
    assert!(matches!(
        put_err(&e, BodyIntegrity::default(), body(&streamed_big)).await,
        EngineError::EntityTooLarge
    ));
}

#[derive(Debug, thiserror::Error)]
#[error("client went away")]
struct ClientGone;

#[tokio::test]
async fn body_error_midway_stores_nothing() {
    let e = setup().await;
    let items: Vec<Result<Bytes, BoxError>> = vec![
        Ok(Bytes::from_static(b"abc")),
        Ok(Bytes::from_static(b"def")),
        Err(Box::new(ClientGone)),
    ];
    let b: ByteStream = Box::pin(futures_util::stream::iter(items));
    match put_err(&e, BodyIntegrity::default(), b).await {
        EngineError::Body(inner) => assert!(inner.downcast_ref::<ClientGone>().is_some()),
        other => panic!("unexpected {other:?}"),
    }
}

fn checksum_integrity(alg: ChecksumAlgorithm, expected: ExpectedChecksum) -> BodyIntegrity {
    BodyIntegrity {
        checksum: Some(ChecksumRequest { algorithm: alg, expected }),
        ..Default::default()
    }
}

#[tokio::test]
async fn checksums_header_and_trailer() {
    let e = setup().await;
    let data = b"checksummed body";
    for &alg in ChecksumAlgorithm::all() {
        let good = Checksum::compute(alg, data).to_base64();
        let out = e
            .put_object(
                &alice(),
                with_integrity(checksum_integrity(alg, ExpectedChecksum::Header(good.clone()))),
                body(data),
            )
            .await
            .unwrap();
        assert_eq!(out.checksum.unwrap().to_base64(), good);
        let got = e.get_object(&alice(), &get_req("k"), true).await.unwrap();
        assert_eq!(got.checksum, Some((alg, good.clone())));
        assert_eq!(got.version.checksum_algorithm.as_deref(), Some(alg.as_str()));
    }
    e.delete_object(&alice(), &bn("bkt"), &key("k"), &VersionRef::Current, WriteCondition::None)
        .await
        .unwrap();
    e.collect_garbage().await.unwrap();
    assert!(e.blobs().is_empty());

    let alg = ChecksumAlgorithm::Crc32;
    let wrong = Checksum::compute(alg, b"other").to_base64();
    assert!(matches!(
        put_err(&e, checksum_integrity(alg, ExpectedChecksum::Header(wrong.clone())), body(data))
            .await,
        EngineError::ChecksumMismatch(ChecksumAlgorithm::Crc32)
    ));
    assert!(matches!(
        put_err(&e, checksum_integrity(alg, ExpectedChecksum::Header("!!".into())), body(data)).await,
        EngineError::Protocol(s) if s.code == ErrorCode::InvalidRequest
    ));
    // Trailer: empty slot after the body = missing trailer.
    let slot = Arc::new(OnceLock::new());
    assert!(matches!(
        put_err(&e, checksum_integrity(alg, ExpectedChecksum::Trailer(slot)), body(data)).await,
        EngineError::TrailerMissing(name) if name == "x-amz-checksum-crc32"
    ));
    let slot = Arc::new(OnceLock::new());
    slot.set(wrong).unwrap();
    assert!(matches!(
        put_err(&e, checksum_integrity(alg, ExpectedChecksum::Trailer(slot)), body(data)).await,
        EngineError::ChecksumMismatch(ChecksumAlgorithm::Crc32)
    ));
    // A trailer filled by the body stream itself, just before it ends.
    let slot = Arc::new(OnceLock::new());
    let good = Checksum::compute(alg, data).to_base64();
    let filler = Arc::clone(&slot);
    let chunks = futures_util::stream::iter(vec![Ok(Bytes::from_static(data))]).chain(
        futures_util::stream::once(async move {
            filler.set(good).unwrap();
            Ok(Bytes::new())
        }),
    );
    let out = e
        .put_object(
            &alice(),
            with_integrity(checksum_integrity(alg, ExpectedChecksum::Trailer(slot))),
            Box::pin(chunks),
        )
        .await
        .unwrap();
    assert_eq!(out.checksum, Some(Checksum::compute(alg, data)));
    // Compute: stored without comparison.
    let out = e
        .put_object(
            &alice(),
            with_integrity(checksum_integrity(
                ChecksumAlgorithm::Sha256,
                ExpectedChecksum::Compute,
            )),
            body(data),
        )
        .await
        .unwrap();
    assert_eq!(out.checksum, Some(Checksum::compute(ChecksumAlgorithm::Sha256, data)));
    assert_no_leak(&e).await;
}

// ---------------------------------------------------------------- conditional writes, delete

#[tokio::test]
async fn conditional_writes() {
    let e = setup().await;
    let cond = |c: WriteCondition| PutObjectRequest { condition: c, ..put_req("bkt", "k") };
    assert!(matches!(
        e.put_object(&alice(), cond(WriteCondition::IfMatch("abc".into())), body(b"1")).await,
        Err(EngineError::NoSuchKey)
    ));
    let first =
        e.put_object(&alice(), cond(WriteCondition::IfNoneMatchAny), body(b"1")).await.unwrap();
    assert!(matches!(
        e.put_object(&alice(), cond(WriteCondition::IfNoneMatchAny), body(b"2")).await,
        Err(EngineError::PreconditionFailed)
    ));
    assert!(matches!(
        e.put_object(&alice(), cond(WriteCondition::IfMatch("0000".into())), body(b"2")).await,
        Err(EngineError::PreconditionFailed)
    ));
    e.put_object(&alice(), cond(WriteCondition::IfMatch(first.etag.as_str().into())), body(b"3"))
        .await
        .unwrap();
    assert_eq!(get(&e, "k").await, b"3");
    // Failed conditional writes leave no blob behind.
    assert_no_leak(&e).await;
    assert_eq!(e.blobs().len(), 1);

    assert!(matches!(
        e.delete_object(
            &alice(),
            &bn("bkt"),
            &key("k"),
            &VersionRef::Current,
            WriteCondition::IfMatch("x".into())
        )
        .await,
        Err(EngineError::PreconditionFailed)
    ));
}

/// Conditional deletes (2025): If-Match, size and Last-Modified on DeleteObject, and the same
/// per DeleteObjects entry, where a failing entry fails alone.
#[tokio::test]
async fn conditional_deletes() {
    let e = setup().await;
    let out = put(&e, "k", b"seven b").await;
    let lm = e.get_object(&alice(), &get_req("k"), true).await.unwrap().version.last_modified;
    let del = |c: DeleteConditions| {
        let e = &e;
        async move {
            e.delete_object_if(&alice(), &bn("bkt"), &key("k"), &VersionRef::Current, &c, false)
                .await
        }
    };
    let later = lm + Duration::from_secs(5);
    assert!(failed_on(
        del(DeleteConditions { if_match: Some("\"x\"".into()), ..Default::default() }).await,
        "If-Match"
    ));
    assert!(failed_on(
        del(DeleteConditions { size: Some(8), ..Default::default() }).await,
        "x-amz-if-match-size"
    ));
    assert!(failed_on(
        del(DeleteConditions { last_modified: Some(later), ..Default::default() }).await,
        "x-amz-if-match-last-modified-time"
    ));
    assert_eq!(get(&e, "k").await, b"seven b", "nothing deleted");
    del(DeleteConditions {
        if_match: Some(out.etag.quoted()),
        size: Some(7),
        last_modified: Some(lm),
    })
    .await
    .unwrap();
    assert!(matches!(
        del(DeleteConditions { size: Some(7), ..Default::default() }).await,
        Err(EngineError::Protocol(s)) if s.code == ErrorCode::NoSuchKey
    ));

    put(&e, "a", b"aa").await;
    put(&e, "b", b"bb").await;
    let results = e
        .delete_objects_if(
            &alice(),
            &bn("bkt"),
            vec![
                ("a".into(), None, DeleteConditions { size: Some(2), ..Default::default() }),
                ("b".into(), None, DeleteConditions { size: Some(3), ..Default::default() }),
            ],
            false,
        )
        .await
        .unwrap();
    assert!(results[0].2.is_ok());
    assert!(matches!(&results[1].2, Err(EngineError::Protocol(s))
        if s.code == ErrorCode::PreconditionFailed && s.extra[0].1 == "x-amz-if-match-size"));
    assert_eq!(get(&e, "b").await, b"bb");
}

/// Regression: a version id the gateway never issued used to be ignored, so DeleteObject and
/// DeleteObjects entries deleted the current version whatever id they named.
#[tokio::test]
async fn a_bogus_version_id_deletes_nothing() {
    let e = setup().await;
    put(&e, "k", b"keep me").await;
    let bogus = VersionRef::parse(Some("X"));
    assert!(
        matches!(&bogus, Err(EngineError::Protocol(s)) if s.code == ErrorCode::InvalidArgument)
    );
    let results =
        e.delete_objects(&alice(), &bn("bkt"), vec![("k".into(), Some("X".into()))]).await.unwrap();
    assert!(matches!(
        &results[0].2,
        Err(EngineError::Protocol(s)) if s.code == ErrorCode::InvalidArgument
    ));
    assert_eq!(
        collect(e.get_object(&alice(), &get_req("k"), false).await.unwrap().body).await.unwrap(),
        b"keep me"
    );
    // `null` names the version an unversioned bucket keeps: it is deleted.
    e.delete_object(&alice(), &bn("bkt"), &key("k"), &VersionRef::Null, WriteCondition::None)
        .await
        .unwrap();
    assert!(matches!(
        e.get_object(&alice(), &get_req("k"), false).await,
        Err(EngineError::NoSuchKey)
    ));
}

#[tokio::test]
async fn delete_is_idempotent_and_batch_reports_per_key() {
    let e = setup().await;
    put(&e, "a", b"1").await;
    put(&e, "b", b"2").await;
    e.delete_object(
        &alice(),
        &bn("bkt"),
        &key("missing"),
        &VersionRef::Current,
        WriteCondition::None,
    )
    .await
    .unwrap();
    let results = e
        .delete_objects(
            &alice(),
            &bn("bkt"),
            vec![("a".into(), None), (String::new(), None), ("zzz".into(), None)],
        )
        .await
        .unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].0, "a");
    assert!(results[0].2.is_ok());
    assert!(matches!(&results[1].2, Err(EngineError::Protocol(_))));
    assert!(results[2].2.is_ok());
    assert!(matches!(
        e.delete_objects(&bob(), &bn("bkt"), vec![("b".into(), None)]).await,
        Err(EngineError::AccessDenied)
    ));
    assert!(matches!(
        e.get_object(&alice(), &get_req("a"), false).await,
        Err(EngineError::NoSuchKey)
    ));
    assert_eq!(get(&e, "b").await, b"2");
    assert_no_leak(&e).await;
}

// ---------------------------------------------------------------- copy

fn copy_req(src: &str, dst: &str) -> CopyObjectRequest {
    CopyObjectRequest {
        lock: s3gate_protocol::LockHeaders::default(),
        source_bucket: bn("bkt"),
        source_key: key(src),
        source_version: VersionRef::Current,
        source_conditions: Preconditions::default(),
        bucket: bn("bkt"),
        key: key(dst),
        metadata_directive: MetadataDirective::Copy,
        headers: vec![],
        tags: None,
        condition: WriteCondition::None,
        encryption: SseRequest::Default,
        source_customer_key: None,
        ownership: s3gate_engine::VersionOwnership::default(),
        storage_class: None,
    }
}

#[tokio::test]
async fn copy_shares_blobs_and_follows_directives() {
    let e = setup().await;
    let mut req = put_req("bkt", "src");
    req.tags = vec![("t".into(), "1".into())];
    let src = e.put_object(&alice(), req, body(b"copy me")).await.unwrap();
    let out = e.copy_object(&alice(), copy_req("src", "dst")).await.unwrap();
    assert_eq!(out.etag, src.etag);
    assert_eq!(e.blobs().len(), 1, "copy must share the blob");
    let dst = e.get_object(&alice(), &get_req("dst"), false).await.unwrap();
    assert_eq!(dst.version.headers, [("content-type".to_owned(), "text/plain".to_owned())]);
    assert_eq!(dst.version.tags, [("t".to_owned(), "1".to_owned())]);
    assert_eq!(collect(dst.body).await.unwrap(), b"copy me");

    let mut replace = copy_req("src", "dst2");
    replace.metadata_directive = MetadataDirective::Replace;
    replace.headers = vec![("x-amz-meta-a".into(), "b".into())];
    replace.tags = Some(vec![]);
    e.copy_object(&alice(), replace).await.unwrap();
    let v = e.metadata().object("bkt", "dst2").await.unwrap().unwrap();
    assert_eq!(v.headers, [("x-amz-meta-a".to_owned(), "b".to_owned())]);
    assert!(v.tags.is_empty());

    // Deleting the source keeps the copies readable.
    e.delete_object(&alice(), &bn("bkt"), &key("src"), &VersionRef::Current, WriteCondition::None)
        .await
        .unwrap();
    e.collect_garbage().await.unwrap();
    assert_eq!(get(&e, "dst").await, b"copy me");
    assert_eq!(get(&e, "dst2").await, b"copy me");

    assert!(matches!(
        e.copy_object(&alice(), copy_req("dst", "dst")).await,
        Err(EngineError::InvalidRequest(m)) if m.contains("copy an object to itself")
    ));
    let mut self_replace = copy_req("dst", "dst");
    self_replace.metadata_directive = MetadataDirective::Replace;
    e.copy_object(&alice(), self_replace).await.unwrap();
    assert!(matches!(
        e.copy_object(&alice(), copy_req("src", "x")).await,
        Err(EngineError::NoSuchKey)
    ));
    let mut failing = copy_req("dst", "x");
    failing.source_conditions.if_match = Some("\"nope\"".into());
    assert!(failed_on(e.copy_object(&alice(), failing).await, "x-amz-copy-source-If-Match"));
    let mut failing = copy_req("dst", "x");
    failing.source_conditions.if_none_match = Some(src.etag.quoted());
    assert!(failed_on(e.copy_object(&alice(), failing).await, "x-amz-copy-source-If-None-Match"));
    let mut guarded = copy_req("dst", "dst2");
    guarded.condition = WriteCondition::IfNoneMatchAny;
    assert!(matches!(e.copy_object(&alice(), guarded).await, Err(EngineError::PreconditionFailed)));
    assert!(matches!(
        e.copy_object(&bob(), copy_req("dst", "x")).await,
        Err(EngineError::AccessDenied)
    ));
    assert_no_leak(&e).await;
    assert_eq!(e.blobs().len(), 1);
}

// ---------------------------------------------------------------- multipart

async fn create(e: &TestEngine, k: &str, alg: Option<ChecksumAlgorithm>) -> UploadId {
    e.create_upload(
        &alice(),
        CreateUploadRequest {
            lock: s3gate_protocol::LockHeaders::default(),
            ownership: s3gate_engine::VersionOwnership::default(),
            storage_class: None,
            bucket: bn("bkt"),
            key: key(k),
            headers: vec![("content-type".into(), "application/x".into())],
            tags: vec![],
            checksum_algorithm: alg,
            checksum_type: None,
            encryption: SseRequest::Default,
        },
    )
    .await
    .unwrap()
}

fn part_req(k: &str, id: &UploadId, n: u32) -> UploadPartRequest {
    UploadPartRequest {
        bucket: bn("bkt"),
        key: key(k),
        upload_id: id.clone(),
        part_number: PartNumber::parse(&n.to_string()).unwrap(),
        integrity: BodyIntegrity::default(),
        customer_key: None,
    }
}

async fn upload(e: &TestEngine, k: &str, id: &UploadId, n: u32, data: &[u8]) -> PartOutput {
    e.upload_part(&alice(), part_req(k, id, n), body(data)).await.unwrap()
}

fn complete_req(k: &str, id: &UploadId, parts: &[(u32, &ETag)]) -> CompleteUploadRequest {
    CompleteUploadRequest {
        bucket: bn("bkt"),
        key: key(k),
        upload_id: id.clone(),
        parts: parts
            .iter()
            .map(|(n, etag)| CompletePart {
                part_number: *n,
                etag: etag.quoted(),
                checksums: vec![],
            })
            .collect(),
        condition: WriteCondition::None,
        expected_checksum: None,
    }
}

/// A 3-part object of 5, 7 and 3 bytes.
async fn three_parts(e: &TestEngine) -> Vec<u8> {
    let id = create(e, "mp", None).await;
    let parts: [&[u8]; 3] = [b"AAAAA", b"BBBBBBB", b"CCC"];
    let mut etags = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        etags.push(upload(e, "mp", &id, u32::try_from(i).unwrap() + 1, p).await.etag);
    }
    let out = e
        .complete_upload(
            &alice(),
            complete_req("mp", &id, &[(1, &etags[0]), (2, &etags[1]), (3, &etags[2])]),
        )
        .await
        .unwrap();
    let md5s: Vec<[u8; 16]> = parts.iter().map(|p| md5(p)).collect();
    assert_eq!(out.etag, ETag::multipart(&md5s));
    assert!(out.etag.as_str().ends_with("-3"));
    parts.concat()
}

#[tokio::test]
async fn multipart_round_trip_and_every_range() {
    let e = setup().await;
    let model = three_parts(&e).await;
    assert_eq!(get(&e, "mp").await, model);
    let head = e.get_object(&alice(), &get_req("mp"), true).await.unwrap();
    assert_eq!(head.parts_count, Some(3));
    assert_eq!(head.version.headers, [("content-type".to_owned(), "application/x".to_owned())]);
    let n = model.len() as u64;
    for start in 0..n {
        for end in start..n + 2 {
            let got = get_range(&e, "mp", RangeSpec::FromTo(start, end)).await.unwrap();
            let end = usize::try_from(end.min(n - 1)).unwrap();
            assert_eq!(got, model[usize::try_from(start).unwrap()..=end], "{start}-{end}");
        }
    }
    for (part, want) in [(1, &b"AAAAA"[..]), (2, b"BBBBBBB"), (3, b"CCC")] {
        let mut req = get_req("mp");
        req.part_number = Some(PartNumber::parse(&part.to_string()).unwrap());
        let out = e.get_object(&alice(), &req, false).await.unwrap();
        assert_eq!(out.parts_count, Some(3));
        assert_eq!(collect(out.body).await.unwrap(), want);
    }
    let mut req = get_req("mp");
    req.part_number = Some(PartNumber::parse("4").unwrap());
    assert!(matches!(
        e.get_object(&alice(), &req, false).await,
        Err(EngineError::Protocol(s)) if s.code == ErrorCode::InvalidPartNumber
    ));
    assert_no_leak(&e).await;
    assert_eq!(e.blobs().len(), 3);
}

#[tokio::test]
async fn multipart_validation() {
    let e = setup().await;
    let id = create(&e, "mp", None).await;
    let p1 = upload(&e, "mp", &id, 1, b"111111").await.etag;
    let p2 = upload(&e, "mp", &id, 2, b"22").await.etag;
    let p3 = upload(&e, "mp", &id, 3, b"333333").await.etag;
    // Re-upload replaces part 3 (its old blob is retired).
    let p3b = upload(&e, "mp", &id, 3, b"3333333").await.etag;
    let err = |r: Result<WriteOutput, EngineError>| r.unwrap_err();

    assert!(matches!(
        err(e.complete_upload(&alice(), complete_req("mp", &id, &[(2, &p2), (1, &p1)])).await),
        EngineError::InvalidPartOrder
    ));
    assert!(matches!(
        err(e.complete_upload(&alice(), complete_req("mp", &id, &[(1, &p1), (1, &p1)])).await),
        EngineError::InvalidPartOrder
    ));
    assert!(matches!(
        err(e.complete_upload(&alice(), complete_req("mp", &id, &[(0, &p1)])).await),
        EngineError::InvalidArgument(_)
    ));
    assert!(matches!(
        err(e.complete_upload(&alice(), complete_req("mp", &id, &[(10_001, &p1)])).await),
        EngineError::InvalidArgument(_)
    ));
    assert!(matches!(
        err(e.complete_upload(&alice(), complete_req("mp", &id, &[(1, &p1), (3, &p3)])).await),
        EngineError::InvalidPart(_)
    ));
    assert!(matches!(
        err(e.complete_upload(&alice(), complete_req("mp", &id, &[(1, &p1), (4, &p3b)])).await),
        EngineError::InvalidPart(_)
    ));
    assert!(matches!(
        err(e.complete_upload(&alice(), complete_req("mp", &id, &[(2, &p2), (3, &p3b)])).await),
        EngineError::EntityTooSmall
    ));
    assert!(matches!(
        err(e.complete_upload(&alice(), complete_req("other", &id, &[(1, &p1)])).await),
        EngineError::NoSuchUpload
    ));
    assert!(matches!(
        e.upload_part(&alice(), part_req("other", &id, 1), body(b"x")).await,
        Err(EngineError::NoSuchUpload)
    ));
    assert!(matches!(
        e.upload_part(&bob(), part_req("mp", &id, 1), body(b"x")).await,
        Err(EngineError::AccessDenied)
    ));

    let page = e.list_parts(&alice(), &bn("bkt"), &key("mp"), &id, 0, 2).await.unwrap();
    assert!(page.is_truncated);
    assert_eq!(page.parts.iter().map(|p| p.part_number).collect::<Vec<_>>(), [1, 2]);
    let page = e.list_parts(&alice(), &bn("bkt"), &key("mp"), &id, 2, 10).await.unwrap();
    assert!(!page.is_truncated);
    assert_eq!(page.parts[0].etag, p3b.as_str());
    assert_eq!(page.parts[0].size, 7);
    let uploads = e
        .list_uploads(
            &alice(),
            &bn("bkt"),
            &UploadListQuery { max_uploads: 10, ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!(uploads.entries.len(), 1);

    // Part 2 is the last one listed, so it may be small; part 3 is unlisted and dropped.
    let quoted_or_not = CompleteUploadRequest {
        parts: vec![
            CompletePart { part_number: 1, etag: p1.as_str().into(), checksums: vec![] },
            CompletePart { part_number: 2, etag: p2.quoted(), checksums: vec![] },
        ],
        ..complete_req("mp", &id, &[])
    };
    e.complete_upload(&alice(), quoted_or_not).await.unwrap();
    assert_eq!(get(&e, "mp").await, b"11111122");
    assert!(matches!(
        e.list_parts(&alice(), &bn("bkt"), &key("mp"), &id, 0, 10).await,
        Err(EngineError::NoSuchUpload)
    ));
    assert_no_leak(&e).await;
    assert_eq!(e.blobs().len(), 2);

    // Abort drops the upload and, after collection, its blobs.
    let id = create(&e, "ab", None).await;
    upload(&e, "ab", &id, 1, b"zzz").await;
    assert!(matches!(
        e.abort_upload(&alice(), &bn("bkt"), &key("other"), &id).await,
        Err(EngineError::NoSuchUpload)
    ));
    e.abort_upload(&alice(), &bn("bkt"), &key("ab"), &id).await.unwrap();
    assert!(matches!(
        e.abort_upload(&alice(), &bn("bkt"), &key("ab"), &id).await,
        Err(EngineError::NoSuchUpload)
    ));
    assert!(matches!(
        e.upload_part(&alice(), part_req("ab", &id, 1), body(b"x")).await,
        Err(EngineError::NoSuchUpload)
    ));
    assert_no_leak(&e).await;
    assert_eq!(e.blobs().len(), 2);
}

/// SDKs retry CompleteMultipartUpload when its reply is lost: the retry of a Complete that
/// succeeded answers the same object and changes nothing; anything else about the gone upload
/// is still NoSuchUpload.
#[tokio::test]
async fn retried_complete_answers_the_completed_object() {
    let e = setup().await;
    let id = create(&e, "mp", None).await;
    let p1 = upload(&e, "mp", &id, 1, b"111111").await.etag;
    // A retried UploadPart of identical bytes is the same part.
    assert_eq!(
        upload(&e, "mp", &id, 2, b"22").await.etag,
        upload(&e, "mp", &id, 2, b"22").await.etag
    );
    let p2 = upload(&e, "mp", &id, 2, b"22").await.etag;
    let req = complete_req("mp", &id, &[(1, &p1), (2, &p2)]);
    let first = e.complete_upload(&alice(), req.clone()).await.unwrap();
    let before = e.get_object(&alice(), &get_req("mp"), true).await.unwrap().version;
    let again = e.complete_upload(&alice(), req.clone()).await.unwrap();
    assert_eq!(
        (again.etag, again.checksum_value, again.last_modified),
        (first.etag, first.checksum_value, first.last_modified),
        "same ETag, checksum and Last-Modified"
    );
    let after = e.get_object(&alice(), &get_req("mp"), true).await.unwrap().version;
    assert_eq!(after, before, "nothing changed");
    assert_no_leak(&e).await;

    let no_such = |r: Result<WriteOutput, EngineError>| matches!(r, Err(EngineError::NoSuchUpload));
    // Other parts, another key, another caller: the upload is gone.
    assert!(no_such(e.complete_upload(&alice(), complete_req("mp", &id, &[(1, &p1)])).await));
    assert!(no_such(
        e.complete_upload(&alice(), complete_req("mp", &id, &[(1, &p2), (2, &p2)])).await
    ));
    assert!(no_such(
        e.complete_upload(&alice(), complete_req("other", &id, &[(1, &p1), (2, &p2)])).await
    ));
    e.put_object(&alice(), put_req("bkt", "mp"), body(b"overwritten")).await.unwrap();
    assert!(
        no_such(e.complete_upload(&alice(), req).await),
        "the object is no longer the upload's"
    );
    assert_eq!(get(&e, "mp").await, b"overwritten");
}

/// A part checksum in another algorithm than the upload's is refused before any byte is
/// stored; the whole-object checksum sent with Complete must match the object's.
#[tokio::test]
async fn multipart_checksum_algorithm_and_whole_object_value() {
    let e = setup().await;
    let alg = ChecksumAlgorithm::Sha256;
    let id = create(&e, "mp", Some(alg)).await;
    let mut req = part_req("mp", &id, 1);
    req.integrity.checksum = Some(ChecksumRequest {
        algorithm: ChecksumAlgorithm::Crc32,
        expected: ExpectedChecksum::Compute,
    });
    match e.upload_part(&alice(), req, body(b"hello")).await {
        Err(EngineError::InvalidRequest(m)) => assert_eq!(
            m,
            "Checksum Type mismatch occurred, expected checksum Type: sha256, actual checksum Type: crc32"
        ),
        other => panic!("{other:?}"),
    }
    assert!(
        e.list_parts(&alice(), &bn("bkt"), &key("mp"), &id, 0, 10).await.unwrap().parts.is_empty()
    );
    let a = upload(&e, "mp", &id, 1, b"hello").await;
    let composite = s3gate_protocol::composite_checksum(alg, &[a.checksum.clone().unwrap()]);
    let with = |value: Option<(ChecksumAlgorithm, &str)>| CompleteUploadRequest {
        expected_checksum: value.map(|(a, v)| (a, v.to_owned())),
        ..complete_req("mp", &id, &[(1, &a.etag)])
    };
    let bad = Checksum::compute(alg, b"nope").to_base64();
    assert!(matches!(
        e.complete_upload(&alice(), with(Some((alg, &bad)))).await,
        Err(EngineError::ChecksumMismatch(ChecksumAlgorithm::Sha256))
    ));
    assert!(matches!(
        e.complete_upload(&alice(), with(Some((ChecksumAlgorithm::Crc32, "AAAAAA==")))).await,
        Err(EngineError::InvalidRequest(m)) if m.contains("expected checksum Type: sha256, actual checksum Type: crc32")
    ));
    assert!(
        e.list_parts(&alice(), &bn("bkt"), &key("mp"), &id, 0, 10).await.is_ok(),
        "refused Completes leave the upload"
    );
    // Composite with its `-N`, and without it; the retry is held to the same value.
    let out = e.complete_upload(&alice(), with(Some((alg, &composite)))).await.unwrap();
    assert_eq!(out.checksum_value, Some((alg, composite.clone())));
    let bare = composite.split('-').next().unwrap().to_owned();
    e.complete_upload(&alice(), with(Some((alg, &bare)))).await.unwrap();
    assert!(matches!(
        e.complete_upload(&alice(), with(Some((alg, &bad)))).await,
        Err(EngineError::ChecksumMismatch(_))
    ));
}

#[tokio::test]
async fn multipart_checksums() {
    let e = setup().await;
    let alg = ChecksumAlgorithm::Crc32;
    let id = create(&e, "mp", Some(alg)).await;
    let a = upload(&e, "mp", &id, 1, b"hello").await;
    let b = upload(&e, "mp", &id, 2, b"world").await;
    assert_eq!(a.checksum, Some(Checksum::compute(alg, b"hello")));
    let mut req = complete_req("mp", &id, &[(1, &a.etag), (2, &b.etag)]);
    req.parts[0].checksums = vec![(alg, Checksum::compute(alg, b"nope").to_base64())];
    assert!(matches!(
        e.complete_upload(&alice(), req.clone()).await,
        Err(EngineError::InvalidPart(_))
    ));
    req.parts[0].checksums = vec![(alg, a.checksum.as_ref().unwrap().to_base64())];
    let out = e.complete_upload(&alice(), req).await.unwrap();
    let expected = s3gate_protocol::composite_checksum(
        alg,
        &[a.checksum.clone().unwrap(), b.checksum.clone().unwrap()],
    );
    assert_eq!(out.checksum_type, Some(ChecksumType::Composite));
    assert_eq!(out.checksum_value, Some((alg, expected.clone())));
    let got = e.get_object(&alice(), &get_req("mp"), true).await.unwrap();
    assert_eq!(got.checksum, Some((alg, expected)));
    let mut part = get_req("mp");
    part.part_number = Some(PartNumber::parse("2").unwrap());
    let got = e.get_object(&alice(), &part, true).await.unwrap();
    assert_eq!(got.checksum, Some((alg, b.checksum.unwrap().to_base64())));

    // Full-object type combines the part CRCs into the CRC of the whole object.
    let id = e
        .create_upload(
            &alice(),
            CreateUploadRequest {
                lock: s3gate_protocol::LockHeaders::default(),
                ownership: s3gate_engine::VersionOwnership::default(),
                storage_class: None,
                bucket: bn("bkt"),
                key: key("full"),
                headers: vec![],
                tags: vec![],
                checksum_algorithm: Some(ChecksumAlgorithm::Crc64Nvme),
                checksum_type: Some(ChecksumType::FullObject),
                encryption: SseRequest::Default,
            },
        )
        .await
        .unwrap();
    let a = upload(&e, "full", &id, 1, b"hello").await;
    let b = upload(&e, "full", &id, 2, b"world").await;
    let out = e
        .complete_upload(&alice(), complete_req("full", &id, &[(1, &a.etag), (2, &b.etag)]))
        .await
        .unwrap();
    assert_eq!(out.checksum, Some(Checksum::compute(ChecksumAlgorithm::Crc64Nvme, b"helloworld")));
    assert_eq!(out.checksum_type, Some(ChecksumType::FullObject));

    // Invalid combinations are refused at creation.
    let bad = CreateUploadRequest {
        lock: s3gate_protocol::LockHeaders::default(),
        ownership: s3gate_engine::VersionOwnership::default(),
        storage_class: None,
        bucket: bn("bkt"),
        key: key("x"),
        headers: vec![],
        tags: vec![],
        checksum_algorithm: Some(ChecksumAlgorithm::Sha256),
        checksum_type: Some(ChecksumType::FullObject),
        encryption: SseRequest::Default,
    };
    assert!(matches!(e.create_upload(&alice(), bad).await, Err(EngineError::InvalidRequest(_))));
}

#[tokio::test]
async fn upload_part_copy_reads_the_range() {
    let e = setup().await;
    let model = three_parts(&e).await;
    let id = create(&e, "dst", None).await;
    let copy = |range: Option<(u64, u64)>, n: &str| UploadPartCopyRequest {
        bucket: bn("bkt"),
        key: key("dst"),
        upload_id: id.clone(),
        part_number: PartNumber::parse(n).unwrap(),
        source_bucket: bn("bkt"),
        source_key: key("mp"),
        source_version: VersionRef::Current,
        source_range: range,
        source_conditions: Preconditions::default(),
        customer_key: None,
        source_customer_key: None,
    };
    let p1 = e.upload_part_copy(&alice(), copy(Some((3, 9)), "1")).await.unwrap();
    assert_eq!(p1.etag, ETag::from_md5(&md5(&model[3..=9])));
    let p2 = e.upload_part_copy(&alice(), copy(None, "2")).await.unwrap();
    assert_eq!(p2.etag, ETag::from_md5(&md5(&model)));
    assert!(matches!(
        e.upload_part_copy(&alice(), copy(Some((5, 15)), "3")).await,
        Err(EngineError::Protocol(s)) if s.code == ErrorCode::InvalidRange
    ));
    assert!(matches!(
        e.upload_part_copy(&alice(), copy(Some((5, 4)), "3")).await,
        Err(EngineError::InvalidArgument(_))
    ));
    let mut cond = copy(None, "3");
    cond.source_conditions.if_match = Some("\"x\"".into());
    assert!(failed_on(e.upload_part_copy(&alice(), cond).await, "x-amz-copy-source-If-Match"));
    e.complete_upload(&alice(), complete_req("dst", &id, &[(1, &p1.etag), (2, &p2.etag)]))
        .await
        .unwrap();
    assert_eq!(get(&e, "dst").await, [&model[3..=9], &model[..]].concat());
    assert_no_leak(&e).await;
}

// ---------------------------------------------------------------- leases and collection

#[tokio::test]
async fn open_body_survives_overwrite_and_collection() {
    let e = setup().await;
    put(&e, "k", b"old bytes").await;
    let old_blob = e.metadata().object("bkt", "k").await.unwrap().unwrap().parts[0].blob_id.clone();
    let reader = e.get_object(&alice(), &get_req("k"), false).await.unwrap();
    put(&e, "k", b"new bytes").await;
    let report = e.collect_garbage().await.unwrap();
    assert_eq!(report.skipped_leased, 1);
    assert_eq!(report.deleted, 0);
    // Another open body of the deleted key, then delete.
    let reader2 = e.get_object(&alice(), &get_req("k"), false).await.unwrap();
    e.delete_object(&alice(), &bn("bkt"), &key("k"), &VersionRef::Current, WriteCondition::None)
        .await
        .unwrap();
    e.collect_garbage().await.unwrap();
    assert_eq!(collect(reader.body).await.unwrap(), b"old bytes");
    assert_eq!(collect(reader2.body).await.unwrap(), b"new bytes");
    // Both streams are dropped (consumed): the blobs go.
    let report = e.collect_garbage().await.unwrap();
    assert_eq!(report.deleted, 2);
    assert!(e.blobs().is_empty());
    assert!(BlobId::parse(&old_blob).is_some());
}

#[tokio::test]
async fn dropped_body_releases_its_lease() {
    let e = setup().await;
    put(&e, "k", b"data").await;
    let reader = e.get_object(&alice(), &get_req("k"), false).await.unwrap();
    e.delete_object(&alice(), &bn("bkt"), &key("k"), &VersionRef::Current, WriteCondition::None)
        .await
        .unwrap();
    assert_eq!(e.collect_garbage().await.unwrap().skipped_leased, 1);
    drop(reader);
    assert_eq!(e.collect_garbage().await.unwrap().deleted, 1);
    assert!(e.blobs().is_empty());
}

/// The store sees this engine's leases once published, so another gateway's collector sharing
/// the store (here: a direct `forget_blobs`, which knows nothing of in-process leases) spares
/// the blob; publishing after the reader is gone releases it.
#[tokio::test]
async fn published_leases_protect_blobs_from_other_gateways() {
    let mut cfg = config();
    // Published leases last `gc_grace`.
    cfg.gc_grace = Duration::from_hours(1);
    let e = Engine::new(MemMetadata::new(), MemBlobs::new(), cfg);
    e.create_bucket(&alice(), &bn("bkt"), None).await.unwrap();
    put(&e, "k", b"data").await;
    let blob = e.metadata().object("bkt", "k").await.unwrap().unwrap().parts[0].blob_id.clone();
    let reader = e.get_object(&alice(), &get_req("k"), false).await.unwrap();
    e.delete_object(&alice(), &bn("bkt"), &key("k"), &VersionRef::Current, WriteCondition::None)
        .await
        .unwrap();
    assert_eq!(e.publish_leases().await.unwrap(), 1);
    let ids = vec![blob.clone()];
    assert!(e.metadata().forget_blobs(&ids).await.unwrap().is_empty());
    assert_eq!(collect(reader.body).await.unwrap(), b"data");
    assert_eq!(e.publish_leases().await.unwrap(), 0);
    assert_eq!(e.metadata().forget_blobs(&ids).await.unwrap(), ids);
}

#[tokio::test]
async fn a_missing_blob_fails_the_get_before_any_byte() {
    let e = setup().await;
    put(&e, "k", b"data").await;
    let blob = e.metadata().object("bkt", "k").await.unwrap().unwrap().parts[0].blob_id.clone();
    e.blobs().delete(&BlobId::parse(&blob).unwrap()).await.unwrap();
    // A one-blob object is opened before the response head: the GET fails as a whole (500),
    // instead of a 200 whose body breaks. HEAD reads no blob and still answers.
    let err = e.get_object(&alice(), &get_req("k"), false).await.map(|_| ()).unwrap_err();
    assert!(matches!(err, EngineError::Internal(_)), "{err:?}");
    assert!(e.get_object(&alice(), &get_req("k"), true).await.is_ok());
}

#[tokio::test]
async fn sweep_removes_orphans_only() {
    let e = setup().await;
    put(&e, "k", b"committed").await;
    let orphan = e.blobs().put(body(b"orphan")).await.unwrap();
    // Too young for the default grace.
    let report = e.sweep_orphans(Duration::from_hours(1)).await.unwrap();
    assert_eq!(report.orphans_deleted, 0);
    assert_eq!(e.blobs().len(), 2);
    let report = e.sweep_orphans_at_rest().await.unwrap();
    assert_eq!(report.orphans_deleted, 1);
    assert!(e.blobs().contents(&orphan.id).is_none());
    assert_eq!(get(&e, "k").await, b"committed");
    assert_no_leak(&e).await;
}

#[tokio::test]
async fn background_task_collects() {
    let e = setup().await;
    put(&e, "k", b"1").await;
    put(&e, "k", b"2").await;
    assert_eq!(e.blobs().len(), 2);
    let task = e.spawn_background(Duration::from_millis(10));
    for _ in 0..200 {
        if e.blobs().len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    task.abort();
    assert_eq!(e.blobs().len(), 1);
}

// ---------------------------------------------------------------- read-ahead window

/// A blob store that counts concurrently open reads.
#[derive(Debug, Default)]
struct Counting {
    inner: MemBlobs,
    open: Arc<std::sync::atomic::AtomicUsize>,
    max_open: Arc<std::sync::atomic::AtomicUsize>,
}

struct Tracked {
    inner: BlobStream,
    open: Arc<std::sync::atomic::AtomicUsize>,
}

impl futures_core::Stream for Tracked {
    type Item = Result<Bytes, BlobError>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.open.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl s3gate_storage_backend::BlobStore for Counting {
    async fn put(&self, body: ByteStream) -> Result<s3gate_storage_backend::BlobInfo, BlobError> {
        self.inner.put(body).await
    }
    async fn get(
        &self,
        id: &BlobId,
        offset: u64,
        len: Option<u64>,
    ) -> Result<BlobStream, BlobError> {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.open.fetch_add(1, SeqCst) + 1;
        self.max_open.fetch_max(now, SeqCst);
        // Give the other read-ahead tasks a chance to open theirs.
        tokio::time::sleep(Duration::from_millis(20)).await;
        match self.inner.get(id, offset, len).await {
            Ok(s) => Ok(Box::pin(Tracked { inner: s, open: Arc::clone(&self.open) })),
            Err(e) => {
                self.open.fetch_sub(1, SeqCst);
                Err(e)
            }
        }
    }
    async fn delete(&self, id: &BlobId) -> Result<(), BlobError> {
        self.inner.delete(id).await
    }
    async fn list(&self) -> Result<s3gate_storage_backend::BlobListStream, BlobError> {
        self.inner.list().await
    }
    async fn cleanup_incomplete(&self, older_than: Duration) -> Result<u64, BlobError> {
        self.inner.cleanup_incomplete(older_than).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_ahead_window_is_respected() {
    for window in [1usize, 2, 3] {
        let mut cfg = config();
        cfg.read_ahead_parts = window;
        cfg.min_part_size = 1;
        let e = Engine::new(MemMetadata::new(), Counting::default(), cfg);
        e.create_bucket(&alice(), &bn("bkt"), None).await.unwrap();
        let id = e
            .create_upload(
                &alice(),
                CreateUploadRequest {
                    lock: s3gate_protocol::LockHeaders::default(),
                    ownership: s3gate_engine::VersionOwnership::default(),
                    storage_class: None,
                    bucket: bn("bkt"),
                    key: key("mp"),
                    headers: vec![],
                    tags: vec![],
                    checksum_algorithm: None,
                    checksum_type: None,
                    encryption: SseRequest::Default,
                },
            )
            .await
            .unwrap();
        let mut model = Vec::new();
        let mut parts = Vec::new();
        for n in 1..=8u32 {
            let data: Vec<u8> =
                (0..(n * 100)).map(|i| u8::try_from((i + n) % 251).unwrap()).collect();
            let req = UploadPartRequest {
                bucket: bn("bkt"),
                key: key("mp"),
                upload_id: id.clone(),
                part_number: PartNumber::parse(&n.to_string()).unwrap(),
                integrity: BodyIntegrity::default(),
                customer_key: None,
            };
            let etag = e.upload_part(&alice(), req, body(&data)).await.unwrap().etag;
            parts.push(CompletePart { part_number: n, etag: etag.quoted(), checksums: vec![] });
            model.extend(data);
        }
        let req = CompleteUploadRequest {
            bucket: bn("bkt"),
            key: key("mp"),
            upload_id: id,
            parts,
            condition: WriteCondition::None,
            expected_checksum: None,
        };
        e.complete_upload(&alice(), req).await.unwrap();
        let out = e.get_object(&alice(), &get_req("mp"), false).await.unwrap();
        // Read slowly so the window fills up.
        let mut s = out.body;
        let mut got = Vec::new();
        while let Some(chunk) = s.next().await {
            got.extend_from_slice(&chunk.unwrap());
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(got, model);
        let max = e.blobs().max_open.load(std::sync::atomic::Ordering::SeqCst);
        assert!(max <= window, "window {window}: {max} reads were open at once");
        assert_eq!(max, window, "window {window} was never filled");
        assert_eq!(e.blobs().open.load(std::sync::atomic::Ordering::SeqCst), 0);
    }
}

// ---------------------------------------------------------------- model test

#[derive(Debug, Clone)]
enum Op {
    Put(u8, Vec<u8>),
    Multipart(u8, Vec<Vec<u8>>, Vec<u8>),
    Delete(u8),
    Copy(u8, u8),
    Get(u8),
    Range(u8, u64, u64),
    List,
    Collect,
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (0u8..5, proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|(k, d)| Op::Put(k, d)),
        2 => (
            0u8..5,
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 5..12), 0..3),
            proptest::collection::vec(any::<u8>(), 0..12),
        )
            .prop_map(|(k, parts, last)| Op::Multipart(k, parts, last)),
        2 => (0u8..5).prop_map(Op::Delete),
        2 => (0u8..5, 0u8..5).prop_map(|(a, b)| Op::Copy(a, b)),
        2 => (0u8..5).prop_map(Op::Get),
        2 => (0u8..5, 0u64..40, 0u64..40).prop_map(|(k, a, b)| Op::Range(k, a.min(b), a.max(b))),
        1 => Just(Op::List),
        1 => Just(Op::Collect),
    ]
}

fn key_name(k: u8) -> String {
    format!("k/{k}")
}

async fn run_model(ops: Vec<Op>) {
    let e = setup().await;
    let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for op in ops {
        match op {
            Op::Put(k, data) => {
                put(&e, &key_name(k), &data).await;
                model.insert(key_name(k), data);
            }
            Op::Multipart(k, parts, last) => {
                let name = key_name(k);
                let id = create(&e, &name, None).await;
                let mut listed = Vec::new();
                for (i, data) in parts.iter().chain(std::iter::once(&last)).enumerate() {
                    // Odd part numbers, so numbering need not be contiguous.
                    let n = u32::try_from(i).unwrap() * 2 + 1;
                    let out = upload(&e, &name, &id, n, data).await;
                    listed.push(CompletePart {
                        part_number: n,
                        etag: out.etag.quoted(),
                        checksums: vec![],
                    });
                }
                let req = CompleteUploadRequest { parts: listed, ..complete_req(&name, &id, &[]) };
                e.complete_upload(&alice(), req).await.unwrap();
                model.insert(name, [parts.concat(), last].concat());
            }
            Op::Delete(k) => {
                e.delete_object(
                    &alice(),
                    &bn("bkt"),
                    &key(&key_name(k)),
                    &VersionRef::Current,
                    WriteCondition::None,
                )
                .await
                .unwrap();
                model.remove(&key_name(k));
            }
            Op::Copy(a, b) => {
                let mut req = copy_req(&key_name(a), &key_name(b));
                req.metadata_directive = MetadataDirective::Replace;
                let result = e.copy_object(&alice(), req).await;
                match model.get(&key_name(a)).cloned() {
                    Some(data) => {
                        result.unwrap();
                        model.insert(key_name(b), data);
                    }
                    None => assert!(matches!(result, Err(EngineError::NoSuchKey))),
                }
            }
            Op::Get(k) => match model.get(&key_name(k)) {
                Some(data) => assert_eq!(&get(&e, &key_name(k)).await, data),
                None => assert!(matches!(
                    e.get_object(&alice(), &get_req(&key_name(k)), false).await,
                    Err(EngineError::NoSuchKey)
                )),
            },
            Op::Range(k, start, end) => {
                let got = get_range(&e, &key_name(k), RangeSpec::FromTo(start, end)).await;
                match model.get(&key_name(k)) {
                    None => assert!(matches!(got, Err(EngineError::NoSuchKey))),
                    Some(data) if start >= data.len() as u64 => assert!(matches!(
                        got,
                        Err(EngineError::Protocol(err)) if err.code == ErrorCode::InvalidRange
                    )),
                    Some(data) => {
                        let last = usize::try_from(end).unwrap().min(data.len() - 1);
                        assert_eq!(got.unwrap(), data[usize::try_from(start).unwrap()..=last]);
                    }
                }
            }
            Op::List => {
                let page = e
                    .list_objects(
                        &alice(),
                        &bn("bkt"),
                        &ListObjectsRequest { max_keys: 1000, ..Default::default() },
                    )
                    .await
                    .unwrap();
                let keys: Vec<&str> =
                    page.entries.iter().map(s3gate_metadata::ListEntry::sort_key).collect();
                assert_eq!(keys, model.keys().map(String::as_str).collect::<Vec<_>>());
            }
            Op::Collect => {
                e.collect_garbage().await.unwrap();
            }
        }
    }
    for (k, data) in &model {
        assert_eq!(&get(&e, k).await, data);
    }
    assert_no_leak(&e).await;
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    #[test]
    fn engine_matches_a_btreemap(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run_model(ops));
    }
}

#[tokio::test]
async fn multipart_blob_error_after_first_part_ends_with_err() {
    let e = setup().await;
    three_parts(&e).await;
    let v = e.metadata().object("bkt", "mp").await.unwrap().unwrap();
    let out = e.get_object(&alice(), &get_req("mp"), false).await.unwrap();
    e.blobs().delete(&BlobId::parse(&v.parts[2].blob_id).unwrap()).await.unwrap();
    let mut body = out.body;
    let mut ok_bytes = 0;
    let mut ended_with_err = false;
    while let Some(chunk) = body.next().await {
        if let Ok(c) = chunk {
            ok_bytes += c.len();
        } else {
            ended_with_err = true;
            break;
        }
    }
    assert!(ended_with_err);
    assert!(ok_bytes <= 12, "only the first two parts can be served");
    assert!(body.next().await.is_none(), "nothing after the error");
}

#[tokio::test]
async fn part_checksum_without_upload_algorithm_is_verified_and_echoed() {
    let e = setup().await;
    let id = create(&e, "mp", None).await;
    let alg = ChecksumAlgorithm::Crc32c;
    let mut req = part_req("mp", &id, 1);
    req.integrity = checksum_integrity(
        alg,
        ExpectedChecksum::Header(Checksum::compute(alg, b"other").to_base64()),
    );
    assert!(matches!(
        e.upload_part(&alice(), req.clone(), body(b"part")).await,
        Err(EngineError::ChecksumMismatch(ChecksumAlgorithm::Crc32c))
    ));
    assert!(e.blobs().is_empty());
    req.integrity = checksum_integrity(
        alg,
        ExpectedChecksum::Header(Checksum::compute(alg, b"part").to_base64()),
    );
    let out = e.upload_part(&alice(), req, body(b"part")).await.unwrap();
    assert_eq!(out.checksum, Some(Checksum::compute(alg, b"part")));
    // Stored is the default CRC64NVME (the server lists no checksum: the upload has none).
    let page = e.list_parts(&alice(), &bn("bkt"), &key("mp"), &id, 0, 10).await.unwrap();
    let crc64 = Checksum::compute(ChecksumAlgorithm::Crc64Nvme, b"part").to_base64();
    assert_eq!(page.parts[0].checksum.as_deref(), Some(crc64.as_str()));
}

/// An upload created without an algorithm completes with a CRC64NVME full-object checksum
/// combined from its parts, as on AWS.
#[tokio::test]
async fn upload_without_algorithm_gets_a_full_object_crc64nvme() {
    let e = setup().await;
    let id = create(&e, "mp", None).await;
    let first = vec![7u8; 300];
    let a = e.upload_part(&alice(), part_req("mp", &id, 1), body(&first)).await.unwrap();
    assert_eq!(a.checksum, None, "nothing announced for an upload without an algorithm");
    let b = e.upload_part(&alice(), part_req("mp", &id, 2), body(b"tail")).await.unwrap();
    let out = e
        .complete_upload(&alice(), complete_req("mp", &id, &[(1, &a.etag), (2, &b.etag)]))
        .await
        .unwrap();
    let whole = [first.as_slice(), b"tail"].concat();
    let want = Checksum::compute(ChecksumAlgorithm::Crc64Nvme, &whole).to_base64();
    assert_eq!(out.checksum_value, Some((ChecksumAlgorithm::Crc64Nvme, want)));
    assert_eq!(out.checksum_type, Some(ChecksumType::FullObject));
}

#[tokio::test]
async fn delete_objects_caps_the_batch() {
    let e = setup().await;
    let keys: Vec<(String, Option<String>)> = (0..1001).map(|i| (format!("k{i}"), None)).collect();
    assert!(matches!(
        e.delete_objects(&alice(), &bn("bkt"), keys).await,
        Err(EngineError::Protocol(s)) if s.code == ErrorCode::MalformedXML
    ));
}

/// Object lock is judged by the engine's clock, never the client's: a COMPLIANCE version
/// cannot be deleted by id, even with bypass, until the (injected) clock passes its date; a
/// default retention is counted from that clock too.
#[tokio::test]
async fn object_lock_follows_the_engine_clock() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::SystemTime;
    let skew = Arc::new(AtomicU64::new(0));
    let base = SystemTime::now();
    let mut cfg = config();
    let moved = Arc::clone(&skew);
    cfg.clock = Clock::from_fn(move || base + Duration::from_secs(moved.load(Ordering::SeqCst)));
    let e = Engine::new(MemMetadata::new(), MemBlobs::new(), cfg);
    let b = bn("worm");
    e.create_bucket_with_lock(&alice(), &b, None, true).await.unwrap();
    let mut req = put_req("worm", "k");
    req.lock.retention =
        Some((s3gate_protocol::RetentionMode::Compliance, base + Duration::from_hours(1)));
    let out = e.put_object(&alice(), req, body(b"data")).await.unwrap();
    let id = VersionRef::parse(out.version_id.as_deref()).unwrap();
    let (who, name, none) = (alice(), key("k"), DeleteConditions::default());
    let del = |bypass| e.delete_object_if(&who, &b, &name, &id, &none, bypass);
    assert!(matches!(del(true).await, Err(EngineError::ObjectLocked)));
    skew.store(3599, Ordering::SeqCst);
    assert!(matches!(del(false).await, Err(EngineError::ObjectLocked)));
    // A date in the past by the engine's clock is refused, though the system clock says future.
    let mut late = put_req("worm", "late");
    late.lock.retention =
        Some((s3gate_protocol::RetentionMode::Governance, base + Duration::from_mins(1)));
    assert!(matches!(
        e.put_object(&alice(), late, body(b"x")).await,
        Err(EngineError::InvalidArgument(_))
    ));
    skew.store(3600, Ordering::SeqCst);
    assert!(del(false).await.is_ok());
    // Suspending versioning on a lock bucket is refused.
    let r = e.set_bucket_versioning(&alice(), &b, s3gate_metadata::Versioning::Suspended).await;
    assert!(matches!(r, Err(EngineError::Protocol(s)) if s.code == ErrorCode::InvalidBucketState));
}

/// A lock create that crashed between its two commits left a versioned bucket without lock;
/// the client's retry must not be told "created" for a bucket that has none: the retry stores
/// the configuration. A retried lock create of a bucket that cannot take lock is refused.
#[tokio::test]
async fn a_retried_lock_create_completes_the_lock() {
    let e = engine();
    let b = bn("half");
    // The state the crash left: the bucket record (versioned), no lock configuration.
    e.create_bucket(&alice(), &b, None).await.unwrap();
    e.set_bucket_versioning(&alice(), &b, Versioning::Enabled).await.unwrap();
    assert!(e.object_lock_configuration(&alice(), &b).await.unwrap().is_none());
    e.create_bucket_with_lock(&alice(), &b, None, true).await.unwrap();
    assert!(e.object_lock_configuration(&alice(), &b).await.unwrap().is_some());
    // Retrying again changes nothing and still answers as us-east-1 does.
    e.create_bucket_with_lock(&alice(), &b, None, true).await.unwrap();

    let plain = bn("plain");
    e.create_bucket(&alice(), &plain, None).await.unwrap();
    assert!(matches!(
        e.create_bucket_with_lock(&alice(), &plain, None, true).await,
        Err(EngineError::BucketAlreadyOwnedByYou)
    ));
    assert!(e.object_lock_configuration(&alice(), &plain).await.unwrap().is_none());
    // A plain recreate of either is the legacy 200 and touches nothing.
    e.create_bucket(&alice(), &plain, None).await.unwrap();
    e.create_bucket(&alice(), &b, None).await.unwrap();
    assert!(e.object_lock_configuration(&alice(), &b).await.unwrap().is_some());
}

fn rename_req(from: &str, to: &str) -> RenameObjectRequest {
    RenameObjectRequest {
        bucket: bn("bkt"),
        key: key(to),
        source_key: key(from),
        source_conditions: Preconditions::default(),
        condition: WriteCondition::None,
        destination_dates: Preconditions::default(),
        client_token: None,
    }
}

#[tokio::test]
async fn rename_moves_without_copying_and_judges_its_conditions() {
    let e = setup().await;
    let src = put(&e, "a", b"rename me").await;
    let out = e.rename_object(&alice(), rename_req("a", "b")).await.unwrap();
    assert_eq!(out.version_id, None);
    assert_eq!(e.blobs().len(), 1, "a rename copies no data");
    assert_eq!(get(&e, "b").await, b"rename me");
    let moved = e.metadata().object("bkt", "b").await.unwrap().unwrap();
    assert_eq!(moved.etag, src.etag.as_str().trim_matches('"'));
    assert!(e.metadata().object("bkt", "a").await.unwrap().is_none());
    // Gone, the same key, another user's bucket.
    let r = e.rename_object(&alice(), rename_req("a", "c")).await;
    assert!(matches!(r, Err(EngineError::NoSuchKey)), "{r:?}");
    let r = e.rename_object(&alice(), rename_req("b", "b")).await;
    assert!(matches!(r, Err(EngineError::InvalidRequest(_))), "{r:?}");
    let r = e.rename_object(&bob(), rename_req("b", "c")).await;
    assert!(matches!(r, Err(EngineError::AccessDenied)), "{r:?}");
    // Source conditions name their header; the destination's dates need a destination.
    let mut req = rename_req("b", "c");
    req.source_conditions.if_match = Some("\"nope\"".into());
    assert!(failed_on(e.rename_object(&alice(), req).await, "x-amz-rename-source-If-Match"));
    let mut req = rename_req("b", "c");
    req.source_conditions.if_none_match = Some(moved.etag.clone());
    assert!(failed_on(e.rename_object(&alice(), req).await, "x-amz-rename-source-If-None-Match"));
    let mut req = rename_req("b", "c");
    req.destination_dates.if_unmodified_since = Some(std::time::SystemTime::now());
    assert!(failed_on(e.rename_object(&alice(), req).await, "If-Unmodified-Since"));
    let mut req = rename_req("b", "c");
    req.condition = WriteCondition::IfMatch("x".into());
    assert!(matches!(e.rename_object(&alice(), req).await, Err(EngineError::NoSuchKey)));
    // Nothing moved on any refusal.
    assert_eq!(get(&e, "b").await, b"rename me");
    // Matching conditions rename; a destination is replaced unless If-None-Match: * says no.
    put(&e, "d", b"old").await;
    let mut req = rename_req("b", "d");
    req.condition = WriteCondition::IfNoneMatchAny;
    let r = e.rename_object(&alice(), req).await;
    assert!(matches!(r, Err(EngineError::PreconditionFailed)), "{r:?}");
    let mut req = rename_req("b", "d");
    req.source_conditions.if_match = Some(moved.etag.clone());
    req.destination_dates.if_unmodified_since =
        Some(std::time::SystemTime::now() + Duration::from_mins(1));
    e.rename_object(&alice(), req).await.unwrap();
    assert_eq!(get(&e, "d").await, b"rename me");
    e.collect_garbage().await.unwrap();
    assert_eq!(e.blobs().len(), 1, "the replaced destination's blob is collected");
    assert_no_leak(&e).await;
}

#[tokio::test]
async fn a_rename_retried_with_its_token_is_answered_as_the_rename() {
    let e = setup().await;
    put(&e, "a", b"1").await;
    let mut req = rename_req("a", "b");
    req.client_token = Some("token-1".into());
    e.rename_object(&alice(), req.clone()).await.unwrap();
    // The SDK did not see the answer and retries: the same answer, nothing else changes.
    e.rename_object(&alice(), req.clone()).await.unwrap();
    assert_eq!(get(&e, "b").await, b"1");
    req.key = key("c");
    let r = e.rename_object(&alice(), req).await;
    assert!(
        matches!(&r, Err(EngineError::Protocol(s)) if s.code == ErrorCode::IdempotencyParameterMismatch),
        "{r:?}"
    );
    assert!(e.metadata().object("bkt", "c").await.unwrap().is_none());
}
