//! CopyObject, UploadPartCopy and DeleteObjects.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, MetadataDirective, ObjectIdentifier,
};

use crate::harness::{
    Flavour, Gateway, bucket_name, create_bucket, etag_of, expect_err, get, multipart_etag, put,
    random_bytes,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_object_within_and_across_buckets() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let src = bucket_name("cpsrc", flavour);
        let dst = bucket_name("cpdst", flavour);
        create_bucket(&c, &src).await;
        create_bucket(&c, &dst).await;
        let data = random_bytes(200_000);
        c.put_object()
            .bucket(&src)
            .key("orig key+é")
            .content_type("text/x-orig")
            .metadata("m", "orig")
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        // Within the bucket, default directive COPY: metadata and type travel.
        let out = c
            .copy_object()
            .bucket(&src)
            .key("copy1")
            .copy_source(format!("{src}/orig%20key%2B%C3%A9"))
            .send()
            .await
            .expect("copy within bucket");
        let r = out.copy_object_result().expect("CopyObjectResult");
        assert_eq!(r.e_tag(), Some(etag_of(&data).as_str()));
        assert!(r.last_modified().is_some());
        let head = c.head_object().bucket(&src).key("copy1").send().await.unwrap();
        assert_eq!(head.content_type(), Some("text/x-orig"));
        assert_eq!(head.metadata().and_then(|m| m.get("m")).map(String::as_str), Some("orig"));
        assert!(get(&c, &src, "copy1").await == data);

        // Across buckets with REPLACE.
        c.copy_object()
            .bucket(&dst)
            .key("dir/copy2")
            .copy_source(format!("{src}/orig%20key%2B%C3%A9"))
            .metadata_directive(MetadataDirective::Replace)
            .content_type("application/x-new")
            .metadata("n", "new")
            .send()
            .await
            .expect("copy across buckets");
        let head = c.head_object().bucket(&dst).key("dir/copy2").send().await.unwrap();
        assert_eq!(head.content_type(), Some("application/x-new"));
        let meta = head.metadata().cloned().unwrap_or_default();
        assert_eq!(meta.get("n").map(String::as_str), Some("new"));
        assert!(!meta.contains_key("m"), "REPLACE dropped the old metadata: {meta:?}");
        assert_eq!(head.e_tag(), Some(etag_of(&data).as_str()));
        assert!(get(&c, &dst, "dir/copy2").await == data);

        // Copy onto itself without REPLACE is refused; with REPLACE it changes metadata.
        expect_err(
            c.copy_object()
                .bucket(&src)
                .key("copy1")
                .copy_source(format!("{src}/copy1"))
                .send()
                .await,
            400,
            "InvalidRequest",
            "copy onto itself without changes",
        );
        c.copy_object()
            .bucket(&src)
            .key("copy1")
            .copy_source(format!("{src}/copy1"))
            .metadata_directive(MetadataDirective::Replace)
            .metadata("m", "changed")
            .content_type("text/x-changed")
            .send()
            .await
            .expect("self-copy with REPLACE");
        let head = c.head_object().bucket(&src).key("copy1").send().await.unwrap();
        assert_eq!(head.content_type(), Some("text/x-changed"));
        assert_eq!(head.metadata().and_then(|m| m.get("m")).map(String::as_str), Some("changed"));
        assert!(get(&c, &src, "copy1").await == data, "self-copy keeps the bytes");

        // The source stays intact after the copies, and deleting it leaves the copies readable.
        c.delete_object().bucket(&src).key("orig key+é").send().await.unwrap();
        assert!(get(&c, &dst, "dir/copy2").await == data);
        assert!(get(&c, &src, "copy1").await == data);

        // Missing source.
        expect_err(
            c.copy_object().bucket(&dst).key("x").copy_source(format!("{src}/nope")).send().await,
            404,
            "NoSuchKey",
            "copy from a missing key",
        );
        expect_err(
            c.copy_object()
                .bucket(&dst)
                .key("x")
                .copy_source(format!("{src}-missing/copy1"))
                .send()
                .await,
            404,
            "NoSuchBucket",
            "copy from a missing bucket",
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_part_copy_with_range() {
    let gw = Gateway::start();
    let src_data = random_bytes(12 * 1024 * 1024);
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("upc", flavour);
        create_bucket(&c, &b).await;
        put(&c, &b, "source", &src_data).await;
        let id = c
            .create_multipart_upload()
            .bucket(&b)
            .key("assembled")
            .send()
            .await
            .unwrap()
            .upload_id()
            .unwrap()
            .to_owned();
        // Part 1: bytes 1 MiB .. 7 MiB-1 of the source (6 MiB); part 2: the last 1000 bytes.
        let (a0, a1) = (1024 * 1024, 7 * 1024 * 1024 - 1);
        let (b0, b1) = (src_data.len() - 1000, src_data.len() - 1);
        let mut etags = Vec::new();
        for (n, (first, last)) in [(1, (a0, a1)), (2, (b0, b1))] {
            let out = c
                .upload_part_copy()
                .bucket(&b)
                .key("assembled")
                .upload_id(&id)
                .part_number(n)
                .copy_source(format!("{b}/source"))
                .copy_source_range(format!("bytes={first}-{last}"))
                .send()
                .await
                .unwrap_or_else(|e| panic!("UploadPartCopy {n}: {e:?}"));
            let etag = out.copy_part_result().and_then(|r| r.e_tag()).expect("part ETag");
            assert_eq!(etag, etag_of(&src_data[first..=last]), "UploadPartCopy ETag");
            etags.push(etag.to_owned());
        }
        let parts = (1..=2)
            .zip(&etags)
            .map(|(n, e)| CompletedPart::builder().part_number(n).e_tag(e).build())
            .collect();
        let out = c
            .complete_multipart_upload()
            .bucket(&b)
            .key("assembled")
            .upload_id(&id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .unwrap();
        let p1 = &src_data[a0..=a1];
        let p2 = &src_data[b0..=b1];
        assert_eq!(out.e_tag(), Some(multipart_etag(&[p1, p2]).as_str()));
        let want: Vec<u8> = [p1, p2].concat();
        assert!(get(&c, &b, "assembled").await == want, "UploadPartCopy bytes");
        // A range past the source's end is rejected.
        let id2 = c
            .create_multipart_upload()
            .bucket(&b)
            .key("bad")
            .send()
            .await
            .unwrap()
            .upload_id()
            .unwrap()
            .to_owned();
        let res = c
            .upload_part_copy()
            .bucket(&b)
            .key("bad")
            .upload_id(&id2)
            .part_number(1)
            .copy_source(format!("{b}/source"))
            .copy_source_range(format!("bytes=0-{}", src_data.len()))
            .send()
            .await;
        expect_err(res, 416, "InvalidRange", "copy range past the end");
    }
}

fn ids(keys: &[&str], quiet: bool) -> Delete {
    Delete::builder()
        .quiet(quiet)
        .set_objects(Some(
            keys.iter().map(|k| ObjectIdentifier::builder().key(*k).build().unwrap()).collect(),
        ))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_objects_verbose_and_quiet() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("multidel", flavour);
        create_bucket(&c, &b).await;
        for k in ["a.txt", "b c.txt", "d+e.txt", "keep", "q1", "q2"] {
            put(&c, &b, k, k.as_bytes()).await;
        }
        let out = c
            .delete_objects()
            .bucket(&b)
            .delete(ids(&["a.txt", "b c.txt", "missing"], false))
            .send()
            .await
            .expect("DeleteObjects");
        let mut deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
        deleted.sort_unstable();
        assert_eq!(deleted, ["a.txt", "b c.txt", "missing"], "a missing key is reported Deleted");
        assert!(out.errors().is_empty(), "no errors: {:?}", out.errors());
        for k in ["a.txt", "b c.txt"] {
            expect_err(c.head_object().bucket(&b).key(k).send().await, 404, "", k);
        }
        // Quiet mode: no Deleted entries.
        let quiet = ids(&["d+e.txt", "q1", "q2"], true);
        let out = c.delete_objects().bucket(&b).delete(quiet).send().await.expect("quiet delete");
        assert!(out.deleted().is_empty(), "quiet mode lists nothing: {:?}", out.deleted());
        assert!(out.errors().is_empty());
        let left = c.list_objects_v2().bucket(&b).send().await.unwrap();
        let left: Vec<&str> = left.contents().iter().filter_map(|o| o.key()).collect();
        assert_eq!(left, ["keep"]);
    }
}
