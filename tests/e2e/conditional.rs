//! Conditional writes under contention: racing `If-None-Match: *` and `If-Match` PUTs,
//! CompleteMultipartUpload racing a PUT, CopyObject with `If-None-Match`, DeleteObject with
//! `If-Match`. Each race must have exactly one winner, every loser must answer
//! 412 PreconditionFailed (or 409 ConditionalRequestConflict, which AWS also allows), and what
//! is stored afterwards must be the winner's bytes.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use crate::harness::{
    Flavour, Gateway, create_bucket, err_info, etag_of, expect_err, get, put, random_bytes,
};

/// Writers per race.
const RACERS: usize = 12;

/// Outcome of one racer: `Ok(index)` for a success, `Err((status, code))` otherwise.
type Outcome = Result<usize, (u16, String)>;

/// Checks a race's outcomes: exactly one winner, losers 412/409; returns the winner's index.
#[track_caller]
fn one_winner(what: &str, outcomes: &[Outcome]) -> usize {
    let winners: Vec<usize> = outcomes.iter().filter_map(|o| o.as_ref().ok().copied()).collect();
    assert_eq!(winners.len(), 1, "{what}: expected exactly one winner: {outcomes:?}");
    for o in outcomes {
        if let Err((status, code)) = o {
            assert!(
                matches!(
                    (*status, code.as_str()),
                    (412, "PreconditionFailed") | (409, "ConditionalRequestConflict")
                ),
                "{what}: a loser answered {status} {code}: {outcomes:?}"
            );
        }
    }
    winners[0]
}

async fn race_puts(
    c: &Client,
    b: &str,
    k: &str,
    bodies: &[Vec<u8>],
    if_match: Option<&str>,
) -> Vec<Outcome> {
    let mut tasks = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let c = c.clone();
        let (b, k, body) = (b.to_owned(), k.to_owned(), body.clone());
        let if_match = if_match.map(str::to_owned);
        tasks.push(tokio::spawn(async move {
            let req = c.put_object().bucket(b).key(k).body(ByteStream::from(body));
            let req = match if_match {
                Some(etag) => req.if_match(etag),
                None => req.if_none_match("*"),
            };
            req.send().await.map(|_| i).map_err(|e| err_info(&e))
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_if_none_match_puts_have_one_winner() {
    let gw = Gateway::start();
    for flavour in Flavour::ALL {
        let c = gw.client_no_retry(flavour);
        let b = format!("cond-inm-{}", flavour.tag());
        create_bucket(&c, &b).await;
        for round in 0..3 {
            let k = format!("key-{round}");
            let bodies: Vec<Vec<u8>> = (0..RACERS).map(|_| random_bytes(40_000)).collect();
            let outcomes = race_puts(&c, &b, &k, &bodies, None).await;
            let w = one_winner(&format!("{flavour:?} If-None-Match round {round}"), &outcomes);
            assert!(get(&c, &b, &k).await == bodies[w], "{flavour:?}: the winner's bytes");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_if_match_overwrites_have_one_winner() {
    let gw = Gateway::start();
    let c = gw.client_no_retry(Flavour::Default);
    create_bucket(&c, "cond-im").await;
    let mut etag = put(&c, "cond-im", "k", b"v0").await;
    for round in 0..3 {
        let bodies: Vec<Vec<u8>> = (0..RACERS).map(|_| random_bytes(30_000)).collect();
        let outcomes = race_puts(&c, "cond-im", "k", &bodies, Some(&etag)).await;
        let w = one_winner(&format!("If-Match round {round}"), &outcomes);
        assert!(get(&c, "cond-im", "k").await == bodies[w], "the winner's bytes");
        etag = etag_of(&bodies[w]);
    }
    // A stale ETag loses without a race; If-Match on a missing key too.
    let r = c
        .put_object()
        .bucket("cond-im")
        .key("k")
        .if_match(etag_of(b"v0"))
        .body(ByteStream::from_static(b"stale"))
        .send()
        .await;
    expect_err(r, 412, "PreconditionFailed", "If-Match with a stale ETag");
    let r = c
        .put_object()
        .bucket("cond-im")
        .key("absent")
        .if_match(etag.clone())
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    let (status, code) = err_info(&r.expect_err("If-Match on a missing key must fail"));
    assert!(
        matches!((status, code.as_str()), (404, "NoSuchKey") | (412, "PreconditionFailed")),
        "If-Match on a missing key: {status} {code}"
    );
    expect_err(c.head_object().bucket("cond-im").key("absent").send().await, 404, "", "absent");
}

async fn upload_one_part(
    c: &Client,
    b: &str,
    k: &str,
    data: &[u8],
) -> (String, CompletedMultipartUpload) {
    let up = c.create_multipart_upload().bucket(b).key(k).send().await.unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let out = c
        .upload_part()
        .bucket(b)
        .key(k)
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(data.to_vec()))
        .send()
        .await
        .unwrap();
    let part = CompletedPart::builder().part_number(1).set_e_tag(out.e_tag).build();
    (id, CompletedMultipartUpload::builder().parts(part).build())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn complete_multipart_if_none_match_races_a_put() {
    let gw = Gateway::start();
    let c = gw.client_no_retry(Flavour::Default);
    create_bucket(&c, "cond-cmu").await;
    for round in 0..4 {
        let k = format!("k{round}");
        let mp_data = random_bytes(100_000);
        let put_data = random_bytes(100_000);
        let (id, parts) = upload_one_part(&c, "cond-cmu", &k, &mp_data).await;
        let complete = {
            let c = c.clone();
            let k = k.clone();
            tokio::spawn(async move {
                c.complete_multipart_upload()
                    .bucket("cond-cmu")
                    .key(k)
                    .upload_id(id)
                    .multipart_upload(parts)
                    .if_none_match("*")
                    .send()
                    .await
                    .map(|_| 0)
                    .map_err(|e| err_info(&e))
            })
        };
        let put = {
            let c = c.clone();
            let (k, body) = (k.clone(), put_data.clone());
            tokio::spawn(async move {
                c.put_object()
                    .bucket("cond-cmu")
                    .key(k)
                    .if_none_match("*")
                    .body(ByteStream::from(body))
                    .send()
                    .await
                    .map(|_| 1)
                    .map_err(|e| err_info(&e))
            })
        };
        let outcomes = [complete.await.unwrap(), put.await.unwrap()];
        let w = one_winner(&format!("Complete vs PUT round {round}"), &outcomes);
        let want = if w == 0 { &mp_data } else { &put_data };
        assert!(get(&c, "cond-cmu", &k).await == *want, "round {round}: the winner's bytes");
    }

    // Completing onto an existing key with If-None-Match fails and leaves the key alone; with
    // If-Match of the current ETag it succeeds.
    let old = put(&c, "cond-cmu", "exists", b"old").await;
    let data = random_bytes(50_000);
    let (id, parts) = upload_one_part(&c, "cond-cmu", "exists", &data).await;
    let r = c
        .complete_multipart_upload()
        .bucket("cond-cmu")
        .key("exists")
        .upload_id(&id)
        .multipart_upload(parts.clone())
        .if_none_match("*")
        .send()
        .await;
    expect_err(r, 412, "PreconditionFailed", "Complete with If-None-Match onto an existing key");
    assert_eq!(get(&c, "cond-cmu", "exists").await, b"old");
    c.complete_multipart_upload()
        .bucket("cond-cmu")
        .key("exists")
        .upload_id(&id)
        .multipart_upload(parts)
        .if_match(old)
        .send()
        .await
        .expect("Complete with If-Match of the current ETag");
    assert!(get(&c, "cond-cmu", "exists").await == data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copy_object_if_none_match() {
    let gw = Gateway::start();
    let c = gw.client_no_retry(Flavour::Default);
    create_bucket(&c, "cond-copy").await;
    let src = random_bytes(10_000);
    put(&c, "cond-copy", "src", &src).await;
    put(&c, "cond-copy", "taken", b"taken").await;

    let r = c
        .copy_object()
        .bucket("cond-copy")
        .key("taken")
        .copy_source("cond-copy/src")
        .if_none_match("*")
        .send()
        .await;
    expect_err(r, 412, "PreconditionFailed", "CopyObject If-None-Match onto an existing key");
    assert_eq!(get(&c, "cond-copy", "taken").await, b"taken");

    // Racing copies (and one PUT) onto a free key: one winner.
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.copy_object()
                .bucket("cond-copy")
                .key("free")
                .copy_source("cond-copy/src")
                .if_none_match("*")
                .send()
                .await
                .map(|_| i)
                .map_err(|e| err_info(&e))
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    one_winner("racing CopyObject If-None-Match", &outcomes);
    assert!(get(&c, "cond-copy", "free").await == src);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_object_if_match() {
    let gw = Gateway::start();
    let c = gw.client_no_retry(Flavour::Default);
    create_bucket(&c, "cond-del").await;
    let etag = put(&c, "cond-del", "k", b"keep me").await;

    let r = c.delete_object().bucket("cond-del").key("k").if_match(etag_of(b"other")).send().await;
    expect_err(r, 412, "PreconditionFailed", "DeleteObject with a wrong If-Match");
    assert_eq!(get(&c, "cond-del", "k").await, b"keep me", "nothing deleted");

    // Racing deletes with the right ETag and an overwrite with If-Match: exactly one of the
    // conditional writers wins.
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let c = c.clone();
        let etag = etag.clone();
        tasks.push(tokio::spawn(async move {
            if i == 0 {
                c.put_object()
                    .bucket("cond-del")
                    .key("k")
                    .if_match(etag)
                    .body(ByteStream::from_static(b"overwritten"))
                    .send()
                    .await
                    .map(|_| i)
                    .map_err(|e| err_info(&e))
            } else {
                c.delete_object()
                    .bucket("cond-del")
                    .key("k")
                    .if_match(etag)
                    .send()
                    .await
                    .map(|_| i)
                    .map_err(|e| err_info(&e))
            }
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        let o = t.await.unwrap();
        // A delete that found the key already gone answers 404 NoSuchKey on AWS for If-Match;
        // count it with the losers.
        outcomes.push(match o {
            Err((404, code)) if code == "NoSuchKey" => Err((412, "PreconditionFailed".to_owned())),
            other => other,
        });
    }
    let w = one_winner("If-Match delete/overwrite race", &outcomes);
    let head = c.head_object().bucket("cond-del").key("k").send().await;
    if w == 0 {
        assert_eq!(get(&c, "cond-del", "k").await, b"overwritten");
    } else {
        expect_err(head, 404, "", "deleted by the winner");
    }
}
