//! Checksums of every algorithm S3 accepts (including the 2025 additions), multipart checksums
//! (COMPOSITE and FULL_OBJECT), GetObjectAttributes and object tagging, through the SDK.
//!
//! Expected checksums are computed here with the reference crates (sha2, md-5, xxhash-rust,
//! crc-fast), independently of the gateway's own code.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart,
    ObjectAttributes, Tag, Tagging, TaggingDirective,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::Digest as _;

use crate::harness::{
    Flavour, Gateway, bucket_name, create_bucket, expect_err, get, multipart_etag, random_bytes,
};

const MIB: usize = 1024 * 1024;

/// The 2025 algorithms and how to compute them independently.
fn reference(alg: &str, data: &[u8]) -> String {
    let raw: Vec<u8> = match alg {
        "SHA512" => sha2::Sha512::digest(data).to_vec(),
        "MD5" => md5::Md5::digest(data).to_vec(),
        "XXHASH64" => xxhash_rust::xxh64::xxh64(data, 0).to_be_bytes().to_vec(),
        "XXHASH3" => xxhash_rust::xxh3::xxh3_64(data).to_be_bytes().to_vec(),
        "XXHASH128" => xxhash_rust::xxh3::xxh3_128(data).to_be_bytes().to_vec(),
        "SHA256" => sha2::Sha256::digest(data).to_vec(),
        "CRC32C" => {
            let v = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, data);
            u32::try_from(v).unwrap().to_be_bytes().to_vec()
        }
        other => panic!("no reference for {other}"),
    };
    STANDARD.encode(raw)
}

/// Completes an upload with the listed parts.
async fn complete(
    c: &Client,
    b: &str,
    k: &str,
    id: &str,
    parts: Vec<CompletedPart>,
) -> aws_sdk_s3::operation::complete_multipart_upload::CompleteMultipartUploadOutput {
    c.complete_multipart_upload()
        .bucket(b)
        .key(k)
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap()
}

/// A PutObject carrying `value` in the header of `alg`.
fn put_with(
    c: &Client,
    b: &str,
    k: &str,
    data: &[u8],
    alg: &str,
    value: &str,
) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
    let req = c.put_object().bucket(b).key(k).body(ByteStream::from(data.to_vec()));
    let v = value.to_owned();
    match alg {
        "SHA512" => req.checksum_sha512(v),
        "MD5" => req.checksum_md5(v),
        "XXHASH64" => req.checksum_xxhash64(v),
        "XXHASH3" => req.checksum_xxhash3(v),
        "XXHASH128" => req.checksum_xxhash128(v),
        other => panic!("no header for {other}"),
    }
}

fn returned(out: &aws_sdk_s3::operation::get_object::GetObjectOutput, alg: &str) -> Option<String> {
    match alg {
        "SHA512" => out.checksum_sha512(),
        "MD5" => out.checksum_md5(),
        "XXHASH64" => out.checksum_xxhash64(),
        "XXHASH3" => out.checksum_xxhash3(),
        "XXHASH128" => out.checksum_xxhash128(),
        _ => None,
    }
    .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_2025_algorithms_are_verified_stored_and_returned() {
    let gw = Gateway::start();
    // when_required: the SDK adds no CRC32 of its own beside the header we set.
    let c = gw.client(Flavour::WhenRequired);
    let b = bucket_name("algs", Flavour::WhenRequired);
    create_bucket(&c, &b).await;
    let data = random_bytes(300_000);
    for alg in ["SHA512", "MD5", "XXHASH64", "XXHASH3", "XXHASH128"] {
        let k = format!("obj-{alg}");
        let good = reference(alg, &data);
        put_with(&c, &b, &k, &data, alg, &good)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        let out = c
            .get_object()
            .bucket(&b)
            .key(&k)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(returned(&out, alg).as_deref(), Some(good.as_str()), "{alg} on GET");
        assert_eq!(out.body.collect().await.unwrap().into_bytes().as_ref(), &data[..]);
        // A ranged read never carries the whole-object checksum.
        let ranged = c
            .get_object()
            .bucket(&b)
            .key(&k)
            .range("bytes=0-99")
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(returned(&ranged, alg), None, "{alg} on a ranged GET");

        // A wrong value is refused and stores nothing.
        let bad_key = format!("bad-{alg}");
        let wrong = reference(alg, b"something else");
        expect_err(
            put_with(&c, &b, &bad_key, &data, alg, &wrong).send().await,
            400,
            "BadDigest",
            alg,
        );
        expect_err(c.head_object().bucket(&b).key(&bad_key).send().await, 404, "", alg);
        // A value of the wrong length is InvalidRequest.
        expect_err(
            put_with(&c, &b, &bad_key, &data, alg, "AAAA").send().await,
            400,
            "InvalidRequest",
            alg,
        );
    }
    // GetObjectAttributes reports the stored algorithm.
    let attrs = c
        .get_object_attributes()
        .bucket(&b)
        .key("obj-XXHASH128")
        .object_attributes(ObjectAttributes::Checksum)
        .send()
        .await
        .unwrap();
    let cs = attrs.checksum().expect("Checksum");
    assert_eq!(cs.checksum_xxhash128(), Some(reference("XXHASH128", &data).as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composite_multipart_checksum_parts_and_attributes() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::WhenRequired);
    let b = bucket_name("composite", Flavour::WhenRequired);
    create_bucket(&c, &b).await;
    let parts: Vec<Vec<u8>> = vec![random_bytes(5 * MIB), random_bytes(5 * MIB), random_bytes(77)];
    let created = c
        .create_multipart_upload()
        .bucket(&b)
        .key("big")
        .checksum_algorithm(ChecksumAlgorithm::Sha512)
        .send()
        .await
        .unwrap();
    assert_eq!(created.checksum_algorithm(), Some(&ChecksumAlgorithm::Sha512));
    let id = created.upload_id().unwrap().to_owned();
    let mut completed = Vec::new();
    let mut raw_concat = Vec::new();
    for (i, data) in parts.iter().enumerate() {
        let n = i32::try_from(i + 1).unwrap();
        let sum = reference("SHA512", data);
        raw_concat.extend_from_slice(&STANDARD.decode(&sum).unwrap());
        let out = c
            .upload_part()
            .bucket(&b)
            .key("big")
            .upload_id(&id)
            .part_number(n)
            .checksum_sha512(&sum)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(out.checksum_sha512(), Some(sum.as_str()));
        completed.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .checksum_sha512(&sum)
                .build(),
        );
    }
    // A part whose checksum disagrees with the header is refused.
    expect_err(
        c.upload_part()
            .bucket(&b)
            .key("big")
            .upload_id(&id)
            .part_number(9)
            .checksum_sha512(reference("SHA512", b"x"))
            .body(ByteStream::from(parts[2].clone()))
            .send()
            .await,
        400,
        "BadDigest",
        "wrong part checksum",
    );
    let listed = c.list_parts().bucket(&b).key("big").upload_id(&id).send().await.unwrap();
    let listed_sums: Vec<Option<&str>> =
        listed.parts().iter().map(|p| p.checksum_sha512()).collect();
    let want_sums: Vec<String> = parts.iter().map(|p| reference("SHA512", p)).collect();
    assert_eq!(listed_sums, want_sums.iter().map(|s| Some(s.as_str())).collect::<Vec<_>>());

    let done = complete(&c, &b, "big", &id, completed).await;
    let composite = format!("{}-3", STANDARD.encode(sha2::Sha512::digest(&raw_concat)));
    assert_eq!(done.checksum_sha512(), Some(composite.as_str()));
    assert_eq!(done.checksum_type(), Some(&ChecksumType::Composite));
    assert_eq!(done.e_tag(), Some(multipart_etag(&parts).as_str()));

    // partNumber=2 returns that part's checksum.
    let p2 = c
        .get_object()
        .bucket(&b)
        .key("big")
        .part_number(2)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(p2.checksum_sha512(), Some(want_sums[1].as_str()));
    assert_eq!(p2.parts_count(), Some(3));
    assert_eq!(p2.body.collect().await.unwrap().into_bytes().as_ref(), &parts[1][..]);

    // GetObjectAttributes, paginated over the parts.
    let attrs = c
        .get_object_attributes()
        .bucket(&b)
        .key("big")
        .object_attributes(ObjectAttributes::Etag)
        .object_attributes(ObjectAttributes::Checksum)
        .object_attributes(ObjectAttributes::ObjectParts)
        .object_attributes(ObjectAttributes::StorageClass)
        .object_attributes(ObjectAttributes::ObjectSize)
        .max_parts(2)
        .send()
        .await
        .unwrap();
    let etag = multipart_etag(&parts);
    assert_eq!(attrs.e_tag(), Some(etag.trim_matches('"')), "ETag comes unquoted");
    assert_eq!(attrs.object_size(), Some(i64::try_from(10 * MIB + 77).unwrap()));
    assert_eq!(
        attrs.storage_class().map(aws_sdk_s3::types::StorageClass::as_str),
        Some("STANDARD")
    );
    assert!(attrs.last_modified().is_some());
    let cs = attrs.checksum().unwrap();
    assert_eq!(cs.checksum_sha512(), Some(composite.as_str()));
    assert_eq!(cs.checksum_type(), Some(&ChecksumType::Composite));
    let op = attrs.object_parts().unwrap();
    assert_eq!(op.total_parts_count(), Some(3));
    assert_eq!(op.is_truncated(), Some(true));
    assert_eq!(op.next_part_number_marker(), Some("2"));
    let numbers: Vec<Option<i32>> =
        op.parts().iter().map(aws_sdk_s3::types::ObjectPart::part_number).collect();
    assert_eq!(numbers, vec![Some(1), Some(2)]);
    assert_eq!(op.parts()[0].checksum_sha512(), Some(want_sums[0].as_str()));
    assert_eq!(op.parts()[1].size(), Some(i64::try_from(5 * MIB).unwrap()));
    let rest = c
        .get_object_attributes()
        .bucket(&b)
        .key("big")
        .object_attributes(ObjectAttributes::ObjectParts)
        .part_number_marker("2")
        .send()
        .await
        .unwrap();
    let op = rest.object_parts().unwrap();
    assert_eq!(op.is_truncated(), Some(false));
    assert_eq!(op.parts().len(), 1);
    assert_eq!(op.parts()[0].size(), Some(77));
    assert!(rest.e_tag().is_none(), "only the asked attributes come back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_object_crc_is_combined_from_parts() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::WhenRequired);
    let b = bucket_name("fullobj", Flavour::WhenRequired);
    create_bucket(&c, &b).await;
    let parts: Vec<Vec<u8>> = vec![random_bytes(5 * MIB), random_bytes(1234)];
    let id = c
        .create_multipart_upload()
        .bucket(&b)
        .key("k")
        .checksum_algorithm(ChecksumAlgorithm::Crc32C)
        .checksum_type(ChecksumType::FullObject)
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let mut completed = Vec::new();
    for (i, data) in parts.iter().enumerate() {
        let n = i32::try_from(i + 1).unwrap();
        let out = c
            .upload_part()
            .bucket(&b)
            .key("k")
            .upload_id(&id)
            .part_number(n)
            .checksum_crc32_c(reference("CRC32C", data))
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        completed.push(CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).build());
    }
    let done = complete(&c, &b, "k", &id, completed).await;
    let whole: Vec<u8> = parts.concat();
    assert_eq!(done.checksum_crc32_c(), Some(reference("CRC32C", &whole).as_str()));
    assert_eq!(done.checksum_type(), Some(&ChecksumType::FullObject));
    let head = c
        .head_object()
        .bucket(&b)
        .key("k")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(head.checksum_crc32_c(), Some(reference("CRC32C", &whole).as_str()));
    assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));
}

fn tag_set(pairs: &[(&str, &str)]) -> Tagging {
    let tags: Vec<Tag> =
        pairs.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap()).collect();
    Tagging::builder().set_tag_set(Some(tags)).build().unwrap()
}

async fn tags_of(c: &Client, b: &str, k: &str) -> Vec<(String, String)> {
    let out = c.get_object_tagging().bucket(b).key(k).send().await.unwrap();
    out.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_tagging_round_trip_limits_and_copy_directive() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("tags", flavour);
        create_bucket(&c, &b).await;
        // x-amz-tagging on PutObject.
        c.put_object()
            .bucket(&b)
            .key("k")
            .tagging("team=blue&cost%20center=a%2Bb")
            .body(ByteStream::from_static(b"hello"))
            .send()
            .await
            .unwrap();
        // GetObjectTagging answers in key order.
        assert_eq!(tags_of(&c, &b, "k").await, owned(&[("cost center", "a+b"), ("team", "blue")]));
        let before = c.head_object().bucket(&b).key("k").send().await.unwrap();

        // PutObjectTagging replaces the set and nothing else.
        c.put_object_tagging()
            .bucket(&b)
            .key("k")
            .tagging(tag_set(&[("env", "prod"), ("empty", "")]))
            .send()
            .await
            .unwrap();
        assert_eq!(tags_of(&c, &b, "k").await, owned(&[("empty", ""), ("env", "prod")]));
        let got = c.get_object().bucket(&b).key("k").send().await.unwrap();
        assert_eq!(got.tag_count(), Some(2));
        assert_eq!(got.e_tag(), before.e_tag());
        assert_eq!(got.last_modified(), before.last_modified());
        assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"hello");

        // The limits, with S3's codes; a refused set changes nothing.
        let eleven: Vec<(String, String)> =
            (0..11).map(|i| (format!("k{i}"), String::new())).collect();
        let eleven_ref: Vec<(&str, &str)> =
            eleven.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        expect_err(
            c.put_object_tagging().bucket(&b).key("k").tagging(tag_set(&eleven_ref)).send().await,
            400,
            "BadRequest",
            "11 tags",
        );
        expect_err(
            c.put_object_tagging()
                .bucket(&b)
                .key("k")
                .tagging(tag_set(&[("a", "1"), ("a", "2")]))
                .send()
                .await,
            400,
            "InvalidTag",
            "duplicate key",
        );
        let long_key = "k".repeat(129);
        expect_err(
            c.put_object_tagging()
                .bucket(&b)
                .key("k")
                .tagging(tag_set(&[(long_key.as_str(), "v")]))
                .send()
                .await,
            400,
            "InvalidTag",
            "long key",
        );
        assert_eq!(tags_of(&c, &b, "k").await, owned(&[("empty", ""), ("env", "prod")]));
        expect_err(
            c.put_object()
                .bucket(&b)
                .key("h")
                .tagging("a=1&a=2")
                .body(ByteStream::from_static(b"x"))
                .send()
                .await,
            400,
            "InvalidArgument",
            "duplicate key in header",
        );

        // Missing keys and versions.
        expect_err(
            c.get_object_tagging().bucket(&b).key("nokey").send().await,
            404,
            "NoSuchKey",
            "get",
        );
        expect_err(
            c.put_object_tagging().bucket(&b).key("nokey").tagging(tag_set(&[])).send().await,
            404,
            "NoSuchKey",
            "put",
        );
        expect_err(
            c.get_object_tagging().bucket(&b).key("k").version_id("v2").send().await,
            400,
            "InvalidArgument",
            "version",
        );
        c.get_object_tagging().bucket(&b).key("k").version_id("null").send().await.unwrap();

        // CopyObject: COPY keeps the source's tags, REPLACE takes x-amz-tagging.
        c.copy_object().bucket(&b).key("copy").copy_source(format!("{b}/k")).send().await.unwrap();
        assert_eq!(tags_of(&c, &b, "copy").await, owned(&[("empty", ""), ("env", "prod")]));
        c.copy_object()
            .bucket(&b)
            .key("copy2")
            .copy_source(format!("{b}/k"))
            .tagging_directive(TaggingDirective::Replace)
            .tagging("only=this")
            .send()
            .await
            .unwrap();
        assert_eq!(tags_of(&c, &b, "copy2").await, owned(&[("only", "this")]));

        // Multipart: x-amz-tagging on Create lands on the object.
        let part = random_bytes(1000);
        let id = c
            .create_multipart_upload()
            .bucket(&b)
            .key("mp")
            .tagging("mp=yes")
            .send()
            .await
            .unwrap()
            .upload_id()
            .unwrap()
            .to_owned();
        let etag = c
            .upload_part()
            .bucket(&b)
            .key("mp")
            .upload_id(&id)
            .part_number(1)
            .body(ByteStream::from(part.clone()))
            .send()
            .await
            .unwrap()
            .e_tag()
            .unwrap()
            .to_owned();
        c.complete_multipart_upload()
            .bucket(&b)
            .key("mp")
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .parts(CompletedPart::builder().part_number(1).e_tag(etag).build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(tags_of(&c, &b, "mp").await, owned(&[("mp", "yes")]));
        assert_eq!(get(&c, &b, "mp").await, part);

        // DeleteObjectTagging empties the set; the object stays.
        c.delete_object_tagging().bucket(&b).key("k").send().await.unwrap();
        assert!(tags_of(&c, &b, "k").await.is_empty());
        let got = c.get_object().bucket(&b).key("k").send().await.unwrap();
        assert_eq!(got.tag_count(), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tagging_another_users_object_is_denied_and_bucket_tagging_is_not_implemented() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    let b = bucket_name("tagacl", Flavour::Default);
    create_bucket(&c, &b).await;
    c.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let (ak, sk) = gw.add_user("mallory");
    let m = gw.client_as(&ak, &sk, Flavour::Default);
    expect_err(m.get_object_tagging().bucket(&b).key("k").send().await, 403, "AccessDenied", "get");
    expect_err(
        m.put_object_tagging().bucket(&b).key("k").tagging(tag_set(&[("x", "y")])).send().await,
        403,
        "AccessDenied",
        "put",
    );
    expect_err(
        m.get_object_attributes()
            .bucket(&b)
            .key("k")
            .object_attributes(ObjectAttributes::Etag)
            .send()
            .await,
        403,
        "AccessDenied",
        "attributes",
    );
    assert!(tags_of(&c, &b, "k").await.is_empty());
    // Bucket tagging cannot be set yet: a GET answers as for a bucket without tags.
    expect_err(c.get_bucket_tagging().bucket(&b).send().await, 404, "NoSuchTagSet", "bucket");
}
