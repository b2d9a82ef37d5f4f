//! Tracing spans: one per request ([`REQUEST`], open until its response body has ended, the
//! moment the access-log event is written) and one per metadata-store or blob-store call made
//! inside it (`metadata.<op>`, `blob.<op>`, from [`crate::metrics::TimedMetadata`] and
//! [`crate::metrics::TimedBlobs`]).
//!
//! Their fields use the OpenTelemetry semantic conventions' attribute names
//! (`http.request.method`, `aws.request_id`, `rpc.method`, ...) and the `otel.*` fields that
//! `tracing-opentelemetry` reads, so the binary can export them over OTLP (its cargo feature
//! `otlp`) while this crate depends on no OpenTelemetry crate. A W3C `traceparent` header
//! becomes the parent of a request's span through [`SpanParent`], which the binary installs.
//!
//! Every span has the target [`TARGET`]. The binary keeps them out of the log output (each
//! in-request log event names its request id already), so without an exporter their callsites
//! are disabled and a span costs a few nanoseconds (docs/PERFORMANCE.md).

use std::fmt;
use std::sync::Arc;

use tracing::Span;
use tracing::field::Empty;

/// The target of every span made here.
pub const TARGET: &str = "s3gate::span";

/// The name of a request's span.
pub const REQUEST: &str = "s3.request";

/// Sets the parent of a request's span from the request's headers (W3C trace context), before
/// the span is first entered. The binary provides it when it exports spans; it is only called
/// for a span that some subscriber records.
#[derive(Clone)]
pub struct SpanParent(pub Arc<SetParent>);

/// The function inside a [`SpanParent`]: the request's headers and its span.
pub type SetParent = dyn Fn(&http::HeaderMap, &Span) + Send + Sync;

impl fmt::Debug for SpanParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SpanParent")
    }
}

/// A request's span. The fields known later are recorded by [`record_request`] and
/// [`record_response`].
pub fn request(request_id: &str, method: &http::Method) -> Span {
    tracing::info_span!(
        target: TARGET,
        REQUEST,
        otel.kind = "server",
        otel.status_code = Empty,
        aws.request_id = request_id,
        http.request.method = method.as_str(),
        rpc.system = "aws-api",
        rpc.service = "S3",
        rpc.method = Empty,
        aws.s3.bucket = Empty,
        aws.s3.key = Empty,
        enduser.id = Empty,
        http.response.status_code = Empty,
        http.request.body.size = Empty,
        http.response.body.size = Empty,
        s3gate.response.complete = Empty,
    )
}

/// Records what routing and authentication found: the S3 operation, bucket, key and user
/// (empty values are left out).
pub fn record_request(span: &Span, operation: &str, bucket: &str, key: &str, user: &str) {
    if span.is_disabled() {
        return;
    }
    span.record("rpc.method", operation);
    for (field, value) in [("aws.s3.bucket", bucket), ("aws.s3.key", key), ("enduser.id", user)] {
        if !value.is_empty() {
            span.record(field, value);
        }
    }
}

/// Records the response: its status, the body bytes both ways, and whether the body was sent
/// whole. A 5xx marks the span as failed (a 4xx is the client's error, not the server's).
pub fn record_response(span: &Span, status: u16, received: u64, sent: u64, complete: bool) {
    if span.is_disabled() {
        return;
    }
    span.record("http.response.status_code", status);
    span.record("http.request.body.size", received);
    span.record("http.response.body.size", sent);
    span.record("s3gate.response.complete", complete);
    if status >= 500 {
        span.record("otel.status_code", "error");
    }
}

/// The span of one metadata-store call, `metadata.<op>`.
pub fn metadata(op: &'static str) -> Span {
    tracing::info_span!(
        target: TARGET,
        "metadata",
        otel.name = format_args!("metadata.{op}"),
        otel.status_description = Empty,
        db.operation.name = op,
    )
}

/// The span of one blob-store call, `blob.<op>`.
pub fn blob(op: &'static str) -> Span {
    tracing::info_span!(
        target: TARGET,
        "blob",
        otel.name = format_args!("blob.{op}"),
        otel.status_description = Empty,
    )
}

/// Marks a store call's span as failed, with the error's message.
pub(crate) fn record_failure(span: &Span, error: &dyn std::error::Error) {
    if !span.is_disabled() {
        span.record("otel.status_description", tracing::field::display(error));
    }
}
