//! Early answers on kept-alive connections, over raw sockets: whenever the gateway answers
//! before it has read a request's body (refused authentication, a missing bucket, an aborted
//! upload, a failed precondition, a refused `Expect: 100-continue`, a body too large to drain),
//! the answer is a complete S3 error, and then either the next request on the same connection
//! gets its own answer, or the connection says `Connection: close` and closes cleanly after the
//! client has read the answer (no reset under a client still sending).
//!
//! Each case runs [`ROUNDS`] times: the desync this guards against struck about one request in
//! 60 to 100, depending on whether the body had arrived by the time the handler answered, so
//! every other round sends the head and the body in separate writes.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{
    Flavour, Gateway, RawResponse, create_bucket, put, random_bytes, xml_element,
};
use crate::hostile::{Payload, Signer};

const BUCKET: &str = "keepalive";
const MISSING: &str = "keepalive-missing";
const ROUNDS: usize = 200;
const MIB: usize = 1024 * 1024;

/// A gateway with `BUCKET` holding `exists` = `hello`, and the id of an aborted upload.
async fn start(extra: &[&str]) -> (Gateway, Signer, String) {
    let (ak, sk) = crate::harness::random_keys();
    let gw = Gateway::start_with_keys(&ak, &sk, extra);
    let c = gw.client(Flavour::WhenRequired);
    create_bucket(&c, BUCKET).await;
    put(&c, BUCKET, "exists", b"hello").await;
    let up = c.create_multipart_upload().bucket(BUCKET).key("mp").send().await.unwrap();
    let id = up.upload_id().unwrap().to_owned();
    c.abort_multipart_upload().bucket(BUCKET).key("mp").upload_id(&id).send().await.unwrap();
    let s = Signer::root(&gw);
    (gw, s, id)
}

async fn connect(s: &Signer) -> TcpStream {
    let c = TcpStream::connect(("127.0.0.1", s.port)).await.unwrap();
    c.set_nodelay(true).unwrap();
    c
}

fn head_len(req: &[u8]) -> usize {
    req.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4
}

/// Sends `req` whole (even rounds) or as head, then body (odd rounds: the body then often
/// arrives after the handler has answered).
async fn send(c: &mut TcpStream, req: &[u8], round: usize) -> Result<(), String> {
    let write = async {
        if round.is_multiple_of(2) {
            c.write_all(req).await
        } else {
            let (head, body) = req.split_at(head_len(req));
            c.write_all(head).await?;
            tokio::task::yield_now().await;
            c.write_all(body).await
        }
    };
    match tokio::time::timeout(Duration::from_secs(30), write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("writing the request failed: {e}")),
        Err(_) => Err("writing the request stalled for 30 s (body not read)".to_owned()),
    }
}

/// Reads one response (of known length); also says whether a `1xx` came before it.
async fn read_one(c: &mut TcpStream) -> Result<(RawResponse, bool), String> {
    let mut buf = Vec::new();
    let mut interim = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let status: u16 = lines
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("not a status line: {head:?}"))?;
            if (100..200).contains(&status) {
                interim = true;
                buf.drain(..end + 4);
                continue;
            }
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            let len = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .and_then(|(_, v)| v.parse::<usize>().ok())
                .ok_or_else(|| format!("response without content-length: {head:?}"))?;
            if buf.len() >= end + 4 + len {
                if buf.len() > end + 4 + len {
                    return Err(format!(
                        "bytes after the response: {:?}",
                        String::from_utf8_lossy(&buf[end + 4 + len..])
                    ));
                }
                let body = buf[end + 4..].to_vec();
                return Ok((RawResponse { status, headers, body }, interim));
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, c.read(&mut chunk)).await {
            Ok(Ok(0)) => {
                return Err(format!(
                    "connection closed mid-response after {:?}",
                    String::from_utf8_lossy(&buf)
                ));
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => {
                return Err(format!("read failed ({e}) after {:?}", String::from_utf8_lossy(&buf)));
            }
            Err(_) => {
                return Err(format!(
                    "no response in 30 s; got {:?}",
                    String::from_utf8_lossy(&buf)
                ));
            }
        }
    }
}

/// Reads until the server closes: `Ok` with whatever came for a clean close (FIN), `Err` for a
/// reset or nothing within 10 s.
async fn read_close(c: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match c.read(&mut chunk).await {
                Ok(0) => return Ok(()),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    match read {
        Ok(Ok(())) => Ok(buf),
        Ok(Err(e)) => Err(format!("connection reset instead of closed: {e}")),
        Err(_) => Err("the server did not close the connection within 10 s".to_owned()),
    }
}

fn closes(r: &RawResponse) -> bool {
    r.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
}

/// Checks an early answer: the S3 error with its XML body and request id.
fn check_error(r: &RawResponse, status: u16, code: &str, what: &str) -> Result<(), String> {
    if (r.status, r.error_code().as_deref()) != (status, Some(code)) {
        return Err(format!("{what}: expected {status} {code}, got {} {}", r.status, r.text()));
    }
    if r.header("x-amz-request-id").is_none()
        || xml_element(&r.text(), "RequestId").is_none_or(|id| id.is_empty())
    {
        return Err(format!("{what}: no request id: {}", r.text()));
    }
    Ok(())
}

/// `rounds` times on one connection: the early-answered request, then a GET that must get
/// the object.
async fn early_then_next(
    s: &Signer,
    what: &str,
    req: &[u8],
    status: u16,
    code: &str,
    rounds: usize,
) -> Result<(), String> {
    let next = s.keep_alive("GET", &format!("/{BUCKET}/exists"), b"");
    let mut c = connect(s).await;
    for round in 0..rounds {
        let fail = |e: String| format!("{what}, round {round}: {e}");
        send(&mut c, req, round).await.map_err(fail)?;
        let (r, _) = read_one(&mut c).await.map_err(fail)?;
        check_error(&r, status, code, what).map_err(fail)?;
        if closes(&r) {
            return Err(fail("a small body's early answer closed the connection".to_owned()));
        }
        c.write_all(&next).await.map_err(|e| fail(format!("writing the next request: {e}")))?;
        let (r, _) = read_one(&mut c).await.map_err(|e| fail(format!("the next request: {e}")))?;
        if (r.status, r.body.as_slice()) != (200, b"hello") {
            return Err(fail(format!("the next request got {} {}", r.status, r.text())));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_answers_keep_the_connection_in_step() {
    let (_gw, s, aborted) = start(&[]).await;
    let mut bad = s.clone();
    bad.sk = "not-the-secret-key".to_owned();
    let part = format!("/{BUCKET}/mp?partNumber=1&uploadId={aborted}");
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "bad signature",
            bad.keep_alive("PUT", &format!("/{BUCKET}/k"), &random_bytes(64 * 1024)),
            403,
            "SignatureDoesNotMatch",
        ),
        (
            "missing bucket",
            s.keep_alive("PUT", &format!("/{MISSING}/k"), &random_bytes(100 * 1024)),
            404,
            "NoSuchBucket",
        ),
        ("aborted upload", s.keep_alive("PUT", &part, &random_bytes(MIB)), 404, "NoSuchUpload"),
        (
            "failed precondition",
            s.keep_alive_with(
                "PUT",
                &format!("/{BUCKET}/exists"),
                &[("if-none-match", "*")],
                &[],
                &random_bytes(256 * 1024),
                &Payload::Sha256,
            ),
            412,
            "PreconditionFailed",
        ),
    ];
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (what, req, status, code) in cases {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            early_then_next(&s, what, &req, status, code, ROUNDS).await
        }));
    }
    let mut failures = Vec::new();
    for t in tasks {
        if let Err(e) = t.await.unwrap() {
            failures.push(e);
        }
    }
    println!("keepalive: 4 cases x {ROUNDS} rounds in {:?}", started.elapsed());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `Expect: 100-continue` refused: the answer comes without a `100 Continue` before it and
/// says `Connection: close`; whether the client then sends its body anyway (odd rounds) or not
/// (even rounds), the connection closes cleanly (no reset) once the client is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_100_continue_is_answered_and_closed_cleanly() {
    let (_gw, s, aborted) = start(&[]).await;
    let len = MIB.to_string();
    let part = format!("/{BUCKET}/mp?partNumber=1&uploadId={aborted}");
    let mut bad = s.clone();
    bad.sk = "not-the-secret-key".to_owned();
    let expect = [("expect", "100-continue"), ("content-length", len.as_str())];
    let cases = [
        ("missing bucket", s.clone(), format!("/{MISSING}/k"), 404, "NoSuchBucket"),
        ("aborted upload", s.clone(), part, 404, "NoSuchUpload"),
        ("bad signature", bad, format!("/{BUCKET}/k"), 403, "SignatureDoesNotMatch"),
    ];
    let body = random_bytes(MIB);
    let mut failures = Vec::new();
    for (what, signer, target, status, code) in &cases {
        let req = signer.keep_alive_with("PUT", target, &[], &expect, b"", &Payload::Unsigned);
        for round in 0..ROUNDS {
            let fail = |e: String| format!("100-continue, {what}, round {round}: {e}");
            let result = async {
                let mut c = connect(&s).await;
                c.write_all(&req).await.map_err(|e| e.to_string())?;
                let (r, interim) = read_one(&mut c).await?;
                if interim {
                    return Err("got 100 Continue for a refused request".to_owned());
                }
                check_error(&r, *status, code, what)?;
                if !closes(&r) {
                    return Err("no Connection: close after a refused 100-continue".to_owned());
                }
                if round % 2 == 1 {
                    c.write_all(&body)
                        .await
                        .map_err(|e| format!("sending the body anyway failed: {e}"))?;
                }
                c.shutdown().await.map_err(|e| e.to_string())?;
                let rest = read_close(&mut c).await?;
                if !rest.is_empty() {
                    return Err(format!(
                        "bytes after the answer: {:?}",
                        String::from_utf8_lossy(&rest)
                    ));
                }
                Ok(())
            }
            .await;
            if let Err(e) = result {
                failures.push(fail(e));
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The body is sent by a task of its own while the answer is read, as an HTTP client that
/// reads while it writes (hyper, the AWS SDKs) does. Returns the answer and the writer's
/// result.
async fn answer_while_sending(
    s: &Signer,
    head: Vec<u8>,
    body: Vec<u8>,
) -> Result<(RawResponse, Result<(), String>, TcpStream), String> {
    let c = connect(s).await;
    let (mut rd, mut wr) = c.into_split();
    let writer = tokio::spawn(async move {
        let r = async {
            wr.write_all(&head).await?;
            wr.write_all(&body).await
        }
        .await;
        (r.map_err(|e| e.to_string()), wr)
    });
    let mut buf = Vec::new();
    // Read through the owned half by reuniting only after the writer is done.
    let answer = tokio::time::timeout(Duration::from_secs(30), async {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if let Some(parsed) = crate::hostile::parse_response(&buf, false)
                && parsed.header("content-length").and_then(|v| v.parse::<usize>().ok())
                    == Some(parsed.body.len())
            {
                return Ok(parsed);
            }
            match rd.read(&mut chunk).await {
                Ok(0) => {
                    return Err(format!(
                        "closed before the full answer: {:?}",
                        String::from_utf8_lossy(&buf)
                    ));
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => {
                    return Err(format!(
                        "reset before the full answer ({e}): {:?}",
                        String::from_utf8_lossy(&buf)
                    ));
                }
            }
        }
    })
    .await
    .map_err(|_| "no answer within 30 s".to_owned())??;
    let (written, wr) = tokio::time::timeout(Duration::from_secs(60), writer)
        .await
        .map_err(|_| "the body was not read within 60 s".to_owned())?
        .unwrap();
    let c = rd.reunite(wr).map_err(|e| e.to_string())?;
    Ok((answer, written, c))
}

/// A body too large to drain for keep-alive (9 MiB, over the 8 MiB bound), or of unknown
/// length (HTTP chunked): the answer says `Connection: close`, the rest of the body is read
/// so that the client's writes all succeed, and the connection then closes cleanly. A body
/// beyond even the closing drain's bound (100 MiB, over 64 MiB) still gets its full answer
/// before the connection is cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_and_unknown_bodies_get_their_answer_before_a_clean_close() {
    let (_gw, s, _) = start(&[]).await;
    let started = Instant::now();
    let large = random_bytes(9 * MIB);
    let req = s.keep_alive_with(
        "PUT",
        &format!("/{MISSING}/large"),
        &[],
        &[],
        &large,
        &Payload::Unsigned,
    );
    let split = head_len(&req);
    let (head, body) = (req[..split].to_vec(), req[split..].to_vec());
    // A chunked body: three chunks and the terminator.
    let mut chunked = Vec::new();
    for _ in 0..3 {
        chunked.extend_from_slice(format!("{:x}\r\n", 10_000).as_bytes());
        chunked.extend_from_slice(&[7u8; 10_000]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let chunked_req = s.keep_alive_with(
        "PUT",
        &format!("/{MISSING}/chunked"),
        &[],
        &[("transfer-encoding", "chunked")],
        b"",
        &Payload::Unsigned,
    );
    let mut failures = Vec::new();
    for (what, head, body) in
        [("9 MiB body", &head, &body), ("chunked body", &chunked_req, &chunked)]
    {
        for round in 0..ROUNDS {
            let result = async {
                let (r, written, mut c) =
                    answer_while_sending(&s, head.clone(), body.clone()).await?;
                check_error(&r, 404, "NoSuchBucket", what)?;
                if !closes(&r) {
                    return Err("no Connection: close".to_owned());
                }
                written.map_err(|e| format!("sending the body failed: {e}"))?;
                let rest = read_close(&mut c).await?;
                if !rest.is_empty() {
                    return Err(format!(
                        "bytes after the answer: {:?}",
                        String::from_utf8_lossy(&rest)
                    ));
                }
                Ok(())
            }
            .await;
            if let Err(e) = result {
                failures.push(format!("{what}, round {round}: {e}"));
                break;
            }
        }
    }
    let huge = random_bytes(100 * MIB);
    for round in 0..3 {
        let req = s.keep_alive_with(
            "PUT",
            &format!("/{MISSING}/huge"),
            &[],
            &[("content-length", &huge.len().to_string())],
            b"",
            &Payload::Unsigned,
        );
        match answer_while_sending(&s, req, huge.clone()).await {
            Ok((r, _, _)) => {
                if let Err(e) = check_error(&r, 404, "NoSuchBucket", "100 MiB body") {
                    failures.push(format!("100 MiB body, round {round}: {e}"));
                } else if !closes(&r) {
                    failures.push(format!("100 MiB body, round {round}: no Connection: close"));
                }
            }
            Err(e) => failures.push(format!("100 MiB body, round {round}: {e}")),
        }
    }
    println!("keepalive: large bodies in {:?}", started.elapsed());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A client that goes away mid-body is the client's doing: logged as a client error, never as
/// an internal error of the gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gone_mid_body_is_logged_as_a_client_error() {
    let (gw, s, _) = start(&[]).await;
    let req = s.keep_alive("PUT", &format!("/{BUCKET}/gone"), &random_bytes(MIB));
    let mut c = connect(&s).await;
    c.write_all(&req[..head_len(&req) + 1000]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(c);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gw.stderr().contains("client error") {
        assert!(Instant::now() < deadline, "no client error logged:\n{}", gw.stderr());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = gw.stderr();
    assert!(!log.contains("internal error"), "logged as an internal error:\n{log}");
}

/// A body that stops short of its Content-Length fails with `400 RequestTimeout` after about
/// 20 s of silence by default, as AWS does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_times_out_after_twenty_seconds_by_default() {
    let (_gw, s, _) = start(&[]).await;
    let req = s.keep_alive("PUT", &format!("/{BUCKET}/stalled"), &[5u8; 1000]);
    let mut c = connect(&s).await;
    c.write_all(&req[..req.len() - 990]).await.unwrap();
    let sent = Instant::now();
    let (r, _) = read_one(&mut c).await.unwrap();
    let waited = sent.elapsed();
    r.assert_error(400, "RequestTimeout", "stalled body");
    assert!(closes(&r), "a timed-out body's connection closes");
    assert!(
        (Duration::from_secs(19)..Duration::from_secs(25)).contains(&waited),
        "timed out after {waited:?}"
    );
}
