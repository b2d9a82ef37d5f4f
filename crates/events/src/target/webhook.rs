//! Webhook: each message is one HTTP(S) `POST` of its JSON body to the configured URL.
//!
//! *Confirmed* means the endpoint answered 2xx. 408, 425, 429 and 5xx answers, refused or
//! lost connections and timeouts are retryable; any other answer (a redirect, which is not
//! followed, or 4xx such as 401/403 for a bad token) is permanent. The messages of a batch
//! are posted one after the other, each only after the previous one was confirmed, so an
//! endpoint sees a key's events in order.
//!
//! Each request carries `Content-Type: application/json`, `X-S3gate-Event-Id` (the message
//! id, the same on a retry: endpoints dedupe on it), optionally `Authorization: Bearer
//! <token>`, and optionally `X-S3gate-Signature: sha256=<hex>`, the HMAC-SHA256 of the exact
//! body under the shared secret. HTTPS uses rustls (ring) with the webpki roots, plus an
//! extra CA given in PEM for a private endpoint.

use std::sync::Arc;

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http::{Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::Deserialize;
use sha2::Sha256;

use super::{BrokerUrl, Message, Secret, Target, Timeouts, bounded};
use crate::{ConfigError, DeliveryError, TargetKind};

const KIND: TargetKind = TargetKind::Webhook;

/// The header with the body's HMAC-SHA256.
pub const SIGNATURE_HEADER: &str = "x-s3gate-signature";
/// The header with the message id.
pub const EVENT_ID_HEADER: &str = "x-s3gate-event-id";

/// `kind = "webhook"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http://` or `https://` endpoint.
    pub url: BrokerUrl,
    /// Shared secret for the `X-S3gate-Signature` header (none: no signature).
    #[serde(default)]
    pub hmac_secret: Option<Secret>,
    /// Bearer token for the `Authorization` header.
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    /// Extra trusted CA certificates, PEM (for an endpoint with a private CA).
    #[serde(default)]
    pub ca_pem: Option<String>,
    /// Network bounds.
    #[serde(default)]
    pub timeouts: Timeouts,
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// A webhook target.
pub struct WebhookTarget {
    config: WebhookConfig,
    uri: Uri,
    connector: Https,
    client: Client<Https, Full<Bytes>>,
}

impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTarget").field("config", &self.config).finish_non_exhaustive()
    }
}

impl WebhookTarget {
    /// Checks `config` and builds the HTTP client (no connection is made).
    pub fn new(config: WebhookConfig) -> Result<WebhookTarget, ConfigError> {
        let invalid = |reason: String| ConfigError::InvalidTarget { kind: KIND, reason };
        let url = config.url.expose();
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("the URL scheme must be http:// or https://".to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("put credentials in bearer_token, not in the URL".to_owned()));
        }
        let uri: Uri = url.as_str().parse().map_err(|e| invalid(format!("the URL: {e}")))?;
        let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        if let Some(pem) = &config.ca_pem {
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| invalid(format!("ca_pem: {e}")))?;
                roots.add(cert).map_err(|e| invalid(format!("ca_pem: {e}")))?;
                added += 1;
            }
            if added == 0 {
                return Err(invalid("ca_pem holds no certificate".to_owned()));
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.timeouts.connect()));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(https.clone());
        Ok(WebhookTarget { config, uri, connector: https, client })
    }

    async fn post(&self, message: &Message) -> Result<(), DeliveryError> {
        let mut request = Request::post(self.uri.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(EVENT_ID_HEADER, message.id());
        if let Some(token) = &self.config.bearer_token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {}", token.expose()));
        }
        if let Some(secret) = &self.config.hmac_secret {
            request =
                request.header(SIGNATURE_HEADER, sign(secret.expose().as_bytes(), message.body()));
        }
        let request = request
            .body(Full::new(message.body().clone()))
            .map_err(|e| DeliveryError::permanent(KIND, "building the request").with_source(e))?;
        let response = self.client.request(request).await.map_err(|e| {
            DeliveryError::retryable(
                KIND,
                if e.is_connect() { "connect failed" } else { "request failed" },
            )
            .with_source(e)
        })?;
        let status = response.status();
        // Read (a bounded amount of) the answer so that the connection can be reused.
        let _ = Limited::new(response.into_body(), 64 * 1024).collect().await;
        status_result(status)
    }
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn status_result(status: StatusCode) -> Result<(), DeliveryError> {
    if status.is_success() {
        return Ok(());
    }
    let what = format!("endpoint answered {status}");
    let retry = status.is_server_error() || matches!(status.as_u16(), 408 | 425 | 429);
    Err(if retry {
        DeliveryError::retryable(KIND, what)
    } else {
        DeliveryError::permanent(KIND, what)
    })
}

impl Target for WebhookTarget {
    fn kind(&self) -> TargetKind {
        KIND
    }

    async fn deliver(&self, messages: &[Message]) -> Result<(), DeliveryError> {
        let limit = self.config.timeouts.connect() + self.config.timeouts.confirm();
        for (i, message) in messages.iter().enumerate() {
            bounded(KIND, "POST", limit, self.post(message))
                .await
                .map_err(|e| e.with_confirmed(i))?;
        }
        Ok(())
    }

    /// Connects to the endpoint (TCP and TLS) without sending a request, since an endpoint
    /// may take any request as an event.
    async fn check(&self) -> Result<(), DeliveryError> {
        use tower_service::Service;
        let mut connector = self.connector.clone();
        bounded(KIND, "connect", self.config.timeouts.connect(), async {
            std::future::poll_fn(|cx| connector.poll_ready(cx))
                .await
                .map_err(|e| DeliveryError::retryable(KIND, "connect failed").with_source(e))?;
            connector
                .call(self.uri.clone())
                .await
                .map(drop)
                .map_err(|e| DeliveryError::retryable(KIND, "connect failed").with_source(e))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn statuses_decide_retry() {
        assert!(status_result(StatusCode::OK).is_ok());
        assert!(status_result(StatusCode::NO_CONTENT).is_ok());
        for retry in [500, 502, 503, 504, 408, 425, 429] {
            assert!(
                status_result(StatusCode::from_u16(retry).unwrap()).unwrap_err().is_retryable()
            );
        }
        for permanent in [301, 400, 401, 403, 404, 413] {
            assert!(
                !status_result(StatusCode::from_u16(permanent).unwrap())
                    .unwrap_err()
                    .is_retryable()
            );
        }
    }
}
