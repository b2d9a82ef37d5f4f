//! Multipart uploads: round trip, ETag, part reads, completion errors, listings.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::harness::{
    Flavour, Gateway, bucket_name, create_bucket, etag_of, expect_err, get, multipart_etag,
    random_bytes,
};

const MIB: usize = 1024 * 1024;

async fn start_upload(c: &Client, b: &str, k: &str) -> String {
    let out = c.create_multipart_upload().bucket(b).key(k).send().await.expect("create upload");
    assert_eq!(out.bucket(), Some(b));
    assert_eq!(out.key(), Some(k));
    out.upload_id().expect("UploadId").to_owned()
}

/// Uploads a part (streaming from a file when `streaming`), returns its ETag.
async fn upload_part(
    c: &Client,
    b: &str,
    k: &str,
    id: &str,
    n: i32,
    data: &[u8],
    streaming: bool,
) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    let body = if streaming {
        std::fs::write(file.path(), data).unwrap();
        ByteStream::from_path(file.path()).await.unwrap()
    } else {
        ByteStream::from(data.to_vec())
    };
    let out = c
        .upload_part()
        .bucket(b)
        .key(k)
        .upload_id(id)
        .part_number(n)
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("upload part {n}: {e:?}"));
    let etag = out.e_tag().expect("part ETag").to_owned();
    assert_eq!(etag, etag_of(data), "part {n} ETag is its quoted MD5");
    etag
}

fn completed(parts: &[(i32, &str)]) -> CompletedMultipartUpload {
    CompletedMultipartUpload::builder()
        .set_parts(Some(
            parts
                .iter()
                .map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(*e).build())
                .collect(),
        ))
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_part_round_trip() {
    let gw = Gateway::start();
    let parts = [random_bytes(5 * MIB), random_bytes(5 * MIB), random_bytes(MIB)];
    let whole: Vec<u8> = parts.concat();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("mpu", flavour);
        create_bucket(&c, &b).await;
        let k = "big/object.bin";
        let id = start_upload(&c, &b, k).await;
        let mut etags = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            // Mix the payload modes: streaming for part 2.
            let n = i32::try_from(i + 1).unwrap();
            etags.push(upload_part(&c, &b, k, &id, n, p, i == 1).await);
        }
        let out = c
            .complete_multipart_upload()
            .bucket(&b)
            .key(k)
            .upload_id(&id)
            .multipart_upload(completed(&[(1, &etags[0]), (2, &etags[1]), (3, &etags[2])]))
            .send()
            .await
            .expect("complete");
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let want_etag = multipart_etag(&refs);
        assert_eq!(out.e_tag(), Some(want_etag.as_str()), "multipart ETag");
        assert!(get(&c, &b, k).await == whole, "multipart object bytes ({flavour:?})");
        let head = c.head_object().bucket(&b).key(k).send().await.unwrap();
        assert_eq!(head.e_tag(), Some(want_etag.as_str()));
        assert_eq!(head.content_length(), Some(whole.len() as i64));

        // Ranged GETs across part boundaries.
        let five = 5 * MIB;
        for (first, last) in [
            (five - 10, five + 10),
            (five - 1, five),
            (0, 2 * five + 5),
            (2 * five - 3, whole.len() - 1),
            (1, whole.len() - 2),
            (five, 2 * five - 1),
        ] {
            let out = c
                .get_object()
                .bucket(&b)
                .key(k)
                .range(format!("bytes={first}-{last}"))
                .send()
                .await
                .unwrap();
            let want_cr = format!("bytes {first}-{last}/{}", whole.len());
            assert_eq!(out.content_range(), Some(want_cr.as_str()));
            let body = out.body.collect().await.unwrap().into_bytes();
            assert!(body.as_ref() == &whole[first..=last], "range {first}-{last}");
        }

        // partNumber reads.
        for (n, p) in [(1, &parts[0]), (2, &parts[1]), (3, &parts[2])] {
            let out = c.get_object().bucket(&b).key(k).part_number(n).send().await.unwrap();
            assert_eq!(out.parts_count(), Some(3), "x-amz-mp-parts-count");
            assert_eq!(out.content_length(), Some(p.len() as i64));
            let body = out.body.collect().await.unwrap().into_bytes();
            assert!(body.as_ref() == p.as_slice(), "partNumber={n}");
        }
        let head = c.head_object().bucket(&b).key(k).part_number(2).send().await.unwrap();
        assert_eq!(head.content_length(), Some(parts[1].len() as i64));
        assert_eq!(head.parts_count(), Some(3));
        // The upload is gone after completion.
        expect_err(
            c.list_parts().bucket(&b).key(k).upload_id(&id).send().await,
            404,
            "NoSuchUpload",
            "ListParts after Complete",
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_errors() {
    let gw = Gateway::start();
    let p1 = random_bytes(5 * MIB);
    let p2 = random_bytes(5 * MIB);
    let small = random_bytes(1000);
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("mpuerr", flavour);
        create_bucket(&c, &b).await;
        let k = "obj";
        let id = start_upload(&c, &b, k).await;
        let e1 = upload_part(&c, &b, k, &id, 1, &p1, false).await;
        let e2 = upload_part(&c, &b, k, &id, 2, &p2, false).await;
        let complete = |parts: CompletedMultipartUpload| {
            c.complete_multipart_upload().bucket(&b).key(k).upload_id(&id).multipart_upload(parts)
        };
        expect_err(
            complete(completed(&[(2, &e2), (1, &e1)])).send().await,
            400,
            "InvalidPartOrder",
            "parts out of order",
        );
        expect_err(
            complete(completed(&[(1, &e1), (2, "\"00000000000000000000000000000000\"")]))
                .send()
                .await,
            400,
            "InvalidPart",
            "wrong part ETag",
        );
        expect_err(
            complete(completed(&[(1, &e1), (3, &e2)])).send().await,
            400,
            "InvalidPart",
            "part never uploaded",
        );
        // A small part that is not the last one.
        let e3 = upload_part(&c, &b, k, &id, 3, &small, false).await;
        let e4 = upload_part(&c, &b, k, &id, 4, &p2, true).await;
        expect_err(
            complete(completed(&[(1, &e1), (3, &e3), (4, &e4)])).send().await,
            400,
            "EntityTooSmall",
            "small non-last part",
        );
        expect_err(c.head_object().bucket(&b).key(k).send().await, 404, "", "nothing completed");
        // The upload survives the failed attempts; a valid subset completes. Parts may skip
        // numbers.
        let out = complete(completed(&[(1, &e1), (2, &e2), (3, &e3)])).send().await.unwrap();
        assert_eq!(out.e_tag(), Some(multipart_etag(&[&p1, &p2, &small]).as_str()));
        let mut want = p1.clone();
        want.extend_from_slice(&p2);
        want.extend_from_slice(&small);
        assert!(get(&c, &b, k).await == want);

        // Abort, then UploadPart / Complete / ListParts fail with NoSuchUpload.
        let id2 = start_upload(&c, &b, "aborted").await;
        let e = upload_part(&c, &b, "aborted", &id2, 1, &small, false).await;
        c.abort_multipart_upload().bucket(&b).key("aborted").upload_id(&id2).send().await.unwrap();
        expect_err(
            c.upload_part()
                .bucket(&b)
                .key("aborted")
                .upload_id(&id2)
                .part_number(2)
                .body(ByteStream::from(small.clone()))
                .send()
                .await,
            404,
            "NoSuchUpload",
            "UploadPart after Abort",
        );
        expect_err(
            c.complete_multipart_upload()
                .bucket(&b)
                .key("aborted")
                .upload_id(&id2)
                .multipart_upload(completed(&[(1, &e)]))
                .send()
                .await,
            404,
            "NoSuchUpload",
            "Complete after Abort",
        );
        expect_err(
            c.list_parts().bucket(&b).key("aborted").upload_id(&id2).send().await,
            404,
            "NoSuchUpload",
            "ListParts after Abort",
        );
        expect_err(
            c.upload_part()
                .bucket(&b)
                .key("x")
                .upload_id("no-such-upload-id")
                .part_number(1)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await,
            404,
            "NoSuchUpload",
            "UploadPart with an unknown upload id",
        );
        expect_err(
            c.head_object().bucket(&b).key("aborted").send().await,
            404,
            "",
            "aborted upload left no object",
        );
        // Part numbers outside 1..=10000.
        let id3 = start_upload(&c, &b, "badpart").await;
        for n in [0, 10_001] {
            expect_err(
                c.upload_part()
                    .bucket(&b)
                    .key("badpart")
                    .upload_id(&id3)
                    .part_number(n)
                    .body(ByteStream::from_static(b"x"))
                    .send()
                    .await,
                400,
                "InvalidArgument",
                &format!("part number {n}"),
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_parts_and_uploads_paginated_and_part_replacement() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("mpulist", flavour);
        create_bucket(&c, &b).await;
        let k = "obj";
        let id = start_upload(&c, &b, k).await;
        let first = random_bytes(5 * MIB);
        let replacement = random_bytes(5 * MIB);
        let p2 = random_bytes(5 * MIB);
        let p3 = b"tail".to_vec();
        upload_part(&c, &b, k, &id, 1, &first, false).await;
        let e1 = upload_part(&c, &b, k, &id, 1, &replacement, true).await;
        let e2 = upload_part(&c, &b, k, &id, 2, &p2, false).await;
        let e3 = upload_part(&c, &b, k, &id, 3, &p3, true).await;

        // ListParts, one part per page.
        let mut marker: Option<String> = None;
        let mut seen = Vec::new();
        loop {
            let page = c
                .list_parts()
                .bucket(&b)
                .key(k)
                .upload_id(&id)
                .max_parts(1)
                .set_part_number_marker(marker.clone())
                .send()
                .await
                .expect("ListParts");
            assert!(page.parts().len() <= 1);
            for p in page.parts() {
                seen.push((p.part_number().unwrap(), p.e_tag().unwrap().to_owned(), p.size()));
            }
            if page.is_truncated() == Some(true) {
                marker = Some(page.next_part_number_marker().expect("next marker").to_owned());
            } else {
                break;
            }
        }
        assert_eq!(
            seen,
            vec![
                (1, e1.clone(), Some(replacement.len() as i64)),
                (2, e2.clone(), Some(p2.len() as i64)),
                (3, e3.clone(), Some(4)),
            ],
            "ListParts shows the replacing part 1"
        );

        // Three more uploads, two on the same key; ListMultipartUploads one per page.
        let mut ids = vec![(k.to_owned(), id.clone())];
        for key in ["a-first", "obj", "z-last"] {
            ids.push((key.to_owned(), start_upload(&c, &b, key).await));
        }
        ids.sort();
        let mut key_marker: Option<String> = None;
        let mut id_marker: Option<String> = None;
        let mut listed = Vec::new();
        for _ in 0..10 {
            let page = c
                .list_multipart_uploads()
                .bucket(&b)
                .max_uploads(1)
                .set_key_marker(key_marker.clone())
                .set_upload_id_marker(id_marker.clone())
                .send()
                .await
                .expect("ListMultipartUploads");
            assert!(page.uploads().len() <= 1);
            for u in page.uploads() {
                listed.push((u.key().unwrap().to_owned(), u.upload_id().unwrap().to_owned()));
            }
            if page.is_truncated() == Some(true) {
                key_marker = page.next_key_marker().map(str::to_owned);
                id_marker = page.next_upload_id_marker().map(str::to_owned);
            } else {
                break;
            }
        }
        let mut sorted_listed = listed.clone();
        // Uploads of one key are ordered by initiation time, which need not sort by id.
        sorted_listed.sort();
        assert_eq!(sorted_listed, ids, "every upload listed exactly once");
        let keys: Vec<&str> = listed.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a-first", "obj", "obj", "z-last"], "uploads in key order");
        // A prefix narrows the listing.
        let page = c.list_multipart_uploads().bucket(&b).prefix("z").send().await.unwrap();
        assert_eq!(page.uploads().len(), 1);

        // Completing with the replaced part 1 yields the replacement bytes.
        let out = c
            .complete_multipart_upload()
            .bucket(&b)
            .key(k)
            .upload_id(&id)
            .multipart_upload(completed(&[(1, &e1), (2, &e2), (3, &e3)]))
            .send()
            .await
            .unwrap();
        assert_eq!(out.e_tag(), Some(multipart_etag(&[&replacement, &p2, &p3]).as_str()));
        let mut want = replacement.clone();
        want.extend_from_slice(&p2);
        want.extend_from_slice(&p3);
        assert!(get(&c, &b, k).await == want, "replaced part used");
        let page = c.list_multipart_uploads().bucket(&b).send().await.unwrap();
        assert_eq!(page.uploads().len(), 3, "the completed upload left the listing");
    }
}
