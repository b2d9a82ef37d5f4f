//! ListObjectsV2 and ListObjects (v1) against a `BTreeMap` model of the exact S3 answer.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use crate::harness::{Flavour, Gateway, create_bucket, etag_of};

/// One listing entry: an object key or a common prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Key(String),
    Prefix(String),
}

impl Item {
    fn text(&self) -> &str {
        match self {
            Item::Key(s) | Item::Prefix(s) => s,
        }
    }
}

/// key → body of every object in the bucket.
type Model = BTreeMap<String, Vec<u8>>;

/// Every item S3 lists for `prefix`/`delimiter` after `start_after`, in order.
fn model_items(m: &Model, prefix: &str, delimiter: Option<&str>, start_after: &str) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::new();
    for key in m.keys() {
        if key.as_str() <= start_after || !key.starts_with(prefix) {
            continue;
        }
        let rest = &key[prefix.len()..];
        match delimiter.and_then(|d| rest.find(d).map(|i| (i, d))) {
            Some((i, d)) => {
                let cp = format!("{prefix}{}", &rest[..i + d.len()]);
                if out.last() != Some(&Item::Prefix(cp.clone())) {
                    out.push(Item::Prefix(cp));
                }
            }
            None => out.push(Item::Key(key.clone())),
        }
    }
    out
}

fn split(items: &[Item]) -> (Vec<String>, Vec<String>) {
    let keys = items
        .iter()
        .filter_map(|i| if let Item::Key(k) = i { Some(k.clone()) } else { None })
        .collect();
    let cps = items
        .iter()
        .filter_map(|i| if let Item::Prefix(p) = i { Some(p.clone()) } else { None })
        .collect();
    (keys, cps)
}

fn build_model() -> Model {
    let mut m = Model::new();
    for a in 0..8 {
        for b in 0..12 {
            for c in 0..26 {
                m.insert(format!("dir{a}/sub{b}/file{c:02}"), Vec::new());
            }
        }
    }
    for i in 0..20 {
        m.insert(format!("root-{i:02}"), Vec::new());
        m.insert(format!("alpha--beta--gamma{i}"), Vec::new());
        m.insert(format!("alpha--delta{i}"), Vec::new());
    }
    for k in ["alpha-single", "alpha--", "dir3/", "dir3/sub1/", "z", "z/", "z//", "z/a--b/c"] {
        m.insert(k.to_owned(), Vec::new());
    }
    for (k, v) in &mut m {
        *v = format!("body:{k}").into_bytes();
    }
    m
}

async fn populate(gw: &Gateway, bucket: &str, m: &Model) {
    let clients = Arc::new([gw.client(Flavour::Default), gw.client(Flavour::WhenRequired)]);
    let sem = Arc::new(tokio::sync::Semaphore::new(32));
    let mut set = tokio::task::JoinSet::new();
    for (i, (k, v)) in m.iter().enumerate() {
        let permit = Arc::clone(&sem).acquire_owned().await.unwrap();
        let clients = Arc::clone(&clients);
        let (k, v, bucket) = (k.clone(), v.clone(), bucket.to_owned());
        set.spawn(async move {
            let c = &clients[i % 2];
            c.put_object()
                .bucket(&bucket)
                .key(&k)
                .body(ByteStream::from(v))
                .send()
                .await
                .unwrap_or_else(|e| panic!("put {k}: {e:?}"));
            drop(permit);
        });
    }
    while let Some(r) = set.join_next().await {
        r.expect("put task");
    }
}

/// The listing parameters of one check.
#[derive(Debug, Clone)]
struct Case {
    prefix: &'static str,
    delimiter: Option<&'static str>,
    start_after: &'static str,
    max_keys: i32,
}

fn cases(m: &Model) -> Vec<Case> {
    let prefixes =
        ["", "dir3/", "dir3/sub1", "dir", "alpha--", "alpha", "nomatch", "z", "dir7/sub11/"];
    let delimiters = [None, Some("/"), Some("--"), Some("sub")];
    // start-after values never fall inside a common-prefix group, where S3's behaviour is not
    // specified; they are keys, prefix boundaries or strings outside the key space.
    let starts = ["", "dir3", "dir5/sub3", "dir2/sub10/file13", "root-05", "~"];
    let mut out = Vec::new();
    for prefix in prefixes {
        for delimiter in delimiters {
            for start_after in starts {
                let inside_group = delimiter.is_some_and(|d| {
                    start_after.strip_prefix(prefix).is_some_and(|rest| rest.contains(d))
                });
                if inside_group {
                    continue;
                }
                let n = model_items(m, prefix, delimiter, start_after).len();
                for max_keys in [1, 7, 1000] {
                    // Bound the number of requests: tiny pages only over short listings.
                    let pages = n / usize::try_from(max_keys).unwrap();
                    let interesting = start_after.is_empty() || max_keys == 1000;
                    if pages <= 60 && interesting {
                        out.push(Case { prefix, delimiter, start_after, max_keys });
                    }
                }
            }
        }
    }
    out
}

fn check_contents(m: &Model, objs: &[aws_sdk_s3::types::Object], what: &str) {
    for o in objs {
        let k = o.key().expect("Key");
        let body = m.get(k).unwrap_or_else(|| panic!("{what}: listed unknown key {k}"));
        assert_eq!(o.size(), Some(body.len() as i64), "{what}: Size of {k}");
        assert_eq!(o.e_tag(), Some(etag_of(body).as_str()), "{what}: ETag of {k}");
        assert!(o.last_modified().is_some(), "{what}: LastModified of {k}");
    }
}

/// Pages a ListObjectsV2 manually with continuation tokens, checking every page.
async fn check_v2(c: &Client, bucket: &str, m: &Model, case: &Case) {
    let all = model_items(m, case.prefix, case.delimiter, case.start_after);
    let max = usize::try_from(case.max_keys).unwrap();
    let expected_pages: Vec<&[Item]> =
        if all.is_empty() { vec![&all[..]] } else { all.chunks(max).collect() };
    let mut token: Option<String> = None;
    for (i, want) in expected_pages.iter().enumerate() {
        let what = format!("v2 {case:?} page {i}");
        let mut req = c
            .list_objects_v2()
            .bucket(bucket)
            .prefix(case.prefix)
            .max_keys(case.max_keys)
            .set_delimiter(case.delimiter.map(str::to_owned))
            .set_continuation_token(token.clone());
        if !case.start_after.is_empty() {
            req = req.start_after(case.start_after);
        }
        let out = req.send().await.unwrap_or_else(|e| panic!("{what}: {e:?}"));
        let (keys, cps) = split(want);
        let got_keys: Vec<String> =
            out.contents().iter().filter_map(|o| o.key()).map(str::to_owned).collect();
        let got_cps: Vec<String> =
            out.common_prefixes().iter().filter_map(|p| p.prefix()).map(str::to_owned).collect();
        assert_eq!(got_keys, keys, "{what}: Contents");
        assert_eq!(got_cps, cps, "{what}: CommonPrefixes");
        check_contents(m, out.contents(), &what);
        assert_eq!(out.key_count(), Some(i32::try_from(want.len()).unwrap()), "{what}: KeyCount");
        assert_eq!(out.max_keys(), Some(case.max_keys), "{what}: MaxKeys");
        assert_eq!(out.name(), Some(bucket), "{what}: Name");
        assert_eq!(out.prefix().unwrap_or(""), case.prefix, "{what}: Prefix");
        assert_eq!(out.delimiter(), case.delimiter, "{what}: Delimiter");
        assert_eq!(out.continuation_token(), token.as_deref(), "{what}: ContinuationToken echo");
        if !case.start_after.is_empty() {
            assert_eq!(out.start_after(), Some(case.start_after), "{what}: StartAfter echo");
        }
        let last = i + 1 == expected_pages.len();
        assert_eq!(out.is_truncated(), Some(!last), "{what}: IsTruncated");
        if last {
            assert_eq!(out.next_continuation_token(), None, "{what}: no token on the last page");
        } else {
            token = Some(out.next_continuation_token().expect("NextContinuationToken").to_owned());
        }
    }
}

/// The same listing through the SDK paginator: the concatenation must equal the model.
async fn check_v2_paginator(c: &Client, bucket: &str, m: &Model, case: &Case) {
    let all = model_items(m, case.prefix, case.delimiter, case.start_after);
    let mut req = c
        .list_objects_v2()
        .bucket(bucket)
        .prefix(case.prefix)
        .max_keys(case.max_keys)
        .set_delimiter(case.delimiter.map(str::to_owned));
    if !case.start_after.is_empty() {
        req = req.start_after(case.start_after);
    }
    let mut stream = req.into_paginator().send();
    let mut got = Vec::new();
    while let Some(page) = stream.next().await {
        let page = page.unwrap_or_else(|e| panic!("paginator {case:?}: {e:?}"));
        let mut page_items: Vec<Item> = page
            .contents()
            .iter()
            .map(|o| Item::Key(o.key().unwrap().to_owned()))
            .chain(
                page.common_prefixes().iter().map(|p| Item::Prefix(p.prefix().unwrap().to_owned())),
            )
            .collect();
        page_items.sort_by(|a, b| a.text().cmp(b.text()));
        got.extend(page_items);
    }
    assert_eq!(got, all, "paginator {case:?}");
}

/// ListObjects v1 with markers: `NextMarker` on every truncated page (AWS documents it only
/// with a delimiter; other servers and many clients expect it always), the last entry.
async fn check_v1(c: &Client, bucket: &str, m: &Model, case: &Case) {
    let all = model_items(m, case.prefix, case.delimiter, case.start_after);
    let max = usize::try_from(case.max_keys).unwrap();
    let expected_pages: Vec<&[Item]> =
        if all.is_empty() { vec![&all[..]] } else { all.chunks(max).collect() };
    let mut marker = case.start_after.to_owned();
    for (i, want) in expected_pages.iter().enumerate() {
        let what = format!("v1 {case:?} page {i} marker {marker:?}");
        let mut req = c
            .list_objects()
            .bucket(bucket)
            .prefix(case.prefix)
            .max_keys(case.max_keys)
            .set_delimiter(case.delimiter.map(str::to_owned));
        if !marker.is_empty() {
            req = req.marker(&marker);
        }
        let out = req.send().await.unwrap_or_else(|e| panic!("{what}: {e:?}"));
        let (keys, cps) = split(want);
        let got_keys: Vec<String> =
            out.contents().iter().filter_map(|o| o.key()).map(str::to_owned).collect();
        let got_cps: Vec<String> =
            out.common_prefixes().iter().filter_map(|p| p.prefix()).map(str::to_owned).collect();
        assert_eq!(got_keys, keys, "{what}: Contents");
        assert_eq!(got_cps, cps, "{what}: CommonPrefixes");
        check_contents(m, out.contents(), &what);
        assert_eq!(out.max_keys(), Some(case.max_keys), "{what}: MaxKeys");
        assert_eq!(out.marker().unwrap_or(""), marker, "{what}: Marker echo");
        let last = i + 1 == expected_pages.len();
        assert_eq!(out.is_truncated(), Some(!last), "{what}: IsTruncated");
        if last {
            assert_eq!(out.next_marker(), None, "{what}: NextMarker only when truncated");
        } else {
            let next = want.last().unwrap().text();
            assert_eq!(out.next_marker(), Some(next), "{what}: NextMarker when truncated");
            marker = next.to_owned();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listings_match_the_model() {
    let gw = Gateway::start();
    let m = build_model();
    assert!(m.len() >= 2500, "the model has {} keys", m.len());
    let bucket = "listing";
    create_bucket(&gw.client(Flavour::Default), bucket).await;
    populate(&gw, bucket, &m).await;
    let cases = cases(&m);
    println!("{} listing cases", cases.len());
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        for case in &cases {
            check_v2(&c, bucket, &m, case).await;
            check_v1(&c, bucket, &m, case).await;
        }
        // The SDK paginator over the whole bucket and a few shapes.
        for case in [
            Case { prefix: "", delimiter: None, start_after: "", max_keys: 1000 },
            Case { prefix: "", delimiter: None, start_after: "", max_keys: 333 },
            Case { prefix: "dir", delimiter: Some("/"), start_after: "", max_keys: 3 },
            Case { prefix: "alpha", delimiter: Some("--"), start_after: "", max_keys: 2 },
        ] {
            check_v2_paginator(&c, bucket, &m, &case).await;
        }
    }
    // Default max-keys is 1000 and the cap is 1000.
    let c = gw.client(Flavour::Default);
    let out = c.list_objects_v2().bucket(bucket).send().await.unwrap();
    assert_eq!(out.key_count(), Some(1000));
    assert_eq!(out.is_truncated(), Some(true));
    let out = c.list_objects_v2().bucket(bucket).max_keys(5000).send().await.unwrap();
    assert_eq!(out.contents().len(), 1000, "max-keys is capped at 1000");
    assert_eq!(out.is_truncated(), Some(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_reflects_deletes_and_overwrites() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = format!("relist-{}", flavour.tag());
        create_bucket(&c, &b).await;
        let mut m = Model::new();
        for i in 0..40 {
            let k = format!("p{}/k{i:02}", i % 3);
            let body = format!("v1 {k}").into_bytes();
            crate::harness::put(&c, &b, &k, &body).await;
            m.insert(k, body);
        }
        for i in (0..40).step_by(4) {
            let k = format!("p{}/k{i:02}", i % 3);
            c.delete_object().bucket(&b).key(&k).send().await.unwrap();
            m.remove(&k);
        }
        for i in (1..40).step_by(5) {
            let k = format!("p{}/k{i:02}", i % 3);
            let body = format!("version two of {k}").into_bytes();
            crate::harness::put(&c, &b, &k, &body).await;
            m.insert(k, body);
        }
        for case in [
            Case { prefix: "", delimiter: None, start_after: "", max_keys: 7 },
            Case { prefix: "", delimiter: Some("/"), start_after: "", max_keys: 1 },
            Case { prefix: "p1/", delimiter: Some("/"), start_after: "", max_keys: 1000 },
        ] {
            check_v1(&c, &b, &m, &case).await;
            check_v2(&c, &b, &m, &case).await;
        }
    }
}
