//! The notification targets: the [`Target`] trait, the message a target delivers, the
//! settings shared by every target, and [`AnyTarget`], the run-time choice among them.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Deserializer};

use crate::{ConfigError, DeliveryError, Envelope, EventRecord, TargetKind, TestEvent};

#[cfg(feature = "amqp")]
pub mod amqp;
#[cfg(feature = "mqtt")]
pub mod mqtt;
#[cfg(feature = "nats")]
pub mod nats;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "webhook")]
pub mod webhook;

/// One message for a target: a JSON body (`{"Records":[one record]}` or the test event) and
/// the id that stays the same when the message is delivered again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    body: Bytes,
    id: String,
}

impl Message {
    /// The message of one record, in AWS's envelope (AWS sends one record per message too).
    pub fn record(record: &EventRecord) -> Message {
        let envelope = Envelope { records: vec![record.clone()] };
        Message { body: to_json(&envelope), id: record.dedupe_id() }
    }

    /// The `s3:TestEvent` message.
    pub fn test_event(event: &TestEvent) -> Message {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(b"s3:TestEvent\0")
            .chain_update(event.bucket.as_bytes())
            .chain_update([0])
            .chain_update(event.request_id.as_bytes())
            .finalize();
        Message { body: to_json(event), id: hex::encode(&digest[..16]) }
    }

    /// The JSON body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The delivery id (32 hex digits), the deduplication key.
    pub fn id(&self) -> &str {
        &self.id
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Bytes {
    // These structs hold only strings, integers and options of them, which serde_json
    // always serialises; a failure here would be a bug in serde_json.
    #[allow(clippy::expect_used)]
    Bytes::from(serde_json::to_vec(value).expect("event structs always serialise"))
}

/// A place event messages are delivered to.
///
/// A target holds at most one connection, made on the first call and made again on the call
/// after it was lost, so a target can be built while its broker is down. Every network step
/// (connect, send, wait for the confirmation) is bounded by the target's [`Timeouts`].
///
/// *Cancel safety:* dropping a `deliver` future drops the connection it was using; the
/// messages it was sending count as not confirmed (some may have arrived: at least once).
pub trait Target: Send + Sync + 'static {
    /// The target's kind.
    fn kind(&self) -> TargetKind;

    /// Delivers `messages` in order and returns `Ok` only once the target confirmed every
    /// one of them (the confirmation each target waits for is in its module's docs). On an
    /// error, [`DeliveryError::confirmed`] says how many leading messages were confirmed.
    /// Calls on one target are serialised, which keeps the messages of a key in order.
    fn deliver(
        &self,
        messages: &[Message],
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send;

    /// Connects (or checks the existing connection) without delivering anything, for
    /// `s3gate targets list`.
    fn check(&self) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

/// A secret from the configuration (password, token, HMAC key): kept out of `Debug`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A broker URL from the configuration; its password is kept out of `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerUrl(url::Url);

impl BrokerUrl {
    /// Parses `url`.
    pub fn parse(url: &str) -> Result<BrokerUrl, url::ParseError> {
        url::Url::parse(url).map(BrokerUrl)
    }

    /// The parsed URL, password included.
    pub fn expose(&self) -> &url::Url {
        &self.0
    }

    /// The password, percent-decoded.
    pub(crate) fn password(&self) -> Option<String> {
        self.0.password().map(decode)
    }

    /// The user name, percent-decoded (None when empty).
    pub(crate) fn username(&self) -> Option<String> {
        Some(self.0.username()).filter(|u| !u.is_empty()).map(decode)
    }
}

fn decode(s: &str) -> String {
    percent_decode(s)
}

/// Percent-decodes a URL component (user, password, path segment).
pub(crate) fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) =
                (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex))
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("***"));
        }
        f.write_str(shown.as_str())
    }
}

impl fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BrokerUrl({self})")
    }
}

impl<'de> Deserialize<'de> for BrokerUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        BrokerUrl::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Bounds on each network step of a target, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    /// Connecting, including the TLS and protocol handshakes and authentication (5 s).
    pub connect_ms: u64,
    /// Sending a batch and waiting for every confirmation (10 s).
    pub confirm_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect_ms: 5_000, confirm_ms: 10_000 }
    }
}

impl Timeouts {
    pub(crate) fn connect(&self) -> Duration {
        Duration::from_millis(self.connect_ms.max(1))
    }

    pub(crate) fn confirm(&self) -> Duration {
        Duration::from_millis(self.confirm_ms.max(1))
    }
}

/// The settings of one target, as a `[targets.<id>]` table of the configuration file with
/// its `kind`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[non_exhaustive]
pub enum TargetConfig {
    /// `kind = "webhook"`.
    #[cfg(feature = "webhook")]
    Webhook(webhook::WebhookConfig),
    /// `kind = "nats"`.
    #[cfg(feature = "nats")]
    Nats(nats::NatsConfig),
    /// `kind = "amqp"`.
    #[cfg(feature = "amqp")]
    Amqp(amqp::AmqpConfig),
    /// `kind = "redis"`.
    #[cfg(feature = "redis")]
    Redis(redis::RedisConfig),
    /// `kind = "mqtt"`.
    #[cfg(feature = "mqtt")]
    Mqtt(mqtt::MqttConfig),
}

impl TargetConfig {
    /// The kind these settings are for.
    pub fn kind(&self) -> TargetKind {
        match *self {
            #[cfg(feature = "webhook")]
            TargetConfig::Webhook(_) => TargetKind::Webhook,
            #[cfg(feature = "nats")]
            TargetConfig::Nats(_) => TargetKind::Nats,
            #[cfg(feature = "amqp")]
            TargetConfig::Amqp(_) => TargetKind::Amqp,
            #[cfg(feature = "redis")]
            TargetConfig::Redis(_) => TargetKind::Redis,
            #[cfg(feature = "mqtt")]
            TargetConfig::Mqtt(_) => TargetKind::Mqtt,
        }
    }
}

/// Any target, chosen at run time from a [`TargetConfig`].
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyTarget {
    /// HTTP(S) POST.
    #[cfg(feature = "webhook")]
    Webhook(webhook::WebhookTarget),
    /// NATS JetStream.
    #[cfg(feature = "nats")]
    Nats(nats::NatsTarget),
    /// AMQP 0-9-1.
    #[cfg(feature = "amqp")]
    Amqp(amqp::AmqpTarget),
    /// Redis Streams.
    #[cfg(feature = "redis")]
    Redis(redis::RedisTarget),
    /// MQTT.
    #[cfg(feature = "mqtt")]
    Mqtt(mqtt::MqttTarget),
}

impl AnyTarget {
    /// Validates `config` and builds its target (without connecting).
    pub fn new(config: TargetConfig) -> Result<AnyTarget, ConfigError> {
        #[allow(unreachable_code)] // with no target feature there is no configuration at all
        Ok(match config {
            #[cfg(feature = "webhook")]
            TargetConfig::Webhook(c) => AnyTarget::Webhook(webhook::WebhookTarget::new(c)?),
            #[cfg(feature = "nats")]
            TargetConfig::Nats(c) => AnyTarget::Nats(nats::NatsTarget::new(c)?),
            #[cfg(feature = "amqp")]
            TargetConfig::Amqp(c) => AnyTarget::Amqp(amqp::AmqpTarget::new(c)?),
            #[cfg(feature = "redis")]
            TargetConfig::Redis(c) => AnyTarget::Redis(redis::RedisTarget::new(c)?),
            #[cfg(feature = "mqtt")]
            TargetConfig::Mqtt(c) => AnyTarget::Mqtt(mqtt::MqttTarget::new(c)?),
        })
    }
}

impl Target for AnyTarget {
    fn kind(&self) -> TargetKind {
        match *self {
            #[cfg(feature = "webhook")]
            AnyTarget::Webhook(ref t) => t.kind(),
            #[cfg(feature = "nats")]
            AnyTarget::Nats(ref t) => t.kind(),
            #[cfg(feature = "amqp")]
            AnyTarget::Amqp(ref t) => t.kind(),
            #[cfg(feature = "redis")]
            AnyTarget::Redis(ref t) => t.kind(),
            #[cfg(feature = "mqtt")]
            AnyTarget::Mqtt(ref t) => t.kind(),
        }
    }

    // Boxed: the targets' futures differ in size by kilobytes (hyper's request future is
    // the largest), and the caller should not carry the largest inline.
    async fn deliver(&self, messages: &[Message]) -> Result<(), DeliveryError> {
        match *self {
            #[cfg(feature = "webhook")]
            AnyTarget::Webhook(ref t) => Box::pin(t.deliver(messages)).await,
            #[cfg(feature = "nats")]
            AnyTarget::Nats(ref t) => Box::pin(t.deliver(messages)).await,
            #[cfg(feature = "amqp")]
            AnyTarget::Amqp(ref t) => Box::pin(t.deliver(messages)).await,
            #[cfg(feature = "redis")]
            AnyTarget::Redis(ref t) => Box::pin(t.deliver(messages)).await,
            #[cfg(feature = "mqtt")]
            AnyTarget::Mqtt(ref t) => Box::pin(t.deliver(messages)).await,
        }
    }

    async fn check(&self) -> Result<(), DeliveryError> {
        match *self {
            #[cfg(feature = "webhook")]
            AnyTarget::Webhook(ref t) => Box::pin(t.check()).await,
            #[cfg(feature = "nats")]
            AnyTarget::Nats(ref t) => Box::pin(t.check()).await,
            #[cfg(feature = "amqp")]
            AnyTarget::Amqp(ref t) => Box::pin(t.check()).await,
            #[cfg(feature = "redis")]
            AnyTarget::Redis(ref t) => Box::pin(t.check()).await,
            #[cfg(feature = "mqtt")]
            AnyTarget::Mqtt(ref t) => Box::pin(t.check()).await,
        }
    }
}

/// Runs `fut` with a deadline; a timeout is a retryable error saying which step timed out.
pub(crate) async fn bounded<T>(
    kind: TargetKind,
    step: &'static str,
    limit: Duration,
    fut: impl Future<Output = Result<T, DeliveryError>>,
) -> Result<T, DeliveryError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(result) => result,
        Err(_) => Err(DeliveryError::retryable(
            kind,
            format!("{step} timed out after {} ms", limit.as_millis()),
        )),
    }
}

/// Whether an I/O error during connect is worth retrying (all are, except a bad address).
pub(crate) fn io_error(kind: TargetKind, step: &'static str, e: std::io::Error) -> DeliveryError {
    let what = format!("{step}: {}", e.kind());
    match e.kind() {
        std::io::ErrorKind::InvalidInput => DeliveryError::permanent(kind, what).with_source(e),
        _ => DeliveryError::retryable(kind, what).with_source(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let u = BrokerUrl::parse("amqp://guest:hunter2@127.0.0.1:5672/%2f").unwrap();
        assert!(!format!("{u:?}").contains("hunter2"), "{u:?}");
        assert!(!u.to_string().contains("hunter2"));
        assert_eq!(u.password().as_deref(), Some("hunter2"));
        assert_eq!(u.username().as_deref(), Some("guest"));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("%2f"), "/");
        assert_eq!(percent_decode("a%20b%"), "a b%");
        assert_eq!(percent_decode("p%40ss"), "p@ss");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
