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

/// Put/Get/DeleteBucketTagging: a stored tag set, AWS's limits (50 tags, key and value
/// lengths, the reserved `aws:` prefix, no key twice), Content-MD5 required, and an invalid set
/// changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_tagging() {
    use aws_sdk_s3::types::{Tag, Tagging};
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    let b = "tagged";
    create_bucket(&c, b).await;
    expect_err(c.get_bucket_tagging().bucket(b).send().await, 404, "NoSuchTagSet", "unset");
    let tagging = |pairs: &[(&str, &str)]| {
        let mut t = Tagging::builder();
        for (k, v) in pairs {
            t = t.tag_set(Tag::builder().key(*k).value(*v).build().unwrap());
        }
        t.build().unwrap()
    };
    c.put_bucket_tagging()
        .bucket(b)
        .tagging(tagging(&[("team", "storage"), ("cost center", "42")]))
        .send()
        .await
        .unwrap();
    let got = c.get_bucket_tagging().bucket(b).send().await.unwrap();
    let pairs: Vec<_> = got.tag_set().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(pairs, [("team", "storage"), ("cost center", "42")]);

    let fifty_one: Vec<(String, String)> =
        (0..51).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    let refs: Vec<(&str, &str)> = fifty_one.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let long_key = "k".repeat(129);
    let cases: Vec<(&str, Tagging)> = vec![
        ("51 tags", tagging(&refs)),
        ("reserved prefix", tagging(&[("aws:owner", "x")])),
        ("a key twice", tagging(&[("a", "1"), ("a", "2")])),
        ("a long key", tagging(&[(&long_key, "x")])),
    ];
    for (what, t) in cases {
        let err = c.put_bucket_tagging().bucket(b).tagging(t).send().await;
        expect_err(err, 400, "InvalidTag", what);
    }
    let fifty = &refs[..50];
    c.put_bucket_tagging().bucket(b).tagging(tagging(fifty)).send().await.unwrap();
    assert_eq!(c.get_bucket_tagging().bucket(b).send().await.unwrap().tag_set().len(), 50);

    // Without Content-MD5 (or a checksum) AWS refuses the body: a raw, signed request.
    let signer = crate::hostile::Signer::root(&gw);
    let body = b"<Tagging><TagSet><Tag><Key>x</Key><Value>y</Value></Tag></TagSet></Tagging>";
    let req = signer.request(
        "PUT",
        &format!("/{b}?tagging"),
        &[],
        &[],
        body,
        &crate::hostile::Payload::Sha256,
    );
    let r = crate::harness::raw_request(gw.port, &req).await;
    assert_eq!(
        (r.status, r.error_code().as_deref()),
        (400, Some("InvalidRequest")),
        "{}",
        r.text()
    );
    assert_eq!(c.get_bucket_tagging().bucket(b).send().await.unwrap().tag_set().len(), 50);

    c.delete_bucket_tagging().bucket(b).send().await.unwrap();
    expect_err(c.get_bucket_tagging().bucket(b).send().await, 404, "NoSuchTagSet", "deleted");
    // Deleted with its bucket.
    c.put_bucket_tagging().bucket(b).tagging(tagging(&[("a", "b")])).send().await.unwrap();
    c.delete_bucket().bucket(b).send().await.unwrap();
    create_bucket(&c, b).await;
    expect_err(c.get_bucket_tagging().bucket(b).send().await, 404, "NoSuchTagSet", "recreated");
}

/// ListBuckets pages with `max-buckets` and `continuation-token`, filters by `prefix` and
/// `bucket-region`, and refuses a `max-buckets` out of 1..=10000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_buckets_pages_and_filters() {
    let gw = Gateway::start();
    let c = gw.client(Flavour::Default);
    for b in ["page-a", "page-b", "page-c", "other-d"] {
        create_bucket(&c, b).await;
    }
    let names = |r: &aws_sdk_s3::operation::list_buckets::ListBucketsOutput| {
        r.buckets().iter().filter_map(|b| b.name().map(str::to_owned)).collect::<Vec<_>>()
    };
    let r = c.list_buckets().max_buckets(2).send().await.unwrap();
    assert_eq!(names(&r), ["other-d", "page-a"]);
    let token = r.continuation_token().expect("a second page").to_owned();
    let r = c.list_buckets().max_buckets(2).continuation_token(&token).send().await.unwrap();
    assert_eq!(names(&r), ["page-b", "page-c"]);
    assert_eq!(r.continuation_token(), None, "the last page has no token");
    let r = c.list_buckets().prefix("page-").max_buckets(5).send().await.unwrap();
    assert_eq!(names(&r), ["page-a", "page-b", "page-c"]);
    assert_eq!((r.prefix(), r.continuation_token()), (Some("page-"), None));
    let r = c.list_buckets().bucket_region(crate::harness::REGION).send().await.unwrap();
    assert_eq!(names(&r).len(), 4);
    let r = c.list_buckets().bucket_region("eu-west-3").send().await.unwrap();
    assert!(names(&r).is_empty());
    let all = c.list_buckets().send().await.unwrap();
    assert_eq!((names(&all).len(), all.continuation_token()), (4, None));
    for bad in [0, 10_001] {
        let err = c.list_buckets().max_buckets(bad).send().await;
        expect_err(err, 400, "InvalidArgument", "max-buckets out of range");
    }
    let err = c.list_buckets().continuation_token("%%%").send().await;
    expect_err(err, 400, "InvalidArgument", "a token that is no token");
}
