//! RenameObject (issue 15) through the real binary with aws-sdk-s3: one metadata transaction,
//! no data copied, the source's and destination's conditions, client-token retries, versioned
//! buckets and the source's permissions.

use aws_sdk_s3::operation::rename_object::RenameObjectError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};

use crate::harness::{Flavour, Gateway, create_bucket, expect_err, get, put};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_moves_the_object_with_its_metadata() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = format!("ren-{}", flavour.tag());
        create_bucket(&c, &b).await;
        c.put_object()
            .bucket(&b)
            .key("in/a b.txt")
            .content_type("text/plain")
            .metadata("who", "me")
            .tagging("t=1")
            .body(ByteStream::from_static(b"rename me"))
            .send()
            .await
            .unwrap();
        let before = c.head_object().bucket(&b).key("in/a b.txt").send().await.unwrap();
        let source = format!("{b}/{}", "in/a%20b.txt");
        c.rename_object().bucket(&b).key("out/b.txt").rename_source(&source).send().await.unwrap();
        let after = c.head_object().bucket(&b).key("out/b.txt").send().await.unwrap();
        assert_eq!(after.e_tag(), before.e_tag());
        assert_eq!(after.last_modified(), before.last_modified(), "Last-Modified is kept");
        assert_eq!(after.content_type(), Some("text/plain"));
        assert_eq!(after.metadata().and_then(|m| m.get("who")).map(String::as_str), Some("me"));
        let tags = c.get_object_tagging().bucket(&b).key("out/b.txt").send().await.unwrap();
        assert_eq!(tags.tag_set().len(), 1);
        assert_eq!(get(&c, &b, "out/b.txt").await, b"rename me");
        expect_err(c.head_object().bucket(&b).key("in/a b.txt").send().await, 404, "", "source");
        let list = c.list_objects_v2().bucket(&b).send().await.unwrap();
        let keys: Vec<&str> = list.contents().iter().filter_map(|o| o.key()).collect();
        assert_eq!(keys, ["out/b.txt"]);

        // Refusals change nothing.
        let gone = format!("{b}/in/a%20b.txt");
        expect_err(
            c.rename_object().bucket(&b).key("x").rename_source(&gone).send().await,
            404,
            "NoSuchKey",
            "a missing source",
        );
        let here = format!("{b}/out/b.txt");
        expect_err(
            c.rename_object().bucket(&b).key("out/b.txt").rename_source(&here).send().await,
            400,
            "InvalidRequest",
            "a rename onto itself",
        );
        expect_err(
            c.rename_object()
                .bucket(&b)
                .key("x")
                .rename_source("other-bucket/out/b.txt")
                .send()
                .await,
            400,
            "InvalidRequest",
            "a source in another bucket",
        );
        expect_err(
            c.rename_object()
                .bucket(&b)
                .key("x")
                .rename_source(&here)
                .source_if_match("\"0123\"")
                .send()
                .await,
            412,
            "PreconditionFailed",
            "a source If-Match of another ETag",
        );
        put(&c, &b, "taken", b"old").await;
        expect_err(
            c.rename_object()
                .bucket(&b)
                .key("taken")
                .rename_source(&here)
                .destination_if_none_match("*")
                .send()
                .await,
            412,
            "PreconditionFailed",
            "If-None-Match: * on an existing destination",
        );
        assert_eq!(get(&c, &b, "out/b.txt").await, b"rename me");
        assert_eq!(get(&c, &b, "taken").await, b"old");
        // Matching conditions rename over an existing destination.
        c.rename_object()
            .bucket(&b)
            .key("taken")
            .rename_source(&here)
            .source_if_match(after.e_tag().unwrap())
            .destination_if_match(put(&c, &b, "taken", b"older").await)
            .send()
            .await
            .unwrap();
        assert_eq!(get(&c, &b, "taken").await, b"rename me");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_rename_is_answered_by_its_client_token() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    create_bucket(&c, "ren-token").await;
    put(&c, "ren-token", "a", b"1").await;
    let send = |key: &'static str| {
        c.rename_object()
            .bucket("ren-token")
            .key(key)
            .rename_source("ren-token/a")
            .client_token("retry-me-0001")
            .send()
    };
    send("b").await.unwrap();
    // The answer was lost and the SDK retries with the same token: the same answer.
    send("b").await.expect("a retry of a committed rename succeeds");
    assert_eq!(get(&c, "ren-token", "b").await, b"1");
    let err = send("c").await.unwrap_err();
    assert!(
        err.as_service_error().is_some_and(RenameObjectError::is_idempotency_parameter_mismatch),
        "{err:?}"
    );
    expect_err(c.head_object().bucket("ren-token").key("c").send().await, 404, "", "c");
    // Without a token of its own the SDK makes one per call.
    put(&c, "ren-token", "d", b"2").await;
    c.rename_object()
        .bucket("ren-token")
        .key("e")
        .rename_source("ren-token/d")
        .send()
        .await
        .unwrap();
    assert_eq!(get(&c, "ren-token", "e").await, b"2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_versioned_rename_leaves_a_delete_marker_and_needs_the_sources_permissions() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    let b = "ren-versions";
    create_bucket(&c, b).await;
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled);
    c.put_bucket_versioning()
        .bucket(b)
        .versioning_configuration(enabled.build())
        .send()
        .await
        .unwrap();
    let v1 = c
        .put_object()
        .bucket(b)
        .key("a")
        .body(ByteStream::from_static(b"v1"))
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    c.rename_object().bucket(b).key("b").rename_source(format!("{b}/a")).send().await.unwrap();
    let versions = c.list_object_versions().bucket(b).send().await.unwrap();
    let markers: Vec<&str> = versions.delete_markers().iter().filter_map(|m| m.key()).collect();
    assert_eq!(markers, ["a"]);
    let kept = c.get_object().bucket(b).key("a").version_id(&v1).send().await.unwrap();
    assert_eq!(kept.body.collect().await.unwrap().into_bytes().as_ref(), b"v1");
    let moved = c.head_object().bucket(b).key("b").send().await.unwrap();
    assert!(moved.version_id().is_some_and(|id| id != v1), "a new version at the destination");

    // The caller must be allowed to delete the source: a Deny binds even the owner.
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":"*",
        "Action":"s3:DeleteObject","Resource":"arn:aws:s3:::{b}/keep/*"}}]}}"#
    );
    c.put_bucket_policy().bucket(b).policy(policy).send().await.unwrap();
    put(&c, b, "keep/x", b"kept").await;
    expect_err(
        c.rename_object().bucket(b).key("y").rename_source(format!("{b}/keep/x")).send().await,
        403,
        "AccessDenied",
        "a rename of a source the caller may not delete",
    );
    assert_eq!(get(&c, b, "keep/x").await, b"kept");
    expect_err(c.head_object().bucket(b).key("y").send().await, 404, "", "y");
}
