//! Server-side encryption through the real binary: SSE-S3 (request header, bucket default,
//! operator default), SSE-C (right, wrong and missing keys; refused over plain HTTP unless
//! allowed), ranged and multipart reads, copies across types, master key rotation, and the
//! proxy backend's upstream holding no plaintext.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BlockedEncryptionTypes, CompletedMultipartUpload, CompletedPart, EncryptionType,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule,
};
use std::os::unix::fs::PermissionsExt as _;

use base64::Engine as _;

use crate::harness::{
    Flavour, Gateway, any_file_contains, create_bucket, err_info, etag_of, get, md5_b64, put,
    random_keys, run_cli, run_cli_status, start_proxy_to,
};

/// A plaintext with a recognisable pattern, to search stored bytes for.
fn pattern(n: usize) -> Vec<u8> {
    b"PLAINTEXT-PATTERN-0123456789-".iter().copied().cycle().take(n).collect()
}

const KEY: [u8; 32] = [7; 32];
const OTHER_KEY: [u8; 32] = [9; 32];

fn b64(k: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(k)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_s3_request_bucket_default_and_ranges() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::WhenRequired);
    create_bucket(&c, "enc").await;
    let data = pattern(300_000);
    let written = c
        .put_object()
        .bucket("enc")
        .key("k")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(written.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    assert_eq!(written.e_tag(), Some(etag_of(&data).as_str()));
    let head = c.head_object().bucket("enc").key("k").send().await.unwrap();
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    assert_eq!(head.content_length(), Some(300_000));
    assert_eq!(get(&c, "enc", "k").await, data);
    let ranged = c.get_object().bucket("enc").key("k").range("bytes=65530-131080").send().await;
    let ranged = ranged.unwrap();
    assert_eq!(ranged.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    let body = ranged.body.collect().await.unwrap().into_bytes();
    assert_eq!(body.as_ref(), &data[65_530..=131_080]);
    assert!(!any_file_contains(&gw.dir.join("blobs"), b"PLAINTEXT-PATTERN-0123456789-PLAIN"));

    // Bucket default encryption: unset, the bucket reports only the default SSE-C block (no
    // default algorithm: this gateway does not encrypt by default); then set, read back,
    // applied, deleted.
    let unset = c.get_bucket_encryption().bucket("enc").send().await.unwrap();
    let rule = &unset.server_side_encryption_configuration().unwrap().rules()[0];
    assert!(rule.apply_server_side_encryption_by_default().is_none());
    assert_eq!(rule.blocked_encryption_types().unwrap().encryption_type(), &[EncryptionType::SseC]);
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::Aes256)
                .build()
                .unwrap(),
        )
        .build();
    let conf = ServerSideEncryptionConfiguration::builder().rules(rule).build().unwrap();
    c.put_bucket_encryption()
        .bucket("enc")
        .server_side_encryption_configuration(conf)
        .send()
        .await
        .unwrap();
    let got = c.get_bucket_encryption().bucket("enc").send().await.unwrap();
    let rules = got.server_side_encryption_configuration().unwrap().rules();
    let alg = rules[0].apply_server_side_encryption_by_default().unwrap().sse_algorithm();
    assert_eq!(alg, &ServerSideEncryption::Aes256);
    put(&c, "enc", "d", &pattern(1000)).await;
    let head = c.head_object().bucket("enc").key("d").send().await.unwrap();
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    c.delete_bucket_encryption().bucket("enc").send().await.unwrap();
    put(&c, "enc", "p", b"plain").await;
    let head = c.head_object().bucket("enc").key("p").send().await.unwrap();
    assert_eq!(head.server_side_encryption(), None);

    // A copy of the SSE-S3 object into the now plaintext bucket is decrypted.
    c.copy_object().bucket("enc").key("copy").copy_source("enc/k").send().await.unwrap();
    let head = c.head_object().bucket("enc").key("copy").send().await.unwrap();
    assert_eq!(head.server_side_encryption(), None);
    assert_eq!(get(&c, "enc", "copy").await, data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_c_keys_and_plain_http() {
    // Refused over plain HTTP by default, as on AWS.
    let strict = Gateway::start();
    let c = strict.client(Flavour::WhenRequired);
    create_bucket(&c, "scb").await;
    let e = c
        .put_object()
        .bucket("scb")
        .key("k")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(b64(&KEY))
        .sse_customer_key_md5(md5_b64(&KEY))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&e), (400, "InvalidRequest".into()));

    let (ak, sk) = random_keys();
    let gw = Gateway::start_with_keys(&ak, &sk, &["--allow-sse-c-over-http", "true"]);
    let c = gw.client(Flavour::WhenRequired);
    create_bucket(&c, "scb").await;
    // AWS's default since April 2026: SSE-C writes to a bucket that did not allow them are
    // refused, and GetBucketEncryption says so.
    let e = c
        .put_object()
        .bucket("scb")
        .key("k")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(b64(&KEY))
        .sse_customer_key_md5(md5_b64(&KEY))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&e), (403, "AccessDenied".into()));
    assert!(c.head_object().bucket("scb").key("k").send().await.is_err());
    let enc = c.get_bucket_encryption().bucket("scb").send().await.unwrap();
    let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
    let blocked = rule.blocked_encryption_types().unwrap().encryption_type();
    assert_eq!(blocked, &[EncryptionType::SseC]);
    let allow = ServerSideEncryptionRule::builder()
        .blocked_encryption_types(
            BlockedEncryptionTypes::builder().encryption_type(EncryptionType::None).build(),
        )
        .build();
    let config = ServerSideEncryptionConfiguration::builder().rules(allow).build().unwrap();
    c.put_bucket_encryption()
        .bucket("scb")
        .server_side_encryption_configuration(config)
        .send()
        .await
        .unwrap();
    let enc = c.get_bucket_encryption().bucket("scb").send().await.unwrap();
    let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
    assert!(rule.apply_server_side_encryption_by_default().is_none());
    let allowed = rule.blocked_encryption_types().unwrap().encryption_type();
    assert_eq!(allowed, &[EncryptionType::None]);
    let data = pattern(150_000);
    let out = c
        .put_object()
        .bucket("scb")
        .key("k")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(b64(&KEY))
        .sse_customer_key_md5(md5_b64(&KEY))
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.sse_customer_key_md5(), Some(md5_b64(&KEY).as_str()));
    assert_ne!(out.e_tag(), Some(etag_of(&data).as_str()));
    let got = c
        .get_object()
        .bucket("scb")
        .key("k")
        .range("bytes=100-70000")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(b64(&KEY))
        .sse_customer_key_md5(md5_b64(&KEY))
        .send()
        .await
        .unwrap();
    assert_eq!(got.sse_customer_algorithm(), Some("AES256"));
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), &data[100..=70_000]);
    let missing = c.get_object().bucket("scb").key("k").send().await.unwrap_err();
    assert_eq!(err_info(&missing), (400, "InvalidRequest".into()));
    let wrong = c
        .head_object()
        .bucket("scb")
        .key("k")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(b64(&OTHER_KEY))
        .sse_customer_key_md5(md5_b64(&OTHER_KEY))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&wrong).0, 403);
    // Copy SSE-C -> SSE-S3 with the source key; then the copy reads without a key.
    c.copy_object()
        .bucket("scb")
        .key("s3")
        .copy_source("scb/k")
        .copy_source_sse_customer_algorithm("AES256")
        .copy_source_sse_customer_key(b64(&KEY))
        .copy_source_sse_customer_key_md5(md5_b64(&KEY))
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(get(&c, "scb", "s3").await, data);
    assert!(!any_file_contains(&gw.dir.join("blobs"), b"PLAINTEXT-PATTERN-0123456789-PLAIN"));

    // Multipart under SSE-C: every part needs the key.
    let up = c
        .create_multipart_upload()
        .bucket("scb")
        .key("mp")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(b64(&KEY))
        .sse_customer_key_md5(md5_b64(&KEY))
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let parts = [pattern(5 << 20), pattern(1000)];
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i32::try_from(i + 1).unwrap();
        let out = c
            .upload_part()
            .bucket("scb")
            .key("mp")
            .upload_id(id)
            .part_number(n)
            .sse_customer_algorithm("AES256")
            .sse_customer_key(b64(&KEY))
            .sse_customer_key_md5(md5_b64(&KEY))
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap();
        done.push(CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).build());
    }
    let no_key = c
        .upload_part()
        .bucket("scb")
        .key("mp")
        .upload_id(id)
        .part_number(3)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&no_key).0, 400);
    c.complete_multipart_upload()
        .bucket("scb")
        .key("mp")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .unwrap();
    let got = c
        .get_object()
        .bucket("scb")
        .key("mp")
        .range(format!("bytes={}-{}", (5 << 20) - 10, (5 << 20) + 10))
        .sse_customer_algorithm("AES256")
        .sse_customer_key(b64(&KEY))
        .sse_customer_key_md5(md5_b64(&KEY))
        .send()
        .await
        .unwrap();
    let whole = parts.concat();
    let want = &whole[(5 << 20) - 10..=(5 << 20) + 10];
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), want);
}

/// The ids in a master key file: every `key` line's, and the `active` one.
fn key_file_ids(dir: &std::path::Path) -> (Vec<String>, String) {
    let text = std::fs::read_to_string(dir.join("master-keys")).unwrap();
    let mut ids = Vec::new();
    let mut active = String::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["key", id, _] => ids.push((*id).to_owned()),
            ["active", id] => (*id).clone_into(&mut active),
            _ => {}
        }
    }
    (ids, active)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_a_running_gateway_rewraps_and_retires() {
    let dir = tempfile::Builder::new().prefix("s3gate-sse-").tempdir().unwrap();
    let (ak, sk) = random_keys();
    let data = pattern(100_000);
    let gw = Gateway::start_on_with(dir.path(), &ak, &sk, &["--encrypt-by-default", "true"]);
    let c = gw.client(Flavour::Default);
    create_bucket(&c, "rot").await;
    put(&c, "rot", "old", &data).await;
    let head = c.head_object().bucket("rot").key("old").send().await.unwrap();
    assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::Aes256));
    let key_file = dir.path().join("master-keys");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    run_cli(&["kms", "create-key", "--key-id", "rotkey"], dir.path());
    let kms_put = c
        .put_object()
        .bucket("rot")
        .key("kms")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("rotkey")
        .body(ByteStream::from(data.clone()))
        .send()
        .await;
    kms_put.unwrap();
    // An upload in progress keeps its data key under the key it started with.
    let mpu = c.create_multipart_upload().bucket("rot").key("mpu").send().await.unwrap();
    let (_, first) = key_file_ids(dir.path());
    // The active key cannot be retired.
    let (ok, out) = run_cli_status(&["kms", "retire", &first], dir.path());
    assert!(!ok && out.contains("active master key"), "{out}");

    // Rotate while the gateway runs (key ids are seconds apart).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = run_cli(&["kms", "rotate"], dir.path());
    assert!(out.contains("new active master key"), "{out}");
    assert!(out.contains("re-wrapped 1 KMS key(s)"), "{out}");
    assert!(out.contains("re-wrapped 1 SSE-S3 data key(s)"), "{out}");
    let (ids, second) = key_file_ids(dir.path());
    assert_ne!(first, second);
    assert_eq!(ids.len(), 2, "{ids:?}");
    // The running gateway reads the re-wrapped keys (SSE-S3 and SSE-KMS) at once, without a
    // restart: it reloads the ring when it meets a key it lacks.
    assert_eq!(get(&c, "rot", "old").await, data);
    assert_eq!(get(&c, "rot", "kms").await, data);
    // The upload in progress still needs the first key: retiring it is refused.
    let (ok, out) = run_cli_status(&["kms", "retire", &first], dir.path());
    assert!(!ok && out.contains("still wraps"), "{out}");
    let upload_id = mpu.upload_id().unwrap();
    c.abort_multipart_upload().bucket("rot").key("mpu").upload_id(upload_id).send().await.unwrap();
    // Within the file watch's poll the gateway wraps new data keys under the new key.
    std::thread::sleep(std::time::Duration::from_secs(6));
    put(&c, "rot", "new", &data).await;
    let out = run_cli(&["kms", "retire", &first], dir.path());
    assert!(out.contains("retired master key"), "{out}");
    let (ids, _) = key_file_ids(dir.path());
    assert_eq!(ids, vec![second.clone()]);
    // Everything stays readable on the one remaining key, after a restart too.
    drop(gw);
    let gw = Gateway::start_on_with(dir.path(), &ak, &sk, &["--encrypt-by-default", "true"]);
    let c = gw.client(Flavour::Default);
    for k in ["old", "kms", "new"] {
        assert_eq!(get(&c, "rot", k).await, data, "{k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn proxy_upstream_holds_no_plaintext() {
    let up = Gateway::start();
    create_bucket(&up.client(Flavour::WhenRequired), "blobs").await;
    let gw = start_proxy_to(&up, &up.endpoint(), "blobs", &["--encrypt-by-default", "true"]);
    let c = gw.client(Flavour::WhenRequired);
    create_bucket(&c, "pxb").await;
    let data = pattern(200_000);
    put(&c, "pxb", "k", &data).await;
    assert_eq!(get(&c, "pxb", "k").await, data);
    let ranged = c.get_object().bucket("pxb").key("k").range("bytes=70000-70100").send().await;
    let body = ranged.unwrap().body.collect().await.unwrap().into_bytes();
    assert_eq!(body.as_ref(), &data[70_000..=70_100]);
    assert!(!any_file_contains(&up.dir, b"PLAINTEXT-PATTERN-0123456789-PLAIN"));
    assert!(!any_file_contains(&gw.dir, b"PLAINTEXT-PATTERN-0123456789-PLAIN"));
}
