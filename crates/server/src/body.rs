//! Request bodies in (hyper's `Incoming` → the engine's `ByteStream`, through the payload mode's
//! decoder or verifier) and response bodies out.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use http_body::{Body, Frame};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use s3gate_sigv4::{ChunkedDecoder, ChunkedError, PayloadHasher, VerifyError};
use s3gate_storage_backend::{BoxError, ByteStream};
use tokio::time::{Instant, Sleep};

use crate::metrics::CountedIncoming;

/// The response body type of every response.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// An empty response body.
pub(crate) fn empty() -> ResponseBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// A response body held in memory (XML documents).
pub(crate) fn full(data: impl Into<Bytes>) -> ResponseBody {
    Full::new(data.into()).map_err(|never| match never {}).boxed_unsync()
}

/// A streamed response body; an `Err` item aborts the connection, so a client never mistakes a
/// failed read for a complete object.
pub(crate) fn stream<S, E>(s: S) -> ResponseBody
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: Into<BoxError> + 'static,
{
    StreamBody::new(MapFrames(s)).boxed_unsync()
}

/// Keeps `held` (an in-flight request slot, a connection's request guard) until the response
/// body has been sent or dropped.
pub(crate) fn hold<T: Send + Unpin + 'static>(
    resp: http::Response<ResponseBody>,
    held: T,
) -> http::Response<ResponseBody> {
    resp.map(|body| Holding { body, _held: held }.boxed_unsync())
}

/// A response body that keeps `_held` until it has been sent or dropped: an in-flight permit,
/// or a [`DrainOnDrop`] that reads the rest of the request once the response is out.
struct Holding<T> {
    body: ResponseBody,
    _held: T,
}

impl<T: Unpin> Body for Holding<T> {
    type Data = Bytes;
    type Error = BoxError;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }
    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The request body with an idle timeout: when no byte arrives for `timeout` while the server
/// waits for one, the body fails with [`BodyReadError::TimedOut`] (slowloris bodies, an
/// `Expect: 100-continue` never followed by its body).
///
/// Dropped before its end, it leaves what is unread of the body in its [`Leftover`], so that
/// the response path decides what becomes of it ([`settle`]) instead of hyper.
pub(crate) struct TimedBody {
    /// `None` once dropped.
    inner: Option<CountedIncoming>,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
    armed: bool,
    read: ReadState,
    leftover: Leftover,
}

/// How far a [`TimedBody`] has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    /// Never polled: hyper has not sent `100 Continue`.
    Unpolled,
    /// Polled, not to its end.
    Reading,
    /// Read to its end.
    Finished,
    /// Reading failed or timed out: the connection's framing is lost, it can only be closed.
    Broken,
}

impl TimedBody {
    pub(crate) fn new(inner: CountedIncoming, timeout: Duration, leftover: Leftover) -> Self {
        TimedBody {
            inner: Some(inner),
            timeout,
            sleep: Box::pin(tokio::time::sleep(timeout)),
            armed: false,
            read: ReadState::Unpolled,
            leftover,
        }
    }
}

/// Why reading the request body failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyReadError {
    /// The connection failed or closed.
    #[error("reading the request body failed")]
    Hyper(#[source] hyper::Error),
    /// No byte arrived within the body read timeout.
    #[error("no request body byte arrived within the timeout")]
    TimedOut,
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = BodyReadError;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyReadError>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else { return Poll::Ready(None) };
        if this.read == ReadState::Unpolled {
            this.read = ReadState::Reading;
        }
        match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.armed = false;
                match &frame {
                    None => this.read = ReadState::Finished,
                    Some(Err(_)) => this.read = ReadState::Broken,
                    Some(Ok(_)) => {}
                }
                Poll::Ready(frame.map(|f| f.map_err(BodyReadError::Hyper)))
            }
            Poll::Pending => {
                if !this.armed {
                    // The clock starts when the server starts waiting.
                    this.armed = true;
                    let deadline = Instant::now() + this.timeout;
                    this.sleep.as_mut().reset(deadline);
                }
                match this.sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.read = ReadState::Broken;
                        Poll::Ready(Some(Err(BodyReadError::TimedOut)))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(CountedIncoming::is_end_stream)
    }
    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.as_ref().map_or_else(|| http_body::SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for TimedBody {
    fn drop(&mut self) {
        let read = self.read;
        // A broken body is dropped here: hyper then stops reading the connection.
        let unread = self.inner.take().filter(|b| {
            matches!(read, ReadState::Unpolled | ReadState::Reading) && !b.is_end_stream()
        });
        if let Ok(mut state) = self.leftover.0.lock() {
            state.polled = read != ReadState::Unpolled;
            state.broken = read == ReadState::Broken;
            state.body = unread;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Early answers: what becomes of a request body the handler did not read to its end.

/// Bodies with at most this much left unread are drained after an early answer and the
/// connection is kept alive: 8 MiB is the part size of the AWS CLI and most SDKs' transfer
/// managers, so a refused default-sized part does not cost a reconnect.
pub(crate) const KEEP_ALIVE_DRAIN_BYTES: u64 = 8 * 1024 * 1024;
/// After an early answer that closes the connection, at most this much of the rest of the body
/// is read (and discarded) before closing, so that a client still sending reads the answer
/// instead of a reset.
pub(crate) const CLOSE_DRAIN_BYTES: u64 = 64 * 1024 * 1024;
/// A drain stops when the client sends nothing for this long...
const DRAIN_IDLE: Duration = Duration::from_secs(5);
/// ...or after this long in all.
const DRAIN_TIME: Duration = Duration::from_secs(30);

/// Bounds of the drain after an early answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DrainLimits {
    /// At most this much left unread (and a known length): drain it and keep the connection.
    pub(crate) keep_alive: u64,
    /// Otherwise answer `Connection: close` and read at most this much before closing.
    pub(crate) close: u64,
}

impl DrainLimits {
    /// The limits of an answered request.
    pub(crate) const ANSWERED: DrainLimits =
        DrainLimits { keep_alive: KEEP_ALIVE_DRAIN_BYTES, close: CLOSE_DRAIN_BYTES };
}

/// Where a [`TimedBody`] dropped before its end leaves the unread rest of the body for
/// [`settle`]. Shared between the handler's body and the response path of one request.
#[derive(Clone, Default)]
pub(crate) struct Leftover(Arc<Mutex<LeftoverState>>);

#[derive(Default)]
struct LeftoverState {
    body: Option<CountedIncoming>,
    polled: bool,
    broken: bool,
}

impl Leftover {
    /// A leftover holding a body nobody read (a request refused before its handler ran).
    pub(crate) fn unread(body: CountedIncoming) -> Self {
        Leftover(Arc::new(Mutex::new(LeftoverState {
            body: Some(body),
            polled: false,
            broken: false,
        })))
    }
}

/// What the request's head says about its body, taken before the body is handed on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Framing {
    /// HTTP/1.x: the body shares the connection's byte stream with the next request. (In
    /// HTTP/2 an unread body is ended by a `RST_STREAM(NO_ERROR)` and nothing is shared.)
    http1: bool,
    /// `Expect: 100-continue`: the client may be waiting for `100 Continue` before sending.
    expects_continue: bool,
}

impl Framing {
    pub(crate) fn of<T>(req: &http::Request<T>) -> Self {
        Framing {
            http1: matches!(req.version(), http::Version::HTTP_10 | http::Version::HTTP_11),
            expects_continue: req
                .headers()
                .get(http::header::EXPECT)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue")),
        }
    }
}

/// What [`settle`] decided for a request body left unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Nothing was left unread (or it is not ours to settle).
    Nothing,
    /// The rest is drained after the response; the connection stays open.
    DrainKeepAlive,
    /// The response says `Connection: close`; the rest is drained (bounded) before closing.
    DrainClose,
    /// The response says `Connection: close`; the body's framing is lost, nothing is drained.
    Close,
}

/// The one place that decides what becomes of a request body its handler did not read to the
/// end (an early answer: refused authentication, a missing bucket or upload, a failed
/// precondition, a full disk, a refused `100-continue`, a request over the in-flight limit).
///
/// Left to hyper, an unread body is either drained if it happens to be buffered already or
/// the connection is closed, and which one depends on whether the handler answered before
/// hyper noticed: a response may promise keep-alive and then be followed by a close (and a
/// reset of a client still sending), so the next request on the connection fails. Here,
/// every time: a small rest of known length is drained and the connection kept; a large or
/// unknown one gets `Connection: close` and is drained, bounded, before the close so that a
/// client still sending reads the answer rather than a reset. The drain starts only once the
/// response head is written, so hyper never sends `100 Continue` for a refused request.
pub(crate) fn settle(
    resp: http::Response<ResponseBody>,
    leftover: &Leftover,
    framing: Framing,
    limits: DrainLimits,
) -> (http::Response<ResponseBody>, Settled) {
    let (body, polled, broken) = match leftover.0.lock() {
        Ok(mut s) => (s.body.take(), s.polled, s.broken),
        Err(_) => (None, true, true),
    };
    if !framing.http1 {
        return (resp, Settled::Nothing);
    }
    let Some(body) = body else {
        if broken {
            return (close(resp), Settled::Close);
        }
        return (resp, Settled::Nothing);
    };
    if body.is_end_stream() {
        return (resp, Settled::Nothing);
    }
    let remaining = body.size_hint().exact();
    // A client waiting for `100 Continue` that gets a final answer may send its body anyway or
    // not at all (RFC 9110, 10.1.1): only closing the connection is unambiguous.
    let waiting = framing.expects_continue && !polled;
    let keep = !waiting && remaining.is_some_and(|n| n <= limits.keep_alive);
    let (resp, settled, max) = if keep {
        (resp, Settled::DrainKeepAlive, remaining.unwrap_or(0))
    } else {
        (close(resp), Settled::DrainClose, limits.close)
    };
    let resp = resp.map(|b| {
        Holding { body: b, _held: DrainOnDrop { drain: Some(Drain { body, max }) } }.boxed_unsync()
    });
    (resp, settled)
}

fn close(mut resp: http::Response<ResponseBody>) -> http::Response<ResponseBody> {
    resp.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
    resp
}

/// The rest of a request body to read and discard.
struct Drain {
    body: CountedIncoming,
    max: u64,
}

impl Drain {
    async fn run(mut self) {
        let mut read = 0u64;
        let work = async {
            while read <= self.max {
                match tokio::time::timeout(DRAIN_IDLE, self.body.frame()).await {
                    Ok(Some(Ok(frame))) => {
                        read += frame.data_ref().map_or(0, |d| d.len() as u64);
                    }
                    // The end (the connection stays usable), a broken connection, or a client
                    // that stopped sending.
                    Ok(Some(Err(_)) | None) | Err(_) => break,
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN_TIME, work).await;
        tracing::debug!(
            drained = read,
            complete = self.body.is_end_stream(),
            "early answer: request body drained"
        );
        // Dropping an unfinished body here makes hyper close the connection.
    }
}

/// Starts draining the request body when dropped. Held by the response body ([`Holding`]),
/// so the drain starts once the response has been sent or dropped: by then hyper has written
/// the response head, so it no longer sends `100 Continue`.
struct DrainOnDrop {
    drain: Option<Drain>,
}

impl Drop for DrainOnDrop {
    fn drop(&mut self) {
        if let Some(drain) = self.drain.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(drain.run());
        }
    }
}

struct MapFrames<S>(S);

impl<S, E> Stream for MapFrames<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<BoxError>,
{
    type Item = Result<Frame<Bytes>, BoxError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.0).poll_next(cx) {
            Poll::Ready(Some(Ok(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Why a request body could not be read to the end. Travels through the engine as a boxed
/// source error and is mapped to the S3 error here in the server.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// The connection failed or closed before the body ended.
    #[error("request body incomplete")]
    Incomplete(#[source] hyper::Error),
    /// No body byte arrived within the body read timeout (`RequestTimeout`).
    #[error("request body timed out")]
    TimedOut,
    /// The body's SHA-256 differs from `x-amz-content-sha256`.
    #[error("payload hash mismatch")]
    Sha256(#[source] VerifyError),
    /// The aws-chunked framing, a chunk signature or the trailer was wrong.
    #[error("aws-chunked body rejected")]
    Chunked(#[source] ChunkedError),
    /// The trailer named a checksum other than the one declared in `x-amz-trailer`.
    #[error("unexpected trailer {0}")]
    UnexpectedTrailer(String),
    /// A POST form's body is not well-formed (or its fields are too large).
    #[error("POST form rejected")]
    Form(#[source] s3gate_protocol::form::FormError),
    /// A POST form's file breaks its policy's `content-length-range`.
    #[error("POST policy refused the file")]
    PostPolicy(#[source] s3gate_sigv4::PostPolicyError),
}

/// How the request body must be decoded and verified.
pub(crate) enum BodyMode {
    /// Pass through (UNSIGNED-PAYLOAD, presigned).
    Plain,
    /// Pass through while hashing; fail at the end if the SHA-256 differs.
    Sha256(PayloadHasher),
    /// aws-chunked; the declared trailer (lowercase name), if any, lands in the slot.
    Chunked { decoder: Box<ChunkedDecoder>, trailer: Option<crate::headers::TrailerSlot> },
}

/// Wraps hyper's body into the engine's stream type.
pub(crate) fn request_stream(body: TimedBody, mode: BodyMode) -> ByteStream {
    Box::pin(RequestStream { body, mode: Some(mode), pending: Bytes::new(), done: false })
}

struct RequestStream {
    body: TimedBody,
    mode: Option<BodyMode>,
    /// Undecoded input left over from the last frame (aws-chunked only).
    pending: Bytes,
    done: bool,
}

impl RequestStream {
    fn fail(&mut self, e: BodyError) -> Poll<Option<Result<Bytes, BoxError>>> {
        self.done = true;
        Poll::Ready(Some(Err(Box::new(e))))
    }

    /// Called at end of input: final checks of the mode.
    fn finish(&mut self) -> Poll<Option<Result<Bytes, BoxError>>> {
        self.done = true;
        match self.mode.take() {
            Some(BodyMode::Plain) | None => Poll::Ready(None),
            Some(BodyMode::Sha256(h)) => match h.finish() {
                Ok(()) => Poll::Ready(None),
                Err(e) => self.fail(BodyError::Sha256(e)),
            },
            Some(BodyMode::Chunked { decoder, trailer }) => match decoder.finish() {
                Ok(trailers) => {
                    for (name, value) in trailers {
                        match &trailer {
                            Some((want, slot)) if *want == name => {
                                let _ = slot.set(value);
                            }
                            _ => return self.fail(BodyError::UnexpectedTrailer(name)),
                        }
                    }
                    Poll::Ready(None)
                }
                Err(e) => self.fail(BodyError::Chunked(e)),
            },
        }
    }
}

impl Stream for RequestStream {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            // Decode what is buffered first.
            if let Some(BodyMode::Chunked { decoder, .. }) = &mut this.mode
                && !this.pending.is_empty()
            {
                match decoder.decode(&mut this.pending) {
                    Ok(Some(payload)) => return Poll::Ready(Some(Ok(payload))),
                    Ok(None) => {}
                    Err(e) => return this.fail(BodyError::Chunked(e)),
                }
            }
            let frame = match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return this.finish(),
                Poll::Ready(Some(Err(BodyReadError::Hyper(e)))) => {
                    return this.fail(BodyError::Incomplete(e));
                }
                Poll::Ready(Some(Err(BodyReadError::TimedOut))) => {
                    return this.fail(BodyError::TimedOut);
                }
                Poll::Ready(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else {
                // HTTP trailers: not used by S3 clients (aws-chunked carries its own).
                continue;
            };
            match &mut this.mode {
                Some(BodyMode::Plain) | None => return Poll::Ready(Some(Ok(data))),
                Some(BodyMode::Sha256(h)) => {
                    h.update(&data);
                    return Poll::Ready(Some(Ok(data)));
                }
                Some(BodyMode::Chunked { .. }) => {
                    this.pending = data;
                }
            }
        }
    }
}
