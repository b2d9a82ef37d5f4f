//! NATS JetStream: each message is published to the configured subject with a
//! `Nats-Msg-Id` header, and the target waits for JetStream's `PubAck`.
//!
//! *Confirmed* means the stream that captures the subject answered the publish with a
//! `PubAck`: the message is stored in the stream (on its configured replicas). Without a
//! stream capturing the subject there is no acknowledgement, and the delivery fails
//! (retryable: the operator can add the stream). The `Nats-Msg-Id` is the message's id, the
//! same on every attempt, so a retried message within the stream's duplicate window
//! (`duplicate_window`, two minutes by default) is stored once; the `PubAck` then says
//! `duplicate`, which counts as confirmed.
//!
//! The client is `async-nats`, the NATS project's own: it keeps one connection and
//! reconnects by itself; this target replaces a client whose connection is down before the
//! next delivery, so that a broker that is away answers with a prompt connection error.

use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::context::PublishErrorKind;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::{BrokerUrl, Message, Secret, Target, Timeouts, bounded};
use crate::{ConfigError, DeliveryError, TargetKind};

const KIND: TargetKind = TargetKind::Nats;

/// `kind = "nats"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// `nats://host[:port]` (`tls://` for TLS); credentials in the URL are also accepted.
    pub url: BrokerUrl,
    /// The subject every message is published to; a JetStream stream must capture it.
    pub subject: String,
    /// User name (with `password`).
    #[serde(default)]
    pub username: Option<String>,
    /// Password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// Token authentication, instead of a user name and password.
    #[serde(default)]
    pub token: Option<Secret>,
    /// Network bounds.
    #[serde(default)]
    pub timeouts: Timeouts,
}

/// A NATS JetStream target.
#[derive(Debug)]
pub struct NatsTarget {
    config: NatsConfig,
    conn: Mutex<Option<jetstream::Context>>,
}

impl NatsTarget {
    /// Checks `config` without connecting.
    pub fn new(config: NatsConfig) -> Result<NatsTarget, ConfigError> {
        let invalid =
            |reason: &str| ConfigError::InvalidTarget { kind: KIND, reason: reason.to_owned() };
        if !matches!(config.url.expose().scheme(), "nats" | "tls") {
            return Err(invalid("the URL scheme must be nats:// or tls://"));
        }
        let subject = &config.subject;
        if subject.is_empty()
            || subject.contains([' ', '\t', '\r', '\n', '*', '>'])
            || subject.split('.').any(str::is_empty)
        {
            return Err(invalid("the subject must be a literal subject (no wildcards)"));
        }
        if config.token.is_some() && (config.username.is_some() || config.password.is_some()) {
            return Err(invalid("give either a token or a user name and password"));
        }
        if config.username.is_some() != config.password.is_some() {
            return Err(invalid("a user name needs a password and a password a user name"));
        }
        Ok(NatsTarget { config, conn: Mutex::new(None) })
    }

    async fn connect(&self) -> Result<jetstream::Context, DeliveryError> {
        let c = &self.config;
        let mut options = async_nats::ConnectOptions::new()
            .name("s3gate")
            .connection_timeout(c.timeouts.connect())
            .request_timeout(Some(c.timeouts.confirm()));
        if let (Some(user), Some(password)) = (&c.username, &c.password) {
            options = options.user_and_password(user.clone(), password.expose().to_owned());
        }
        if let Some(token) = &c.token {
            options = options.token(token.expose().to_owned());
        }
        let url = c.url.expose().as_str();
        // async-nats bounds the TCP connect and handshake by `connection_timeout` itself;
        // the outer bound also covers its DNS lookup.
        let client =
            bounded(KIND, "connect", c.timeouts.connect() + Duration::from_millis(100), async {
                options.connect(url).await.map_err(|e| {
                    use async_nats::ConnectErrorKind as K;
                    let what = format!("connect: {}", e.kind());
                    match e.kind() {
                        K::Authentication | K::AuthorizationViolation | K::ServerParse | K::Tls => {
                            DeliveryError::permanent(KIND, what).with_source(e)
                        }
                        K::Dns | K::TimedOut | K::Io | K::MaxReconnects => {
                            DeliveryError::retryable(KIND, what).with_source(e)
                        }
                    }
                })
            })
            .await?;
        Ok(jetstream::context::ContextBuilder::new()
            .timeout(c.timeouts.confirm())
            .backpressure_on_inflight(true)
            .build(client))
    }

    async fn context(
        &self,
        slot: &mut Option<jetstream::Context>,
    ) -> Result<jetstream::Context, DeliveryError> {
        if let Some(js) = slot.as_ref()
            && js.client().connection_state() == async_nats::connection::State::Connected
        {
            return Ok(js.clone());
        }
        *slot = None;
        let js = self.connect().await?;
        *slot = Some(js.clone());
        Ok(js)
    }

    async fn publish(
        &self,
        js: &jetstream::Context,
        messages: &[Message],
    ) -> Result<(), DeliveryError> {
        // All publishes go out before the first PubAck is awaited; the acks come back in
        // order per subject, and the first failure ends the confirmed prefix.
        let mut pending = Vec::with_capacity(messages.len());
        for message in messages {
            let publish = jetstream::message::PublishMessage::build()
                .payload(message.body().clone())
                .message_id(message.id());
            match js.send_publish(self.config.subject.clone(), publish).await {
                Ok(ack) => pending.push(ack),
                Err(e) => {
                    return Err(publish_error(&e)
                        .with_source(e)
                        .with_confirmed(confirmed_before(pending).await));
                }
            }
        }
        for (i, ack) in pending.into_iter().enumerate() {
            if let Err(e) = ack.await {
                return Err(publish_error(&e).with_source(e).with_confirmed(i));
            }
        }
        Ok(())
    }
}

/// Waits for the acks of the messages sent before a failed send, so the error can say how
/// many of them were confirmed.
async fn confirmed_before(pending: Vec<jetstream::context::PublishAckFuture>) -> usize {
    let mut n = 0;
    for ack in pending {
        if ack.await.is_err() {
            break;
        }
        n += 1;
    }
    n
}

fn publish_error(e: &jetstream::context::PublishError) -> DeliveryError {
    let what = format!("publish: {}", e.kind());
    match e.kind() {
        PublishErrorKind::MaxPayloadExceeded
        | PublishErrorKind::WrongLastMessageId
        | PublishErrorKind::WrongLastSequence => DeliveryError::permanent(KIND, what),
        PublishErrorKind::StreamNotFound => DeliveryError::retryable(
            KIND,
            "publish: no JetStream stream captures the subject (add one; retrying)",
        ),
        PublishErrorKind::TimedOut
        | PublishErrorKind::BrokenPipe
        | PublishErrorKind::MaxAckPending
        | PublishErrorKind::Other => DeliveryError::retryable(KIND, what),
    }
}

impl Target for NatsTarget {
    fn kind(&self) -> TargetKind {
        KIND
    }

    async fn deliver(&self, messages: &[Message]) -> Result<(), DeliveryError> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut slot = self.conn.lock().await;
        let js = self.context(&mut slot).await?;
        // Each ack is bounded by the context's timeout; the whole batch by twice that.
        let limit = self.config.timeouts.confirm() * 2;
        let result = bounded(KIND, "publish", limit, self.publish(&js, messages)).await;
        if result.is_err() {
            *slot = None;
        }
        result
    }

    async fn check(&self) -> Result<(), DeliveryError> {
        let mut slot = self.conn.lock().await;
        let js = self.context(&mut slot).await?;
        bounded(KIND, "stream lookup", self.config.timeouts.confirm(), async {
            js.stream_by_subject(self.config.subject.clone()).await.map(drop).map_err(|e| {
                DeliveryError::retryable(
                    KIND,
                    format!("no JetStream stream captures the subject: {e}"),
                )
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str, subject: &str) -> NatsConfig {
        NatsConfig {
            url: BrokerUrl::parse(url).unwrap(),
            subject: subject.to_owned(),
            username: None,
            password: None,
            token: None,
            timeouts: Timeouts::default(),
        }
    }

    #[test]
    fn settings_are_checked() {
        assert!(NatsTarget::new(config("nats://127.0.0.1:4222", "s3.events")).is_ok());
        for (url, subject) in [
            ("http://127.0.0.1", "s"),
            ("nats://127.0.0.1", "s3.*"),
            ("nats://127.0.0.1", "s3.>"),
            ("nats://127.0.0.1", "s3..x"),
            ("nats://127.0.0.1", ""),
            ("nats://127.0.0.1", "a b"),
        ] {
            assert!(NatsTarget::new(config(url, subject)).is_err(), "{url} {subject}");
        }
        let mut half = config("nats://127.0.0.1", "s");
        half.username = Some("u".into());
        assert!(NatsTarget::new(half).is_err());
    }
}
