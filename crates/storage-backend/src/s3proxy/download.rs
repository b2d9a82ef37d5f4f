//! Reads: one blob range as a window of concurrent upstream `Range` requests, streamed in order.
//!
//! The read `[start, end)` is cut into `range_size` pieces. Up to `window` pieces are fetched
//! at once, each by its own task that pushes the piece's bytes into its own channel as they
//! arrive; the stream hands out the front piece's bytes (so the first byte goes out as soon as
//! the upstream sends it) and starts the next piece only when the front one is finished. A
//! piece never holds more than its own length, so a read holds at most `window × range_size`
//! bytes; when the consumer is slow the pieces fill up, and no further ones start.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream;
use http::{Method, StatusCode, header};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::client::{self, Req, Upstream};
use crate::blob::{BlobError, BlobStream};
use crate::range::checked_range;

/// Reads `len` bytes (to the end when `None`; never `Some(0)`) of upstream object `key` from
/// `offset`.
pub(crate) async fn get(
    up: &Arc<Upstream>,
    key: String,
    offset: u64,
    len: Option<u64>,
) -> Result<BlobStream, BlobError> {
    let first_len = len.map_or(up.cfg.range_size, |l| l.min(up.cfg.range_size));
    let first_end = offset.checked_add(first_len).ok_or(BlobError::InvalidRange)?;
    let resp = up.send(range_req(&key, offset, first_end)).await?;
    match resp.status() {
        StatusCode::PARTIAL_CONTENT => {
            let (from, to, total) = content_range(resp.headers())?;
            let (start, end) = checked_range(total, offset, len)?;
            let first_to = first_end.min(end);
            if from != start || to + 1 != first_to {
                return Err(BlobError::Backend(
                    format!("upstream sent bytes {from}-{to} for {start}-{}", first_to - 1).into(),
                ));
            }
            let mut dl = Download {
                up: Arc::clone(up),
                key: key.into(),
                next: first_to,
                end,
                inflight: VecDeque::new(),
                failed: false,
            };
            dl.spawn(start, first_to - start, Some(resp.into_body()));
            Ok(Box::pin(stream::unfold(dl, next_chunk)))
        }
        StatusCode::NOT_FOUND => Err(BlobError::NotFound),
        // Past the end (or an empty blob): only an empty read at the very end is valid.
        StatusCode::RANGE_NOT_SATISFIABLE | StatusCode::OK => {
            drop(resp);
            let size = super::head_size(up, &key).await?;
            let (start, end) = checked_range(size, offset, len)?;
            if start == end {
                Ok(Box::pin(stream::empty()))
            } else {
                Err(BlobError::Backend("upstream did not honour a satisfiable Range".into()))
            }
        }
        _ => Err(client::error_of(resp).await),
    }
}

/// GET of bytes `[start, end)` (`end > start`).
fn range_req(key: &str, start: u64, end: u64) -> Req<'_> {
    Req::new(Method::GET, Some(key)).header("range", format!("bytes={start}-{}", end - 1))
}

/// `Content-Range: bytes FROM-TO/TOTAL`.
fn content_range(headers: &http::HeaderMap) -> Result<(u64, u64, u64), BlobError> {
    let parse = || -> Option<(u64, u64, u64)> {
        let v = headers.get(header::CONTENT_RANGE)?.to_str().ok()?;
        let (range, total) = v.strip_prefix("bytes ")?.split_once('/')?;
        let (from, to) = range.split_once('-')?;
        Some((from.parse().ok()?, to.parse().ok()?, total.parse().ok()?))
    };
    parse().ok_or_else(|| BlobError::Backend("upstream 206 without a valid Content-Range".into()))
}

/// Aborts a task when dropped, so a dropped read stops its fetches.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One piece being fetched. Its channel is unbounded, but the task sends at most `expected`
/// bytes into it.
struct Fetch {
    rx: mpsc::UnboundedReceiver<Result<Bytes, BlobError>>,
    _task: AbortOnDrop,
    expected: u64,
    got: u64,
}

struct Download {
    up: Arc<Upstream>,
    key: Arc<str>,
    /// Start of the first piece not yet started.
    next: u64,
    end: u64,
    inflight: VecDeque<Fetch>,
    failed: bool,
}

impl Download {
    fn spawn(&mut self, start: u64, len: u64, opened: Option<Incoming>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(fetch(
            Arc::clone(&self.up),
            Arc::clone(&self.key),
            start,
            len,
            opened,
            tx,
        ));
        self.inflight.push_back(Fetch { rx, _task: AbortOnDrop(task), expected: len, got: 0 });
    }

    fn fill(&mut self) {
        while self.inflight.len() < self.up.cfg.window && self.next < self.end {
            let start = self.next;
            let len = (self.end - start).min(self.up.cfg.range_size);
            self.next += len;
            self.spawn(start, len, None);
        }
    }

    fn fail(mut self, e: BlobError) -> (Result<Bytes, BlobError>, Self) {
        self.failed = true;
        self.inflight.clear();
        (Err(e), self)
    }
}

async fn next_chunk(mut dl: Download) -> Option<(Result<Bytes, BlobError>, Download)> {
    if dl.failed {
        return None;
    }
    loop {
        dl.fill();
        let front = dl.inflight.front_mut()?;
        match front.rx.recv().await {
            Some(Ok(chunk)) => {
                front.got += chunk.len() as u64;
                if !chunk.is_empty() {
                    return Some((Ok(chunk), dl));
                }
            }
            Some(Err(e)) => return Some(dl.fail(e)),
            None if front.got == front.expected => {
                dl.inflight.pop_front();
            }
            None => return Some(dl.fail(BlobError::Backend("upstream range ended early".into()))),
        }
    }
}

/// Outcome of pumping one response body.
enum Pumped {
    /// The body ended (possibly early).
    Ended,
    /// The reader is gone: stop.
    Gone,
    /// The body broke off.
    Broken(String),
}

/// Fetches `[start, start + len)` into `tx`, resuming from the first missing byte when the
/// body breaks off, within the retry budget.
async fn fetch(
    up: Arc<Upstream>,
    key: Arc<str>,
    start: u64,
    len: u64,
    mut opened: Option<Incoming>,
    tx: mpsc::UnboundedSender<Result<Bytes, BlobError>>,
) {
    let mut got = 0u64;
    let mut failures = 0u32;
    while got < len {
        let body = match opened.take() {
            Some(body) => body,
            None => match open(&up, &key, start + got, start + len).await {
                Ok(body) => body,
                Err(e) => {
                    tracing::warn!(key = %key, start, len, got, error = %client::chain(&e),
                        "upstream read failed");
                    let _ = tx.send(Err(e));
                    return;
                }
            },
        };
        let why = match pump(&up, body, &tx, &mut got, len).await {
            Pumped::Gone => return,
            Pumped::Ended if got == len => return,
            Pumped::Ended => "body ended early".to_owned(),
            Pumped::Broken(why) => why,
        };
        failures += 1;
        if failures >= up.cfg.max_attempts.max(1) {
            tracing::warn!(key = %key, start, len, got, error = %why, "upstream read failed");
            let msg = format!("upstream read of {key} broke off {failures} times: {why}");
            let _ = tx.send(Err(BlobError::Unavailable(msg.into())));
            return;
        }
        let delay = up.backoff(failures);
        tracing::warn!(key = %key, offset = start + got, error = %why, delay_ms = delay.as_millis(),
            "upstream read broke off, resuming");
        tokio::time::sleep(delay).await;
    }
}

/// Opens bytes `[from, to)` of `key`, checking that the upstream sends exactly those.
async fn open(up: &Upstream, key: &str, from: u64, to: u64) -> Result<Incoming, BlobError> {
    let resp = up.send(range_req(key, from, to)).await?;
    match resp.status() {
        StatusCode::PARTIAL_CONTENT => {
            let (a, b, _) = content_range(resp.headers())?;
            if a != from || b + 1 != to {
                return Err(BlobError::Backend(
                    format!("upstream sent bytes {a}-{b} for {from}-{}", to - 1).into(),
                ));
            }
            Ok(resp.into_body())
        }
        // Deleted while being read.
        StatusCode::NOT_FOUND => Err(BlobError::NotFound),
        _ => Err(client::error_of(resp).await),
    }
}

async fn pump(
    up: &Upstream,
    mut body: Incoming,
    tx: &mpsc::UnboundedSender<Result<Bytes, BlobError>>,
    got: &mut u64,
    len: u64,
) -> Pumped {
    loop {
        let frame = match tokio::time::timeout(up.cfg.idle_timeout, body.frame()).await {
            Err(_) => return Pumped::Broken("no data before the idle timeout".to_owned()),
            Ok(None) => return Pumped::Ended,
            Ok(Some(Err(e))) => return Pumped::Broken(client::chain(&e)),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else { continue };
        if *got + data.len() as u64 > len {
            let _ = tx.send(Err(BlobError::Backend("upstream sent more bytes than asked".into())));
            return Pumped::Gone;
        }
        *got += data.len() as u64;
        if tx.send(Ok(data)).is_err() {
            return Pumped::Gone;
        }
    }
}
