//! OpenTelemetry export (cargo feature `otlp`): the real binary sends its spans over OTLP/HTTP
//! to a receiver inside the test, which decodes the protobuf the way a collector does.
//!
//! The gateway's batch exporter is told to wait ten minutes between exports
//! (`OTEL_BSP_SCHEDULE_DELAY`), and the gateway is stopped gracefully before the spans are
//! read: they arrive only if the shutdown flushes them.

use std::sync::{Arc, Mutex};

use aws_sdk_s3::operation::RequestId as _;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind, status::StatusCode};
use prost::Message as _;

use crate::harness::{Flavour, Gateway, create_bucket, random_bytes, random_keys};

/// One request the receiver got.
struct Post {
    path: String,
    content_type: String,
    body: Bytes,
}

/// A minimal OTLP/HTTP receiver on 127.0.0.1: records every request and answers 200.
struct Receiver {
    port: u16,
    posts: Arc<Mutex<Vec<Post>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let posts: Arc<Mutex<Vec<Post>>> = Arc::default();
        let sink = Arc::clone(&posts);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sink = Arc::clone(&sink);
                let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let sink = Arc::clone(&sink);
                    async move {
                        let path = req.uri().path().to_owned();
                        let content_type = req
                            .headers()
                            .get("content-type")
                            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                            .unwrap_or_default();
                        let body = req.into_body().collect().await?.to_bytes();
                        sink.lock().unwrap().push(Post { path, content_type, body });
                        // An empty ExportTraceServiceResponse: everything accepted.
                        let mut response = http::Response::new(Full::new(Bytes::new()));
                        response.headers_mut().insert(
                            "content-type",
                            http::HeaderValue::from_static("application/x-protobuf"),
                        );
                        Ok::<_, hyper::Error>(response)
                    }
                });
                tokio::spawn(async move {
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    let _: Result<(), hyper::Error> = conn.await;
                });
            }
        });
        Receiver { port, posts }
    }

    /// Every span received, decoded, with the resource attributes of its batch.
    fn spans(&self) -> (Vec<KeyValue>, Vec<Span>) {
        let posts = self.posts.lock().unwrap();
        assert!(!posts.is_empty(), "the gateway exported nothing");
        let mut resource = Vec::new();
        let mut spans = Vec::new();
        for post in posts.iter() {
            assert_eq!(post.path, "/v1/traces");
            assert_eq!(post.content_type, "application/x-protobuf");
            let request = ExportTraceServiceRequest::decode(post.body.clone()).unwrap();
            for rs in request.resource_spans {
                resource = rs.resource.map(|r| r.attributes).unwrap_or_default();
                spans.extend(rs.scope_spans.into_iter().flat_map(|ss| ss.spans));
            }
        }
        (resource, spans)
    }
}

/// An attribute's value as text (strings as they are, numbers and booleans printed).
fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    let value = attrs.iter().find(|kv| kv.key == key)?.value.as_ref()?.value.as_ref()?;
    Some(match value {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::IntValue(i) => i.to_string(),
        any_value::Value::BoolValue(b) => b.to_string(),
        other => format!("{other:?}"),
    })
}

/// The request span carrying `request_id`, checked against the expected attributes.
fn request_span<'a>(spans: &'a [Span], request_id: &str, expected: &[(&str, &str)]) -> &'a Span {
    let found: Vec<&Span> = spans
        .iter()
        .filter(|s| attr(&s.attributes, "aws.request_id").as_deref() == Some(request_id))
        .collect();
    assert_eq!(found.len(), 1, "one span for request {request_id}: {found:#?}");
    let span = found[0];
    assert_eq!(span.name, "s3.request");
    assert_eq!(span.kind, SpanKind::Server as i32);
    for (key, value) in expected {
        assert_eq!(
            attr(&span.attributes, key).as_deref(),
            Some(*value),
            "{key} of request {request_id}: {span:#?}"
        );
    }
    span
}

/// Names of the spans whose parent is `parent`, sorted; they must share its trace.
fn children(spans: &[Span], parent: &Span) -> Vec<String> {
    let mut names: Vec<String> = spans
        .iter()
        .filter(|s| s.parent_span_id == parent.span_id)
        .inspect(|s| assert_eq!(s.trace_id, parent.trace_id, "child {} in another trace", s.name))
        .map(|s| s.name.clone())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_of_requests_and_their_store_calls_reach_the_collector() {
    let receiver = Receiver::start().await;
    // The collector's base URL (a trailing slash is fine); the exporter adds `/v1/traces`.
    let endpoint = format!("http://127.0.0.1:{}/", receiver.port);
    let (ak, sk) = random_keys();
    let gw = Gateway::start_with_env(
        &ak,
        &sk,
        &["--otlp-endpoint", &endpoint],
        &[("OTEL_BSP_SCHEDULE_DELAY", "600000")],
    );
    let c = gw.client(Flavour::WhenRequired);
    create_bucket(&c, "traced").await;
    let body = random_bytes(20_000);
    let put = c
        .put_object()
        .bucket("traced")
        .key("a/b.bin")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    let put_id = put.request_id().unwrap().to_owned();
    let get = c.get_object().bucket("traced").key("a/b.bin").send().await.unwrap();
    let get_id = get.request_id().unwrap().to_owned();
    assert_eq!(get.body.collect().await.unwrap().into_bytes().len(), body.len());
    let missing = c.get_object().bucket("traced").key("nothing").send().await.unwrap_err();
    let missing_id = missing.request_id().unwrap().to_owned();
    // A caller's W3C trace context makes the request span a child of the caller's span.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let head = c
        .head_object()
        .bucket("traced")
        .key("a/b.bin")
        .customize()
        .mutate_request(move |r| {
            r.headers_mut().insert("traceparent", format!("00-{trace_id}-{caller_span}-01"));
        })
        .send()
        .await
        .unwrap();
    let head_id = head.request_id().unwrap().to_owned();

    // The client may hold a connection it opened but never used (hyper's pool races a new
    // connection against an idle one); the server waits up to the header-read timeout (30 s)
    // for such a connection's first byte even while stopping. Closing the client ends it.
    drop(c);
    let stopped = tokio::task::spawn_blocking(move || {
        let mut gw = gw;
        (gw.stop_graceful(), gw.stderr())
    });
    let (ok, stderr) = stopped.await.unwrap();
    assert!(ok, "graceful stop failed:\n{stderr}");
    assert!(
        !stderr.contains("s3.request") && !stderr.contains("aws.request_id"),
        "spans stay out of the log:\n{stderr}"
    );

    let (resource, spans) = receiver.spans();
    assert_eq!(attr(&resource, "service.name").as_deref(), Some("s3gate"));
    let version = attr(&resource, "service.version").unwrap_or_default();
    assert!(version.starts_with(concat!(env!("CARGO_PKG_VERSION"), "+")), "{version}");

    let len = body.len().to_string();
    let put_span = request_span(
        &spans,
        &put_id,
        &[
            ("rpc.method", "PutObject"),
            ("http.request.method", "PUT"),
            ("http.response.status_code", "200"),
            ("aws.s3.bucket", "traced"),
            ("aws.s3.key", "a/b.bin"),
            ("enduser.id", "root"),
            ("http.request.body.size", &len),
            ("s3gate.response.complete", "true"),
        ],
    );
    // The authorization's bucket and configuration reads (which the write's Object Ownership
    // reuses for the owner and ACL a new version gets), the engine's encryption and
    // object-lock reads (and its bucket read), then the blob and the commit.
    assert_eq!(
        children(&spans, put_span),
        [
            "blob.put",
            "metadata.bucket",
            "metadata.bucket",
            "metadata.bucket_config",
            "metadata.bucket_config",
            "metadata.bucket_configs",
            "metadata.put_object"
        ]
    );

    let get_span = request_span(
        &spans,
        &get_id,
        &[
            ("rpc.method", "GetObject"),
            ("http.request.method", "GET"),
            ("http.response.status_code", "200"),
            ("http.response.body.size", &len),
        ],
    );
    let read = ["metadata.bucket", "metadata.bucket", "metadata.bucket_configs"];
    let get_children = [&["blob.get"][..], &read, &["metadata.object_version"]].concat();
    assert_eq!(children(&spans, get_span), get_children);
    assert_ne!(get_span.trace_id, put_span.trace_id, "each request is a trace of its own");
    assert!(get_span.parent_span_id.is_empty(), "a request without traceparent is a root");

    // A 4xx is the client's error: the server span's status stays unset.
    let missing_span = request_span(&spans, &missing_id, &[("http.response.status_code", "404")]);
    let status = missing_span.status.as_ref().map_or(0, |s| s.code);
    assert_eq!(status, StatusCode::Unset as i32);

    let head_span = request_span(&spans, &head_id, &[("rpc.method", "HeadObject")]);
    assert_eq!(hex::encode(&head_span.trace_id), trace_id);
    assert_eq!(hex::encode(&head_span.parent_span_id), caller_span);
    assert_eq!(children(&spans, head_span), [&read[..], &["metadata.object_version"]].concat());

    // The collector's periodic store calls belong to no request: they are not exported.
    assert!(
        spans.iter().all(|s| s.name == "s3.request" || !s.parent_span_id.is_empty()),
        "store spans outside a request: {:?}",
        spans.iter().filter(|s| s.parent_span_id.is_empty()).map(|s| &s.name).collect::<Vec<_>>()
    );
}
