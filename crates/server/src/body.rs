//! Request bodies in (hyper's `Incoming` → the engine's `ByteStream`, through the payload mode's
//! decoder or verifier) and response bodies out.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use http_body::{Body, Frame};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use s3gate_sigv4::{ChunkedDecoder, ChunkedError, PayloadHasher, VerifyError};
use s3gate_storage_backend::{BoxError, ByteStream};
use tokio::sync::OwnedSemaphorePermit;
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

/// Keeps `permit` (an in-flight request slot) until the response body has been sent or dropped.
pub(crate) fn hold_permit(
    resp: http::Response<ResponseBody>,
    permit: OwnedSemaphorePermit,
) -> http::Response<ResponseBody> {
    resp.map(|body| WithPermit { body, _permit: permit }.boxed_unsync())
}

struct WithPermit {
    body: ResponseBody,
    _permit: OwnedSemaphorePermit,
}

impl Body for WithPermit {
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
pub(crate) struct TimedBody {
    inner: CountedIncoming,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
    armed: bool,
}

impl TimedBody {
    pub(crate) fn new(inner: CountedIncoming, timeout: Duration) -> Self {
        TimedBody { inner, timeout, sleep: Box::pin(tokio::time::sleep(timeout)), armed: false }
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
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.armed = false;
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
                    Poll::Ready(()) => Poll::Ready(Some(Err(BodyReadError::TimedOut))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
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
