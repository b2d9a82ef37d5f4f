//! The webhook target against an HTTP(S) server in the test.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use s3gate_events::target::webhook::sign;
use s3gate_events::{AnyTarget, DeliveryErrorKind, Target, TargetConfig};
use tokio::net::TcpListener;

use crate::common::{closed_port, messages};

/// What the endpoint saw of one request.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    headers: http::HeaderMap,
    body: Bytes,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Serves on 127.0.0.1; the n-th request (0-based) is answered `status(n)`.
async fn endpoint(
    tls: Option<Arc<rustls::ServerConfig>>,
    status: impl Fn(usize) -> u16 + Send + Sync + 'static,
) -> (u16, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let log: Log = Arc::default();
    let status = Arc::new(status);
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (seen, status, tls) = (seen.clone(), status.clone(), tls.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (seen, status) = (seen.clone(), status.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        let n = {
                            let mut log = seen.lock().unwrap();
                            log.push(Seen {
                                path: parts.uri.path().to_owned(),
                                headers: parts.headers,
                                body,
                            });
                            log.len() - 1
                        };
                        let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
                        *response.status_mut() = StatusCode::from_u16(status(n)).unwrap();
                        Ok::<_, Infallible>(response)
                    }
                });
                let http = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(config) => {
                        let Ok(stream) = tokio_rustls::TlsAcceptor::from(config).accept(tcp).await
                        else {
                            return;
                        };
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                    None => {
                        let _ = http.serve_connection(TokioIo::new(tcp), service).await;
                    }
                }
            });
        }
    });
    (port, log)
}

fn target(toml: &str) -> AnyTarget {
    let config: TargetConfig = toml::from_str(toml).unwrap();
    AnyTarget::new(config).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_each_message_signed_with_its_id_and_token() {
    let (port, log) = endpoint(None, |_| 200).await;
    let t = target(&format!(
        r#"kind = "webhook"
           url = "http://127.0.0.1:{port}/hooks/s3"
           hmac_secret = "shared-secret"
           bearer_token = "tok-123""#
    ));
    let batch = messages(3);
    t.deliver(&batch).await.unwrap();
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    for (s, m) in seen.iter().zip(&batch) {
        assert_eq!(s.path, "/hooks/s3");
        assert_eq!(&s.body, m.body(), "body is the message, byte for byte");
        assert_eq!(s.headers["content-type"], "application/json");
        assert_eq!(s.headers["x-s3gate-event-id"], m.id());
        assert_eq!(s.headers["authorization"], "Bearer tok-123");
        assert_eq!(
            s.headers["x-s3gate-signature"].to_str().unwrap(),
            sign(b"shared-secret", &s.body)
        );
        let v: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
        assert_eq!(v["Records"][0]["eventSource"], "aws:s3");
    }
    // In order: the keys are 1, 2, 3.
    let keys: Vec<String> = seen
        .iter()
        .map(|s| {
            let v: serde_json::Value = serde_json::from_slice(&s.body).unwrap();
            v["Records"][0]["s3"]["object"]["key"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(keys, ["dir/key+1.txt", "dir/key+2.txt", "dir/key+3.txt"]);
    t.check().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_is_retryable_and_counts_the_confirmed_prefix() {
    // The second request fails once; the retry of the rest then succeeds.
    let (port, log) = endpoint(None, |n| if n == 1 { 503 } else { 200 }).await;
    let t = target(&format!("kind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/\""));
    let batch = messages(3);
    let err = t.deliver(&batch).await.unwrap_err();
    assert_eq!(err.kind(), DeliveryErrorKind::Retryable, "{err}");
    assert_eq!(err.confirmed(), 1);
    t.deliver(&batch[err.confirmed()..]).await.unwrap();
    let bodies: Vec<Bytes> = log.lock().unwrap().iter().map(|s| s.body.clone()).collect();
    assert_eq!(bodies, [batch[0].body(), batch[1].body(), batch[1].body(), batch[2].body()]);
    // Without a signature secret or token, neither header is sent.
    assert!(log.lock().unwrap().iter().all(|s| !s.headers.contains_key("x-s3gate-signature")
        && !s.headers.contains_key("authorization")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_is_permanent_and_rate_limited_is_retryable() {
    let (port, _) = endpoint(None, |_| 401).await;
    let t = target(&format!("kind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/\""));
    let err = t.deliver(&messages(1)).await.unwrap_err();
    assert_eq!(err.kind(), DeliveryErrorKind::Permanent, "{err}");
    let (port, _) = endpoint(None, |_| 429).await;
    let t = target(&format!("kind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/\""));
    assert!(t.deliver(&messages(1)).await.unwrap_err().is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_retryable() {
    let port = closed_port();
    let t = target(&format!(
        "kind = \"webhook\"\nurl = \"http://127.0.0.1:{port}/\"\ntimeouts = {{ connect_ms = 2000, confirm_ms = 2000 }}"
    ));
    let err = t.deliver(&messages(2)).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(err.confirmed(), 0);
    assert!(t.check().await.unwrap_err().is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_private_ca() {
    let mut params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, "webhook test");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let (port, log) = endpoint(Some(Arc::new(server)), |_| 204).await;

    // Without the CA the certificate is refused (retryable: the operator may fix the trust).
    let url = format!("https://127.0.0.1:{port}/tls");
    let untrusted = target(&format!("kind = \"webhook\"\nurl = \"{url}\""));
    assert!(untrusted.deliver(&messages(1)).await.is_err());
    assert!(log.lock().unwrap().is_empty());

    let pem = cert.pem();
    let trusted = target(&format!("kind = \"webhook\"\nurl = \"{url}\"\nca_pem = '''\n{pem}'''"));
    trusted.deliver(&messages(2)).await.unwrap();
    assert_eq!(log.lock().unwrap().len(), 2);
    trusted.check().await.unwrap();
}

#[test]
fn bad_settings_are_refused() {
    for toml in [
        "kind = \"webhook\"\nurl = \"ftp://127.0.0.1/\"",
        "kind = \"webhook\"\nurl = \"http://user:pw@127.0.0.1/\"",
        "kind = \"webhook\"\nurl = \"http://127.0.0.1/\"\nca_pem = \"not a certificate\"",
    ] {
        let config: TargetConfig = toml::from_str(toml).unwrap();
        assert!(AnyTarget::new(config).is_err(), "{toml}");
    }
    // Unknown keys are refused by the configuration parser itself.
    assert!(
        toml::from_str::<TargetConfig>(
            "kind = \"webhook\"\nurl = \"http://127.0.0.1/\"\nsecret = \"x\""
        )
        .is_err()
    );
}
