//! SSE-KMS through the real binary with the built-in KMS: keys created, listed, disabled and
//! enabled with `s3gate kms`; PUT, GET, HEAD, ranged GET, multipart, copies across types and
//! bucket default encryption with `aws:kms`; the `aws/s3` key when none is named; a disabled
//! key refused for reads and writes; an unknown key refused; master key rotation keeping
//! objects readable; the proxy backend's upstream holding no plaintext.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};

use crate::harness::{
    Flavour, Gateway, any_file_contains, create_bucket, err_info, etag_of, get, random_keys,
    run_cli, start_proxy_to,
};

const ACCOUNT: &str = "000000000000";

fn pattern(n: usize) -> Vec<u8> {
    b"KMS-PLAINTEXT-PATTERN-0123456789-".iter().copied().cycle().take(n).collect()
}

fn arn(key_id: &str) -> String {
    format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}")
}

async fn put_kms(
    c: &aws_sdk_s3::Client,
    b: &str,
    k: &str,
    key: Option<&str>,
    data: &[u8],
) -> aws_sdk_s3::operation::put_object::PutObjectOutput {
    let mut req = c
        .put_object()
        .bucket(b)
        .key(k)
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .body(ByteStream::from(data.to_vec()));
    if let Some(key) = key {
        req = req.ssekms_key_id(key);
    }
    req.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_kms_keys_objects_copies_defaults_and_disabling() {
    let dir = tempfile::Builder::new().prefix("s3gate-kms-").tempdir().unwrap();
    let (ak, sk) = random_keys();
    let gw = Gateway::start_on(dir.path(), &ak, &sk);
    let c = gw.client(Flavour::WhenRequired);
    create_bucket(&c, "kmsb").await;

    // Keys are created with the CLI, beside the running gateway (shared metadata).
    let out =
        run_cli(&["kms", "create-key", "--key-id", "testkey-1", "--alias", "app"], dir.path());
    assert!(out.contains(&arn("testkey-1")), "{out}");
    let out = run_cli(&["kms", "create-key", "--description", "second"], dir.path());
    let uuid = out.split('\t').next().unwrap().trim().to_owned();
    assert_eq!(uuid.len(), 36, "{out}");
    let list = run_cli(&["kms", "list"], dir.path());
    assert!(list.contains("testkey-1\talias/app\tenabled"), "{list}");
    assert!(list.contains(&format!("{uuid}\t-\tenabled")), "{list}");

    // PUT, HEAD, GET, ranged GET under a named key: the headers name the key's ARN, the ETag
    // is not the plaintext's MD5, the blobs hold no plaintext.
    let data = pattern(200_000);
    let written = put_kms(&c, "kmsb", "k", Some("testkey-1"), &data).await;
    assert_eq!(written.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
    assert_eq!(written.ssekms_key_id(), Some(arn("testkey-1").as_str()));
    assert_ne!(written.e_tag(), Some(etag_of(&data).as_str()));
    let head = c.head_object().bucket("kmsb").key("k").send().await.unwrap();
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
    assert_eq!(head.ssekms_key_id(), Some(arn("testkey-1").as_str()));
    assert_eq!(head.e_tag(), written.e_tag());
    assert_eq!(get(&c, "kmsb", "k").await, data);
    let ranged = c.get_object().bucket("kmsb").key("k").range("bytes=65530-131080").send().await;
    let ranged = ranged.unwrap();
    assert_eq!(ranged.ssekms_key_id(), Some(arn("testkey-1").as_str()));
    let body = ranged.body.collect().await.unwrap().into_bytes();
    assert_eq!(body.as_ref(), &data[65_530..=131_080]);
    assert!(!any_file_contains(&dir.path().join("blobs"), b"KMS-PLAINTEXT-PATTERN-0123456789-KMS"));
    // By alias, and by the alias's ARN, the same key; a bucket key is echoed.
    let by_alias = put_kms(&c, "kmsb", "a", Some("alias/app"), b"abc").await;
    assert_eq!(by_alias.ssekms_key_id(), Some(arn("testkey-1").as_str()));
    let bk = c
        .put_object()
        .bucket("kmsb")
        .key("bk")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&uuid)
        .bucket_key_enabled(true)
        .body(ByteStream::from_static(b"bucket key"))
        .send()
        .await
        .unwrap();
    assert_eq!(bk.bucket_key_enabled(), Some(true));
    let head = c.head_object().bucket("kmsb").key("bk").send().await.unwrap();
    assert_eq!(head.bucket_key_enabled(), Some(true));
    assert_eq!(head.ssekms_key_id(), Some(arn(&uuid).as_str()));

    // No key named: the aws/s3 key, created on first use.
    let default = put_kms(&c, "kmsb", "d", None, b"default key").await;
    let list = run_cli(&["kms", "list"], dir.path());
    let aws_s3 = list.lines().find(|l| l.contains("alias/aws/s3")).expect("the aws/s3 key");
    let aws_s3_id = aws_s3.split('\t').next().unwrap();
    assert_eq!(default.ssekms_key_id(), Some(arn(aws_s3_id).as_str()));
    assert_eq!(get(&c, "kmsb", "d").await, b"default key");

    // An unknown key is KMS's 400, passed on; nothing is stored.
    let e = c
        .put_object()
        .bucket("kmsb")
        .key("nope")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("no-such-key")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&e), (400, "KMS.NotFoundException".into()));
    assert!(c.head_object().bucket("kmsb").key("nope").send().await.is_err());

    // Multipart under a named key: every step answers the key.
    let up = c
        .create_multipart_upload()
        .bucket("kmsb")
        .key("mp")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("testkey-1")
        .send()
        .await
        .unwrap();
    assert_eq!(up.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
    assert_eq!(up.ssekms_key_id(), Some(arn("testkey-1").as_str()));
    let id = up.upload_id().unwrap();
    let parts = [pattern(5 * 1024 * 1024), pattern(70_000)];
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i32::try_from(i + 1).unwrap();
        let part = c
            .upload_part()
            .bucket("kmsb")
            .key("mp")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(part.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
        assert_eq!(part.ssekms_key_id(), Some(arn("testkey-1").as_str()));
        done.push(CompletedPart::builder().part_number(n).e_tag(part.e_tag().unwrap()).build());
    }
    let completed = c
        .complete_multipart_upload()
        .bucket("kmsb")
        .key("mp")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .unwrap();
    assert_eq!(completed.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
    assert_eq!(completed.ssekms_key_id(), Some(arn("testkey-1").as_str()));
    let whole = parts.concat();
    assert_eq!(get(&c, "kmsb", "mp").await, whole);

    // Copies across types re-encrypt: KMS → SSE-S3 → KMS (other key) → plain.
    let copy = |from: &str, to: &str| {
        c.copy_object().bucket("kmsb").key(to).copy_source(format!("kmsb/{from}"))
    };
    let s3 = copy("k", "s3").server_side_encryption(ServerSideEncryption::Aes256).send().await;
    assert_eq!(s3.unwrap().server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    let k2 = copy("s3", "k2")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&uuid)
        .send()
        .await
        .unwrap();
    assert_eq!(k2.ssekms_key_id(), Some(arn(&uuid).as_str()));
    assert_eq!(get(&c, "kmsb", "k2").await, data);
    let plain = copy("k2", "plain").send().await.unwrap();
    assert_eq!(plain.server_side_encryption(), None);
    assert_eq!(get(&c, "kmsb", "plain").await, data);
    // UploadPartCopy from an SSE-KMS source into an SSE-S3 upload.
    let up = c
        .create_multipart_upload()
        .bucket("kmsb")
        .key("upc")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
    let upc = c
        .upload_part_copy()
        .bucket("kmsb")
        .key("upc")
        .upload_id(up.upload_id().unwrap())
        .part_number(1)
        .copy_source("kmsb/k")
        .copy_source_range("bytes=100-199")
        .send()
        .await
        .unwrap();
    let etag = upc.copy_part_result().unwrap().e_tag().unwrap().to_owned();
    let part = CompletedPart::builder().part_number(1).e_tag(etag).build();
    c.complete_multipart_upload()
        .bucket("kmsb")
        .key("upc")
        .upload_id(up.upload_id().unwrap())
        .multipart_upload(CompletedMultipartUpload::builder().parts(part).build())
        .send()
        .await
        .unwrap();
    assert_eq!(get(&c, "kmsb", "upc").await, &data[100..200]);

    // Bucket default encryption with aws:kms and a key id: objects without headers get it.
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::AwsKms)
                .kms_master_key_id("testkey-1")
                .build()
                .unwrap(),
        )
        .bucket_key_enabled(true)
        .build();
    c.put_bucket_encryption()
        .bucket("kmsb")
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder().rules(rule).build().unwrap(),
        )
        .send()
        .await
        .unwrap();
    let got = c.get_bucket_encryption().bucket("kmsb").send().await.unwrap();
    let rules = got.server_side_encryption_configuration().unwrap().rules();
    let by_default = rules[0].apply_server_side_encryption_by_default().unwrap();
    assert_eq!(by_default.sse_algorithm(), &ServerSideEncryption::AwsKms);
    assert_eq!(by_default.kms_master_key_id(), Some("testkey-1"));
    assert_eq!(rules[0].bucket_key_enabled(), Some(true));
    let out = c
        .put_object()
        .bucket("kmsb")
        .key("bd")
        .body(ByteStream::from_static(b"by default"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
    assert_eq!(out.ssekms_key_id(), Some(arn("testkey-1").as_str()));
    assert_eq!(out.bucket_key_enabled(), Some(true));
    c.delete_bucket_encryption().bucket("kmsb").send().await.unwrap();
    let out = c.put_object().bucket("kmsb").key("after").body(ByteStream::from_static(b"x")).send();
    assert_eq!(out.await.unwrap().server_side_encryption(), None);

    // A disabled key refuses reads and writes with KMS's error; enabled, all reads again.
    let out = run_cli(&["kms", "disable", "alias/app"], dir.path());
    assert!(out.contains("disabled"), "{out}");
    assert!(run_cli(&["kms", "list"], dir.path()).contains("testkey-1\talias/app\tdisabled"));
    let e = c.get_object().bucket("kmsb").key("k").send().await.unwrap_err();
    assert_eq!(err_info(&e), (400, "KMS.DisabledException".into()));
    let e = c
        .put_object()
        .bucket("kmsb")
        .key("w")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("testkey-1")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&e), (400, "KMS.DisabledException".into()));
    // Objects under other keys still read.
    assert_eq!(get(&c, "kmsb", "k2").await, data);
    run_cli(&["kms", "enable", "testkey-1"], dir.path());
    assert_eq!(get(&c, "kmsb", "k").await, data);
    assert_eq!(get(&c, "kmsb", "mp").await, whole);
    drop(gw);

    // Master key rotation re-wraps the KMS keys: every object reads after a restart, with
    // the old master key still in the ring or not needed at all for the KMS keys.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = run_cli(&["kms", "rotate"], dir.path());
    assert!(out.contains("re-wrapped 3 KMS key(s)"), "{out}");
    let gw = Gateway::start_on(dir.path(), &ak, &sk);
    let c = gw.client(Flavour::Default);
    assert_eq!(get(&c, "kmsb", "k").await, data);
    assert_eq!(get(&c, "kmsb", "d").await, b"default key");
    assert_eq!(get(&c, "kmsb", "mp").await, whole);
    put_kms(&c, "kmsb", "new", Some("testkey-1"), b"after rotation").await;
    assert_eq!(get(&c, "kmsb", "new").await, b"after rotation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sse_kms_proxy_upstream_holds_no_plaintext() {
    let up = Gateway::start();
    create_bucket(&up.client(Flavour::WhenRequired), "blobs").await;
    let gw = start_proxy_to(&up, &up.endpoint(), "blobs", &[]);
    let c = gw.client(Flavour::WhenRequired);
    create_bucket(&c, "pxk").await;
    let data = pattern(200_000);
    put_kms(&c, "pxk", "k", None, &data).await;
    assert_eq!(get(&c, "pxk", "k").await, data);
    let ranged = c.get_object().bucket("pxk").key("k").range("bytes=70000-70100").send().await;
    let body = ranged.unwrap().body.collect().await.unwrap().into_bytes();
    assert_eq!(body.as_ref(), &data[70_000..=70_100]);
    assert!(!any_file_contains(&up.dir, b"KMS-PLAINTEXT-PATTERN-0123456789-KMS"));
    assert!(!any_file_contains(&gw.dir, b"KMS-PLAINTEXT-PATTERN-0123456789-KMS"));
}
