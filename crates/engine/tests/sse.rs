//! Server-side encryption through the engine, on the in-memory stores: what is stored is
//! ciphertext, reads (whole, ranged, multipart, copies) return the plaintext, keys are
//! checked, and tampered data never comes back as data.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation, missing_docs)]

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt as _;
use md5::{Digest as _, Md5};
use s3gate_crypto::{CustomerKey, MasterKeyId, MasterKeys};
use s3gate_engine::*;
use s3gate_metadata::{MemMetadata, MetadataStore as _};
use s3gate_protocol::{BucketName, ObjectKey, RangeSpec};
use s3gate_storage_backend::{BlobId, BlobStore as _, MemBlobs};

type TestEngine = Engine<MemMetadata, MemBlobs>;

fn engine(encrypt_by_default: bool) -> TestEngine {
    let mut c = EngineConfig::new("us-east-1");
    c.min_part_size = 5;
    let keys = MasterKeys::generate(MasterKeyId::new("test").unwrap()).unwrap();
    let mut sse = SseConfig::new(keys, "123456789012");
    sse.encrypt_by_default = encrypt_by_default;
    c.encryption = Some(Arc::new(sse));
    Engine::new(MemMetadata::new(), MemBlobs::new(), c)
}

fn alice() -> Caller {
    Caller { user: "alice".into(), is_root: false, authorized: false }
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| u8::try_from((i * 31 + i / 7) % 251).unwrap()).collect()
}

fn body(data: &[u8]) -> ByteStream {
    let chunks: Vec<Result<Bytes, BoxError>> =
        data.chunks(10_007).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    Box::pin(futures_util::stream::iter(chunks))
}

fn put_req(k: &str, len: usize, encryption: SseRequest) -> PutObjectRequest {
    PutObjectRequest {
        lock: s3gate_protocol::LockHeaders::default(),
        bucket: BucketName::parse("bkt").unwrap(),
        key: ObjectKey::parse(k.to_owned()).unwrap(),
        headers: vec![],
        tags: vec![],
        integrity: BodyIntegrity { length: Some(len as u64), ..Default::default() },
        condition: WriteCondition::None,
        encryption,
        ownership: s3gate_engine::VersionOwnership::default(),
        storage_class: None,
    }
}

fn get_req(k: &str, range: Option<(u64, u64)>, key: Option<&Arc<CustomerKey>>) -> GetObjectRequest {
    GetObjectRequest {
        bucket: BucketName::parse("bkt").unwrap(),
        key: ObjectKey::parse(k.to_owned()).unwrap(),
        range: range.map(|(a, b)| RangeSpec::FromTo(a, b)),
        part_number: None,
        conditions: s3gate_protocol::Preconditions::default(),
        version: VersionRef::default(),
        customer_key: key.cloned(),
    }
}

async fn read(e: &TestEngine, req: &GetObjectRequest) -> Result<Vec<u8>, String> {
    let mut out = e.get_object(&alice(), req, false).await.map_err(|e| format!("{e:?}"))?;
    let mut got = Vec::new();
    while let Some(chunk) = out.body.next().await {
        got.extend_from_slice(&chunk.map_err(|e| format!("{e:?}"))?);
    }
    Ok(got)
}

/// Every stored byte of the object's blobs.
async fn stored(e: &TestEngine, k: &str) -> Vec<u8> {
    let v = e.metadata().object("bkt", k).await.unwrap().unwrap();
    let mut all = Vec::new();
    for p in &v.parts {
        let id = BlobId::parse(&p.blob_id).unwrap();
        let mut s = e.blobs().get(&id, 0, None).await.unwrap();
        while let Some(c) = s.next().await {
            all.extend_from_slice(&c.unwrap());
        }
    }
    all
}

async fn setup(default: bool) -> TestEngine {
    let e = engine(default);
    e.create_bucket(&alice(), &BucketName::parse("bkt").unwrap(), None).await.unwrap();
    e
}

fn customer(byte: u8) -> Arc<CustomerKey> {
    Arc::new(CustomerKey::from_bytes(&[byte; 32]))
}

#[tokio::test]
async fn sse_s3_round_trips_whole_and_ranged_and_stores_no_plaintext() {
    let e = setup(false).await;
    let plain = data(300_000);
    let out = e.put_object(&alice(), put_req("k", plain.len(), SseRequest::S3), body(&plain)).await;
    let out = out.unwrap();
    assert_eq!(out.encryption, Some(SseInfo::S3));
    // SSE-S3 single uploads keep the plaintext's MD5 as ETag, as on AWS.
    assert_eq!(out.etag.as_str(), hex::encode(Md5::digest(&plain)));
    let sealed = stored(&e, "k").await;
    assert_eq!(sealed.len() as u64, s3gate_crypto::sealed_len(plain.len() as u64));
    assert!(!sealed.windows(64).any(|w| plain[1000..1064] == *w));
    assert_eq!(read(&e, &get_req("k", None, None)).await.unwrap(), plain);
    for (a, b) in
        [(0, 0), (65_535, 65_536), (70_000, 70_100), (131_000, 299_999), (299_999, 299_999)]
    {
        let got = read(&e, &get_req("k", Some((a, b)), None)).await.unwrap();
        assert_eq!(got, plain[a as usize..=b as usize], "{a}-{b}");
    }
    let head = e.get_object(&alice(), &get_req("k", None, None), true).await.unwrap();
    assert_eq!(sse_info(&head.version), Some(SseInfo::S3));
    assert_eq!(head.content_length, 300_000);
}

#[tokio::test]
async fn tampered_package_cuts_the_stream() {
    let e = setup(false).await;
    let plain = data(200_000);
    e.put_object(&alice(), put_req("k", plain.len(), SseRequest::S3), body(&plain)).await.unwrap();
    let mut sealed = stored(&e, "k").await;
    sealed[100_000] ^= 1;
    let chunks: Vec<Result<Bytes, BoxError>> = vec![Ok(Bytes::from(sealed))];
    let info = e.blobs().put(Box::pin(futures_util::stream::iter(chunks))).await.unwrap();
    let mut v = e.metadata().object("bkt", "k").await.unwrap().unwrap();
    v.parts[0].blob_id = info.id.as_str().to_owned();
    e.metadata().put_object(v, WriteCondition::None).await.unwrap();
    // The packages before the flipped one are served; then the stream fails, never a byte of
    // the tampered package.
    let mut out = e.get_object(&alice(), &get_req("k", None, None), false).await.unwrap();
    let mut got = Vec::new();
    let mut failed = false;
    while let Some(chunk) = out.body.next().await {
        if let Ok(c) = chunk {
            got.extend_from_slice(&c);
        } else {
            failed = true;
            break;
        }
    }
    assert!(failed);
    assert!(got.len() <= 65_536, "{}", got.len());
    assert_eq!(got, plain[..got.len()]);
    // A range that avoids the package still reads.
    assert_eq!(read(&e, &get_req("k", Some((0, 99)), None)).await.unwrap(), plain[..100]);
    assert!(read(&e, &get_req("k", Some((99_000, 101_000)), None)).await.is_err());
}

#[tokio::test]
async fn sse_c_needs_the_same_key() {
    let e = setup(false).await;
    let plain = data(70_000);
    let k = customer(7);
    let req = put_req("c", plain.len(), SseRequest::Customer(Arc::clone(&k)));
    let out = e.put_object(&alice(), req, body(&plain)).await.unwrap();
    let md5 = k.key_md5_base64();
    assert_eq!(out.encryption, Some(SseInfo::Customer { key_md5: md5 }));
    assert_ne!(out.etag.as_str(), hex::encode(Md5::digest(&plain)));
    assert_eq!(read(&e, &get_req("c", None, Some(&k))).await.unwrap(), plain);
    assert_eq!(
        read(&e, &get_req("c", Some((5, 65_540)), Some(&k))).await.unwrap(),
        plain[5..=65_540]
    );
    let wrong = read(&e, &get_req("c", None, Some(&customer(8)))).await.unwrap_err();
    assert!(wrong.contains("SseCustomerKeyMismatch"), "{wrong}");
    let missing = read(&e, &get_req("c", None, None)).await.unwrap_err();
    assert!(missing.contains("SseCustomerKeyRequired"), "{missing}");
    // A customer key for an object without one is refused too.
    e.put_object(&alice(), put_req("p", 3, SseRequest::Default), body(b"abc")).await.unwrap();
    let na = read(&e, &get_req("p", None, Some(&k))).await.unwrap_err();
    assert!(na.contains("SseNotApplicable"), "{na}");
}

#[tokio::test]
async fn multipart_parts_seal_independently() {
    let e = setup(true).await;
    let bucket = BucketName::parse("bkt").unwrap();
    let k = ObjectKey::parse("mp".into()).unwrap();
    let create = CreateUploadRequest {
        lock: s3gate_protocol::LockHeaders::default(),
        ownership: s3gate_engine::VersionOwnership::default(),
        storage_class: None,
        bucket: bucket.clone(),
        key: k.clone(),
        headers: vec![],
        tags: vec![],
        checksum_algorithm: None,
        checksum_type: None,
        encryption: SseRequest::Default,
    };
    let (id, sse) = e.start_upload(&alice(), create).await.unwrap();
    assert_eq!(sse, Some(SseInfo::S3), "encrypt-by-default applies to uploads");
    let parts = [data(100_000), data(5), data(65_536)];
    let mut listed = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = u16::try_from(i + 1).unwrap();
        let req = UploadPartRequest {
            bucket: bucket.clone(),
            key: k.clone(),
            upload_id: id.clone(),
            part_number: s3gate_protocol::PartNumber::from_u32(u32::from(n)).unwrap(),
            integrity: BodyIntegrity { length: Some(p.len() as u64), ..Default::default() },
            customer_key: None,
        };
        let out = e.upload_part(&alice(), req, body(p)).await.unwrap();
        assert_eq!(out.encryption, Some(SseInfo::S3));
        listed.push(CompletePart {
            part_number: u32::from(n),
            etag: out.etag.as_str().to_owned(),
            checksums: vec![],
        });
    }
    let done = CompleteUploadRequest {
        bucket,
        key: k,
        upload_id: id,
        parts: listed,
        condition: WriteCondition::None,
        expected_checksum: None,
    };
    let out = e.complete_upload(&alice(), done).await.unwrap();
    assert_eq!(out.encryption, Some(SseInfo::S3));
    let whole: Vec<u8> = parts.concat();
    assert_eq!(read(&e, &get_req("mp", None, None)).await.unwrap(), whole);
    let got = read(&e, &get_req("mp", Some((99_990, 100_010)), None)).await.unwrap();
    assert_eq!(got, whole[99_990..=100_010]);
}

#[tokio::test]
async fn copies_re_encrypt_across_types() {
    let e = setup(false).await;
    let plain = data(80_000);
    e.put_object(&alice(), put_req("src", plain.len(), SseRequest::S3), body(&plain))
        .await
        .unwrap();
    let copy = |to: &str, encryption: SseRequest, source_customer_key| CopyObjectRequest {
        lock: s3gate_protocol::LockHeaders::default(),
        source_bucket: BucketName::parse("bkt").unwrap(),
        source_key: ObjectKey::parse("src".into()).unwrap(),
        source_version: VersionRef::default(),
        source_conditions: s3gate_protocol::Preconditions::default(),
        bucket: BucketName::parse("bkt").unwrap(),
        key: ObjectKey::parse(to.into()).unwrap(),
        metadata_directive: MetadataDirective::Copy,
        headers: vec![],
        tags: None,
        condition: WriteCondition::None,
        encryption,
        source_customer_key,
        ownership: s3gate_engine::VersionOwnership::default(),
        storage_class: None,
    };
    // SSE-S3 to plaintext: the copy is decrypted and stored as plaintext.
    let out = e.copy_object(&alice(), copy("plain", SseRequest::Default, None)).await.unwrap();
    assert_eq!(out.encryption, None);
    assert_eq!(stored(&e, "plain").await, plain);
    // SSE-S3 to SSE-C and back through a copy with the source key.
    let k = customer(3);
    let req = copy("c", SseRequest::Customer(Arc::clone(&k)), None);
    let out = e.copy_object(&alice(), req).await.unwrap();
    assert!(matches!(out.encryption, Some(SseInfo::Customer { .. })));
    assert_eq!(read(&e, &get_req("c", None, Some(&k))).await.unwrap(), plain);
    // SSE-S3 to SSE-S3 names the same sealed blob.
    e.copy_object(&alice(), copy("s3", SseRequest::S3, None)).await.unwrap();
    let (a, b) = (
        e.metadata().object("bkt", "src").await.unwrap().unwrap(),
        e.metadata().object("bkt", "s3").await.unwrap().unwrap(),
    );
    assert_eq!(a.parts, b.parts);
    assert_eq!(read(&e, &get_req("s3", Some((1, 70_000)), None)).await.unwrap(), plain[1..=70_000]);
}

#[tokio::test]
async fn bucket_default_encryption_applies() {
    let e = setup(false).await;
    e.metadata()
        .put_bucket_config("bkt", BUCKET_ENCRYPTION_KIND, Some("AES256".into()))
        .await
        .unwrap();
    let out = e.put_object(&alice(), put_req("d", 3, SseRequest::Default), body(b"abc")).await;
    assert_eq!(out.unwrap().encryption, Some(SseInfo::S3));
    assert_ne!(stored(&e, "d").await, b"abc");
    assert_eq!(read(&e, &get_req("d", None, None)).await.unwrap(), b"abc");
}

fn kms(key_id: Option<&str>) -> SseRequest {
    SseRequest::Kms { key_id: key_id.map(str::to_owned), context: None, bucket_key: false }
}

async fn create_kms_key(e: &TestEngine, id: &str) {
    use s3gate_crypto::KeyStore as _;
    let new = s3gate_crypto::NewKey { key_id: Some(id.to_owned()), ..Default::default() };
    e.kms().unwrap().create_key(new).await.unwrap();
}

const ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/";

#[tokio::test]
async fn sse_kms_round_trips_under_a_named_key_with_a_non_md5_etag() {
    let e = setup(false).await;
    create_kms_key(&e, "testkey-1").await;
    let plain = data(150_000);
    let req = put_req("k", plain.len(), kms(Some("testkey-1")));
    let out = e.put_object(&alice(), req, body(&plain)).await.unwrap();
    let Some(SseInfo::Kms { key_arn, bucket_key, context }) = &out.encryption else {
        panic!("{:?}", out.encryption)
    };
    assert_eq!(key_arn, &format!("{ARN}testkey-1"));
    assert!(!bucket_key);
    // The default context: the object's ARN.
    let json = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, context);
    assert_eq!(json.unwrap(), br#"{"aws:s3:arn":"arn:aws:s3:::bkt/k"}"#);
    assert_ne!(out.etag.as_str(), hex::encode(Md5::digest(&plain)));
    let sealed = stored(&e, "k").await;
    assert!(!sealed.windows(64).any(|w| plain[1000..1064] == *w));
    assert_eq!(read(&e, &get_req("k", None, None)).await.unwrap(), plain);
    let got = read(&e, &get_req("k", Some((65_000, 140_000)), None)).await.unwrap();
    assert_eq!(got, plain[65_000..=140_000]);
    let head = e.get_object(&alice(), &get_req("k", None, None), true).await.unwrap();
    assert_eq!(sse_info(&head.version), out.encryption);
    // A customer key for an SSE-KMS object is refused, as for SSE-S3.
    let na = read(&e, &get_req("k", None, Some(&customer(1)))).await.unwrap_err();
    assert!(na.contains("SseNotApplicable"), "{na}");
}

#[tokio::test]
async fn sse_kms_without_a_key_uses_the_aws_s3_key_created_once() {
    use s3gate_crypto::KeyStore as _;
    let e = setup(false).await;
    e.put_object(&alice(), put_req("a", 3, kms(None)), body(b"abc")).await.unwrap();
    e.put_object(&alice(), put_req("b", 3, kms(None)), body(b"def")).await.unwrap();
    let keys = e.kms().unwrap().list_keys().await.unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0].alias.as_deref(), Some("aws/s3"));
    let info = sse_info(&e.metadata().object("bkt", "b").await.unwrap().unwrap());
    assert!(matches!(info, Some(SseInfo::Kms { key_arn, .. }) if key_arn == keys[0].arn));
    assert_eq!(read(&e, &get_req("a", None, None)).await.unwrap(), b"abc");
    // The alias names the same key.
    let out = e.put_object(&alice(), put_req("c", 1, kms(Some("alias/aws/s3"))), body(b"x")).await;
    assert!(
        matches!(out.unwrap().encryption, Some(SseInfo::Kms { key_arn, .. }) if key_arn == keys[0].arn)
    );
}

#[tokio::test]
async fn a_disabled_kms_key_refuses_reads_and_writes_and_an_unknown_key_is_not_found() {
    use s3gate_crypto::KeyStore as _;
    let e = setup(false).await;
    create_kms_key(&e, "k1").await;
    e.put_object(&alice(), put_req("o", 3, kms(Some("k1"))), body(b"abc")).await.unwrap();
    e.kms().unwrap().disable_key("k1").await.unwrap();
    let read_err = read(&e, &get_req("o", None, None)).await.unwrap_err();
    assert!(read_err.contains("KmsKeyDisabled"), "{read_err}");
    let head = e.get_object(&alice(), &get_req("o", None, None), true).await;
    assert!(head.is_err(), "HEAD opens the data key too");
    let write = e.put_object(&alice(), put_req("p", 3, kms(Some("k1"))), body(b"abc")).await;
    assert!(
        matches!(
            write,
            Err(EngineError::Encryption(s3gate_crypto::CryptoError::KmsKeyDisabled(_)))
        ),
        "{write:?}"
    );
    assert!(e.metadata().object("bkt", "p").await.unwrap().is_none());
    e.kms().unwrap().enable_key("k1").await.unwrap();
    assert_eq!(read(&e, &get_req("o", None, None)).await.unwrap(), b"abc");
    let unknown = e.put_object(&alice(), put_req("q", 3, kms(Some("nope"))), body(b"abc")).await;
    assert!(
        matches!(
            unknown,
            Err(EngineError::Encryption(s3gate_crypto::CryptoError::KmsKeyNotFound(_)))
        ),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn a_client_context_binds_the_data_key_and_bucket_keys_use_the_bucket_arn() {
    let e = setup(false).await;
    create_kms_key(&e, "k1").await;
    let context: s3gate_crypto::EncryptionContext = [("team", "blue")].into_iter().collect();
    let req =
        SseRequest::Kms { key_id: Some("k1".into()), context: Some(context), bucket_key: true };
    let out = e.put_object(&alice(), put_req("o", 3, req), body(b"abc")).await.unwrap();
    let Some(SseInfo::Kms { bucket_key: true, context, .. }) = &out.encryption else {
        panic!("{:?}", out.encryption)
    };
    let json = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, context);
    assert_eq!(json.unwrap(), br#"{"aws:s3:arn":"arn:aws:s3:::bkt","team":"blue"}"#);
    assert_eq!(read(&e, &get_req("o", None, None)).await.unwrap(), b"abc");
    // The record binds the context: altering it makes the key unopenable (500, not data).
    let mut v = e.metadata().object("bkt", "o").await.unwrap().unwrap();
    let record = v.encryption.clone().unwrap();
    let words: Vec<&str> = record.split(' ').collect();
    let other = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        br#"{"aws:s3:arn":"arn:aws:s3:::bkt","team":"red"}"#,
    );
    v.encryption = Some([&words[..4], &[other.as_str()], &words[5..]].concat().join(" "));
    e.metadata().put_object(v, WriteCondition::None).await.unwrap();
    let err = read(&e, &get_req("o", None, None)).await.unwrap_err();
    assert!(err.contains("UnwrapFailed"), "{err}");
}

#[tokio::test]
#[allow(clippy::too_many_lines, reason = "one scenario, step by step")]
async fn kms_bucket_default_multipart_and_copies_across_types() {
    let e = setup(false).await;
    create_kms_key(&e, "k1").await;
    e.metadata()
        .put_bucket_config("bkt", BUCKET_ENCRYPTION_KIND, Some("aws:kms key=k1".into()))
        .await
        .unwrap();
    let plain = data(90_000);
    let req = put_req("d", plain.len(), SseRequest::Default);
    let out = e.put_object(&alice(), req, body(&plain)).await.unwrap();
    assert!(
        matches!(&out.encryption, Some(SseInfo::Kms { key_arn, .. }) if key_arn.ends_with("/k1"))
    );
    // Multipart under the bucket's default.
    let bucket = BucketName::parse("bkt").unwrap();
    let k = ObjectKey::parse("mp".into()).unwrap();
    let create = CreateUploadRequest {
        lock: s3gate_protocol::LockHeaders::default(),
        ownership: s3gate_engine::VersionOwnership::default(),
        storage_class: None,
        bucket: bucket.clone(),
        key: k.clone(),
        headers: vec![],
        tags: vec![],
        checksum_algorithm: None,
        checksum_type: None,
        encryption: SseRequest::Default,
    };
    let (id, sse) = e.start_upload(&alice(), create).await.unwrap();
    assert!(matches!(sse, Some(SseInfo::Kms { .. })));
    let mut listed = Vec::new();
    for (i, p) in [&plain[..70_000], &plain[70_000..]].iter().enumerate() {
        let n = u32::try_from(i + 1).unwrap();
        let req = UploadPartRequest {
            bucket: bucket.clone(),
            key: k.clone(),
            upload_id: id.clone(),
            part_number: s3gate_protocol::PartNumber::from_u32(n).unwrap(),
            integrity: BodyIntegrity { length: Some(p.len() as u64), ..Default::default() },
            customer_key: None,
        };
        let out = e.upload_part(&alice(), req, body(p)).await.unwrap();
        assert!(matches!(out.encryption, Some(SseInfo::Kms { .. })));
        listed.push(CompletePart {
            part_number: n,
            etag: out.etag.as_str().to_owned(),
            checksums: vec![],
        });
    }
    let done = CompleteUploadRequest {
        bucket,
        key: k,
        upload_id: id,
        parts: listed,
        condition: WriteCondition::None,
        expected_checksum: None,
    };
    let out = e.complete_upload(&alice(), done).await.unwrap();
    assert!(matches!(out.encryption, Some(SseInfo::Kms { .. })));
    assert_eq!(read(&e, &get_req("mp", None, None)).await.unwrap(), plain);
    assert_eq!(
        read(&e, &get_req("mp", Some((69_990, 70_010)), None)).await.unwrap(),
        plain[69_990..=70_010]
    );

    let copy =
        |from: &str, to: &str, encryption: SseRequest, source_customer_key| CopyObjectRequest {
            lock: s3gate_protocol::LockHeaders::default(),
            source_bucket: BucketName::parse("bkt").unwrap(),
            source_key: ObjectKey::parse(from.into()).unwrap(),
            source_version: VersionRef::default(),
            source_conditions: s3gate_protocol::Preconditions::default(),
            bucket: BucketName::parse("bkt").unwrap(),
            key: ObjectKey::parse(to.into()).unwrap(),
            metadata_directive: MetadataDirective::Copy,
            headers: vec![],
            tags: None,
            condition: WriteCondition::None,
            encryption,
            source_customer_key,
            ownership: s3gate_engine::VersionOwnership::default(),
            storage_class: None,
        };
    // KMS → SSE-S3 → SSE-C → KMS under another key: each re-encrypts and reads back.
    create_kms_key(&e, "k2").await;
    let out = e.copy_object(&alice(), copy("mp", "s3", SseRequest::S3, None)).await.unwrap();
    assert_eq!(out.encryption, Some(SseInfo::S3));
    let c = customer(5);
    let req = copy("s3", "c", SseRequest::Customer(Arc::clone(&c)), None);
    let out = e.copy_object(&alice(), req).await.unwrap();
    assert!(matches!(out.encryption, Some(SseInfo::Customer { .. })));
    let req = copy("c", "k2", kms(Some("k2")), Some(Arc::clone(&c)));
    let out = e.copy_object(&alice(), req).await.unwrap();
    assert!(
        matches!(&out.encryption, Some(SseInfo::Kms { key_arn, .. }) if key_arn.ends_with("/k2"))
    );
    assert_eq!(read(&e, &get_req("k2", None, None)).await.unwrap(), plain);
    // A KMS object copied onto itself with a new key is a change (not "copy to itself").
    let out = e.copy_object(&alice(), copy("k2", "k2", kms(Some("k1")), None)).await.unwrap();
    assert!(
        matches!(&out.encryption, Some(SseInfo::Kms { key_arn, .. }) if key_arn.ends_with("/k1"))
    );
    assert_eq!(read(&e, &get_req("k2", None, None)).await.unwrap(), plain);
    // Through the default (the bucket's KMS rule) to plaintext is not possible, but to a
    // plain bucket copy it is: remove the default and copy without headers.
    e.metadata().put_bucket_config("bkt", BUCKET_ENCRYPTION_KIND, None).await.unwrap();
    let out =
        e.copy_object(&alice(), copy("k2", "plain", SseRequest::Default, None)).await.unwrap();
    assert_eq!(out.encryption, None);
    assert_eq!(stored(&e, "plain").await, plain);
}

#[test]
fn bucket_encryption_documents_round_trip_and_read_the_old_form() {
    let old = BucketEncryption::parse("AES256");
    assert_eq!(old, BucketEncryption { algorithm: Some("AES256".into()), ..Default::default() });
    let rule = BucketEncryption {
        algorithm: Some("aws:kms".into()),
        kms_key_id: Some("arn:aws:kms:us-east-1:1:key/k".into()),
        bucket_key: true,
        block_sse_c: None,
    };
    assert_eq!(BucketEncryption::parse(&rule.to_document()), rule);
    for block in [Some(true), Some(false)] {
        let only = BucketEncryption { block_sse_c: block, ..Default::default() };
        assert_eq!(BucketEncryption::parse(&only.to_document()), only);
        let with = BucketEncryption { algorithm: Some("AES256".into()), ..only };
        assert_eq!(BucketEncryption::parse(&with.to_document()), with);
    }
}

fn engine_with(sse: SseConfig) -> TestEngine {
    let mut c = EngineConfig::new("us-east-1");
    c.min_part_size = 5;
    c.encryption = Some(Arc::new(sse));
    Engine::new(MemMetadata::new(), MemBlobs::new(), c)
}

fn ring(ids: &[(&str, u8)]) -> MasterKeys {
    let keys: Vec<_> = ids
        .iter()
        .map(|(id, b)| {
            s3gate_crypto::MasterKey::from_bytes(MasterKeyId::new(id).unwrap(), &[*b; 32])
        })
        .collect();
    MasterKeys::new(keys, &MasterKeyId::new(ids[0].0).unwrap()).unwrap()
}

#[tokio::test]
async fn sse_c_writes_follow_the_bucket_block_else_the_operator_default() {
    let mut sse = SseConfig::new(ring(&[("k1", 1)]), "123456789012");
    sse.block_sse_c_by_default = true;
    let e = engine_with(sse);
    let bkt = BucketName::parse("bkt").unwrap();
    e.create_bucket(&alice(), &bkt, None).await.unwrap();
    let put = |k: &'static str| {
        let e = e.clone();
        async move {
            let plain = data(1000);
            let req = put_req(k, plain.len(), SseRequest::Customer(customer(5)));
            e.put_object(&alice(), req, body(&plain)).await
        }
    };
    // The default blocks, and GetBucketEncryption says so as AWS does for a new bucket.
    assert!(matches!(put("a").await, Err(EngineError::SseCustomerBlocked)));
    assert!(e.metadata().object("bkt", "a").await.unwrap().is_none());
    let shown = e.bucket_encryption(&alice(), &bkt).await.unwrap().unwrap();
    assert_eq!(shown, BucketEncryption { block_sse_c: Some(true), ..Default::default() });
    // Other writes are not blocked.
    let plain = data(10);
    e.put_object(&alice(), put_req("s3", 10, SseRequest::S3), body(&plain)).await.unwrap();
    // NONE unblocks; a later rule that does not say keeps the choice.
    let allow = BucketEncryption { block_sse_c: Some(false), ..Default::default() };
    e.set_bucket_encryption(&alice(), &bkt, Some(allow)).await.unwrap();
    put("b").await.unwrap();
    let aes = BucketEncryption { algorithm: Some("AES256".into()), ..Default::default() };
    e.set_bucket_encryption(&alice(), &bkt, Some(aes)).await.unwrap();
    put("c").await.unwrap();
    let shown = e.bucket_encryption(&alice(), &bkt).await.unwrap().unwrap();
    assert_eq!(shown.block_sse_c, Some(false));
    assert_eq!(shown.algorithm.as_deref(), Some("AES256"));
    // SSE-C blocked explicitly; reads of existing SSE-C objects still work.
    let block = BucketEncryption { block_sse_c: Some(true), ..Default::default() };
    e.set_bucket_encryption(&alice(), &bkt, Some(block)).await.unwrap();
    assert!(matches!(put("d").await, Err(EngineError::SseCustomerBlocked)));
    assert_eq!(read(&e, &get_req("b", None, Some(&customer(5)))).await.unwrap(), data(1000));
    // Deleting the configuration brings the operator's default back.
    e.set_bucket_encryption(&alice(), &bkt, None).await.unwrap();
    assert!(matches!(put("e").await, Err(EngineError::SseCustomerBlocked)));
}

#[tokio::test]
async fn sse_c_is_allowed_where_the_operator_default_allows_it() {
    let e = engine_with(SseConfig::new(ring(&[("k1", 1)]), "123456789012"));
    let bkt = BucketName::parse("bkt").unwrap();
    e.create_bucket(&alice(), &bkt, None).await.unwrap();
    assert_eq!(e.bucket_encryption(&alice(), &bkt).await.unwrap(), None);
    let plain = data(100);
    let req = put_req("a", plain.len(), SseRequest::Customer(customer(5)));
    e.put_object(&alice(), req, body(&plain)).await.unwrap();
    let block = BucketEncryption { block_sse_c: Some(true), ..Default::default() };
    e.set_bucket_encryption(&alice(), &bkt, Some(block)).await.unwrap();
    let req = put_req("b", plain.len(), SseRequest::Customer(customer(5)));
    assert!(matches!(
        e.put_object(&alice(), req, body(&plain)).await,
        Err(EngineError::SseCustomerBlocked)
    ));
}

#[tokio::test]
async fn a_key_missing_from_the_ring_reloads_it_once_and_reads() {
    // The "file": what the reload reads. It holds the rotated ring.
    let file: Arc<std::sync::Mutex<Vec<(&str, u8)>>> =
        Arc::new(std::sync::Mutex::new(vec![("k2", 2), ("k1", 1)]));
    let reloads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut sse = SseConfig::new(ring(&[("k2", 2), ("k1", 1)]), "123456789012");
    sse.reload = Some({
        let (file, reloads) = (Arc::clone(&file), Arc::clone(&reloads));
        Arc::new(move || {
            reloads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(ring(&file.lock().unwrap()))
        })
    });
    let e = engine_with(sse);
    let bkt = BucketName::parse("bkt").unwrap();
    e.create_bucket(&alice(), &bkt, None).await.unwrap();
    let plain = data(70_000);
    e.put_object(&alice(), put_req("k", plain.len(), SseRequest::S3), body(&plain)).await.unwrap();
    // This gateway still holds the ring from before the rotation: k2 is unknown to it.
    e.replace_master_keys(ring(&[("k1", 1)]));
    assert_eq!(read(&e, &get_req("k", None, None)).await.unwrap(), plain);
    assert_eq!(reloads.load(std::sync::atomic::Ordering::SeqCst), 1);
    // The ring it reloaded serves the next reads without another reload.
    assert_eq!(read(&e, &get_req("k", None, None)).await.unwrap(), plain);
    assert_eq!(reloads.load(std::sync::atomic::Ordering::SeqCst), 1);
    // A key the file lacks too: the read fails (500), and within the reload interval the
    // file is not read again, however many reads ask.
    *file.lock().unwrap() = vec![("k1", 1)];
    e.replace_master_keys(ring(&[("k1", 1)]));
    assert!(read(&e, &get_req("k", None, None)).await.is_err());
    assert!(read(&e, &get_req("k", None, None)).await.is_err());
    assert_eq!(reloads.load(std::sync::atomic::Ordering::SeqCst), 1);
}
