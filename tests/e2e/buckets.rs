//! Bucket operations: create, head, list, delete, location, and their errors.

use crate::harness::{Flavour, Gateway, bucket_name, create_bucket, expect_err, put};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_head_list_delete() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("life", flavour);
        create_bucket(&c, &b).await;
        c.head_bucket().bucket(&b).send().await.expect("head existing bucket");
        let list = c.list_buckets().send().await.expect("list buckets");
        let names: Vec<&str> = list.buckets().iter().filter_map(|b| b.name()).collect();
        assert!(names.contains(&b.as_str()), "{b} missing from ListBuckets {names:?}");
        for bk in list.buckets() {
            assert!(bk.creation_date().is_some(), "bucket without CreationDate: {bk:?}");
        }
        c.delete_bucket().bucket(&b).send().await.expect("delete empty bucket");
        expect_err(c.head_bucket().bucket(&b).send().await, 404, "", "head deleted bucket");
        let list = c.list_buckets().send().await.expect("list buckets");
        assert!(
            list.buckets().iter().all(|x| x.name() != Some(b.as_str())),
            "deleted bucket still listed"
        );
        // Deleting again: NoSuchBucket.
        expect_err(
            c.delete_bucket().bucket(&b).send().await,
            404,
            "NoSuchBucket",
            "delete missing bucket",
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_buckets_is_sorted_by_name() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        for n in ["zz", "aa", "mm"] {
            create_bucket(&c, &format!("{n}-sorted-{}", flavour.tag())).await;
        }
    }
    let c = gw.client(Flavour::Default);
    let list = c.list_buckets().send().await.expect("list");
    let names: Vec<String> =
        list.buckets().iter().filter_map(|b| b.name()).map(str::to_owned).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "ListBuckets is in name order");
    assert_eq!(names.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_existing_bucket_errors() {
    let gw = Gateway::start();
    let (ak2, sk2) = gw.add_user("bob");
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("dup", flavour);
        create_bucket(&c, &b).await;
        // us-east-1: AWS's legacy answer for a bucket you own is 200, the bucket untouched.
        c.create_bucket().bucket(&b).send().await.expect("create own bucket again");
        let other = gw.client_as(&ak2, &sk2, flavour);
        expect_err(
            other.create_bucket().bucket(&b).send().await,
            409,
            "BucketAlreadyExists",
            "create another user's bucket",
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_bucket_names() {
    let gw = Gateway::start();
    let too_long = "a".repeat(64);
    let bad = [
        "ab",
        too_long.as_str(),
        "Upper-case",
        "under_score",
        "-leading-dash",
        "trailing-dash-",
        "double..dot",
        "192.168.1.1",
        "xn--punycode",
        "name-s3alias",
    ];
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        for name in bad {
            let res = c.create_bucket().bucket(name).send().await;
            expect_err(res, 400, "InvalidBucketName", &format!("create bucket {name:?}"));
        }
        // The edges of the valid range are accepted.
        let min = format!("a{}", &flavour.tag()[..1]);
        create_bucket(&c, &format!("{min}1")).await;
        create_bucket(&c, &format!("{}{}", flavour.tag(), "b".repeat(59))).await;
        create_bucket(&c, &format!("dots.and-dashes.{}", flavour.tag())).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_non_empty_bucket() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("nonempty", flavour);
        create_bucket(&c, &b).await;
        put(&c, &b, "k", b"x").await;
        expect_err(
            c.delete_bucket().bucket(&b).send().await,
            409,
            "BucketNotEmpty",
            "delete non-empty bucket",
        );
        c.head_bucket().bucket(&b).send().await.expect("bucket still there");
        c.delete_object().bucket(&b).key("k").send().await.expect("delete object");
        c.delete_bucket().bucket(&b).send().await.expect("delete now-empty bucket");
        expect_err(c.head_bucket().bucket(&b).send().await, 404, "", "head deleted bucket");
        // Object calls on a missing bucket say NoSuchBucket.
        expect_err(
            c.get_object().bucket(&b).key("k").send().await,
            404,
            "NoSuchBucket",
            "get from missing bucket",
        );
        expect_err(
            c.list_objects_v2().bucket(&b).send().await,
            404,
            "NoSuchBucket",
            "list missing bucket",
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_location() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("loc", flavour);
        create_bucket(&c, &b).await;
        let loc = c.get_bucket_location().bucket(&b).send().await.expect("GetBucketLocation");
        // us-east-1 is reported as an empty LocationConstraint (None in the SDK) by S3;
        // accept the explicit name too.
        let got = loc.location_constraint().map(|l| l.as_str().to_owned()).unwrap_or_default();
        assert!(got.is_empty() || got == "us-east-1", "unexpected location {got:?}");
        expect_err(
            c.get_bucket_location().bucket(format!("{b}-missing")).send().await,
            404,
            "NoSuchBucket",
            "location of missing bucket",
        );
    }
}
