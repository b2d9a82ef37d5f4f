//! Concurrent writers and readers of one key; reads that overlap an overwrite or a delete.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use aws_sdk_s3::primitives::ByteStream;

use crate::harness::{
    Flavour, Gateway, bucket_name, create_bucket, etag_of, expect_err, get, md5_hex, put,
    random_bytes,
};

const BODY_LEN: usize = 1024 * 1024;
const WRITERS: usize = 16;
const READERS: usize = 16;
const WRITES: usize = 3;

/// The body writer `w` writes on its `s`-th write: a 32-byte stamp repeated, with the stamp
/// also naming the offset so that a mix of two bodies at any granularity is detected.
fn body_of(w: usize, s: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(BODY_LEN);
    let mut i = 0usize;
    while out.len() < BODY_LEN {
        let stamp = format!("w{w:02}s{s:03}o{i:08}{}\n", ".".repeat(15));
        out.extend_from_slice(&stamp.as_bytes()[..32]);
        i += 1;
    }
    out.truncate(BODY_LEN);
    out
}

fn identify(body: &[u8]) -> Option<(usize, usize)> {
    let head = std::str::from_utf8(body.get(..8)?).ok()?;
    let w = head.get(1..3)?.parse().ok()?;
    let s = head.get(4..7)?.parse().ok()?;
    Some((w, s))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_and_readers_never_see_a_mix() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("race", flavour);
        create_bucket(&c, &b).await;
        put(&c, &b, "hot", &body_of(99, 0)).await;
        let done = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicUsize::new(0));
        let mut writers = tokio::task::JoinSet::new();
        for w in 0..WRITERS {
            let (c, b) = (c.clone(), b.clone());
            writers.spawn(async move {
                for s in 0..WRITES {
                    let body = body_of(w, s);
                    let md5 = md5_hex(&body);
                    // Half the writers stream from a file (aws-chunked in the default flavour).
                    let file = tempfile::NamedTempFile::new().unwrap();
                    let stream = if w % 2 == 0 {
                        std::fs::write(file.path(), &body).unwrap();
                        ByteStream::from_path(file.path()).await.unwrap()
                    } else {
                        ByteStream::from(body)
                    };
                    let out = c
                        .put_object()
                        .bucket(&b)
                        .key("hot")
                        .content_md5(crate::harness::md5_b64(&body_of(w, s)))
                        .body(stream)
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("writer {w} write {s}: {e:?}"));
                    assert_eq!(out.e_tag(), Some(format!("\"{md5}\"").as_str()));
                }
            });
        }
        let mut readers = tokio::task::JoinSet::new();
        for r in 0..READERS {
            let (c, b, done, reads) = (c.clone(), b.clone(), Arc::clone(&done), Arc::clone(&reads));
            readers.spawn(async move {
                let mut n = 0;
                while !done.load(Ordering::Relaxed) || n < 2 {
                    let out = c
                        .get_object()
                        .bucket(&b)
                        .key("hot")
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("reader {r}: {e:?}"));
                    let etag = out.e_tag().map(str::to_owned);
                    let body = out.body.collect().await.unwrap().into_bytes();
                    let (w, s) = identify(&body)
                        .unwrap_or_else(|| panic!("reader {r}: unidentifiable body"));
                    assert_eq!(body.len(), BODY_LEN, "reader {r}: body length");
                    assert!(
                        body.as_ref() == body_of(w, s).as_slice(),
                        "reader {r}: body starting as writer {w} write {s} is a mix"
                    );
                    assert_eq!(etag, Some(etag_of(&body)), "reader {r}: ETag matches the body");
                    n += 1;
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        while let Some(res) = writers.join_next().await {
            res.expect("writer task");
        }
        done.store(true, Ordering::Relaxed);
        while let Some(res) = readers.join_next().await {
            res.expect("reader task");
        }
        println!("{flavour:?}: {} consistent reads", reads.load(Ordering::Relaxed));
        // The final object is the last write of some writer.
        let last = get(&c, &b, "hot").await;
        let (w, s) = identify(&last).expect("final body");
        assert_eq!(s, WRITES - 1, "final body is a last write");
        assert!(last == body_of(w, s));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_in_flight_survive_overwrite_and_delete() {
    let gw = Gateway::start();
    let old = random_bytes(64 * 1024 * 1024);
    let new = random_bytes(64 * 1024 * 1024);
    for flavour in Flavour::ALL {
        let c = gw.client(flavour);
        let b = bucket_name("inflight", flavour);
        create_bucket(&c, &b).await;
        crate::harness::put_streaming(&c, &b, "big", &old).await;

        // Overwrite while a GET is in flight.
        let mut out = c.get_object().bucket(&b).key("big").send().await.expect("GET old");
        assert_eq!(out.e_tag(), Some(etag_of(&old).as_str()));
        let mut got = Vec::with_capacity(old.len());
        let first = out.body.next().await.expect("first bytes").expect("first bytes ok");
        got.extend_from_slice(&first);
        assert_eq!(put(&c, &b, "big", &new).await, etag_of(&new));
        while let Some(chunk) = out.body.next().await {
            got.extend_from_slice(&chunk.expect("rest of the old body"));
        }
        assert!(got == old, "a GET started before an overwrite returns the old bytes");
        assert!(get(&c, &b, "big").await == new, "later GETs see the new bytes");

        // Delete while a GET is in flight.
        let mut out = c.get_object().bucket(&b).key("big").send().await.expect("GET new");
        let mut got = Vec::with_capacity(new.len());
        let first = out.body.next().await.expect("first bytes").expect("first bytes ok");
        got.extend_from_slice(&first);
        c.delete_object().bucket(&b).key("big").send().await.expect("delete");
        expect_err(c.head_object().bucket(&b).key("big").send().await, 404, "", "deleted");
        while let Some(chunk) = out.body.next().await {
            got.extend_from_slice(&chunk.expect("rest of the deleted body"));
        }
        assert!(got == new, "a GET started before a delete returns the whole object");
    }
}
