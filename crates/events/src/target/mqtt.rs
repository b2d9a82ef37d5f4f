//! MQTT 3.1.1 or 5: each message is one QoS 1 `PUBLISH` to the configured topic.
//!
//! *Confirmed* means the broker answered the message's `PUBACK` (and, on MQTT 5, with a
//! reason code below 0x80): the broker has taken responsibility for it. The messages of a
//! batch are sent back to back and their `PUBACK`s awaited together. The session is clean,
//! so a batch cut by a lost connection is not resumed by the broker: the delivery fails and
//! the caller delivers it again, which can duplicate messages whose `PUBACK` was lost.
//!
//! The client is ours: the target needs `CONNECT`/`CONNACK`, `PUBLISH`/`PUBACK` and
//! `DISCONNECT`, some 200 lines, where rumqttc's event loop must be polled by a task of its
//! own and reports acknowledgements by packet id on a separate stream. TLS (`mqtts://`) is
//! not supported and refused when the target is built.

use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::{BrokerUrl, Message, Secret, Target, Timeouts, bounded, io_error};
use crate::{ConfigError, DeliveryError, TargetKind};

const KIND: TargetKind = TargetKind::Mqtt;

/// The MQTT protocol version spoken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum MqttVersion {
    /// MQTT 3.1.1 (protocol level 4).
    #[default]
    #[serde(rename = "3.1.1")]
    V311,
    /// MQTT 5.
    #[serde(rename = "5")]
    V5,
}

/// `kind = "mqtt"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://host[:port]` (port 1883 by default).
    pub url: BrokerUrl,
    /// The topic every message is published to.
    pub topic: String,
    /// The client identifier (1..=23 letters and digits is what every broker accepts).
    pub client_id: String,
    /// User name, if the broker wants one.
    #[serde(default)]
    pub username: Option<String>,
    /// Password, if the broker wants one.
    #[serde(default)]
    pub password: Option<Secret>,
    /// "3.1.1" (default) or "5".
    #[serde(default)]
    pub version: MqttVersion,
    /// Keep-alive announced to the broker, in seconds (60). A connection idle longer than
    /// this is replaced before the next delivery, since the broker may have dropped it.
    #[serde(default = "default_keep_alive")]
    pub keep_alive_secs: u16,
    /// Network bounds.
    #[serde(default)]
    pub timeouts: Timeouts,
}

fn default_keep_alive() -> u16 {
    60
}

/// An MQTT target.
#[derive(Debug)]
pub struct MqttTarget {
    config: MqttConfig,
    host: String,
    port: u16,
    conn: Mutex<Option<Conn>>,
}

#[derive(Debug)]
struct Conn {
    tcp: TcpStream,
    buf: Vec<u8>,
    next_id: u16,
    last_used: Instant,
}

impl MqttTarget {
    /// Checks `config` without connecting.
    pub fn new(config: MqttConfig) -> Result<MqttTarget, ConfigError> {
        let invalid =
            |reason: &str| ConfigError::InvalidTarget { kind: KIND, reason: reason.to_owned() };
        let url = config.url.expose();
        if url.scheme() != "mqtt" {
            return Err(invalid("the URL scheme must be mqtt:// (TLS is not supported)"));
        }
        let host = url.host_str().ok_or_else(|| invalid("the URL has no host"))?.to_owned();
        let port = url.port().unwrap_or(1883);
        if config.topic.is_empty() || config.topic.contains(['+', '#', '\0']) {
            return Err(invalid("the topic must be non-empty and have no wildcard"));
        }
        if config.topic.len() > 65_535 || config.client_id.len() > 65_535 {
            return Err(invalid("the topic and client id must be shorter than 64 KiB"));
        }
        if config.client_id.is_empty() {
            return Err(invalid("the client id is empty (a clean session still needs one here)"));
        }
        Ok(MqttTarget { config, host, port, conn: Mutex::new(None) })
    }

    fn v5(&self) -> bool {
        self.config.version == MqttVersion::V5
    }

    async fn connect(&self) -> Result<Conn, DeliveryError> {
        bounded(KIND, "connect", self.config.timeouts.connect(), async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| io_error(KIND, "connect", e))?;
            let _ = tcp.set_nodelay(true);
            let mut conn = Conn { tcp, buf: Vec::new(), next_id: 1, last_used: Instant::now() };
            conn.write(&self.connect_packet()).await?;
            let (kind, body) = conn.packet().await?;
            if kind != CONNACK {
                return Err(DeliveryError::retryable(KIND, "the broker did not answer CONNACK"));
            }
            let code = *body.get(1).ok_or_else(|| malformed("CONNACK"))?;
            connack_result(code, self.v5())?;
            Ok(conn)
        })
        .await
    }

    fn connect_packet(&self) -> Vec<u8> {
        let c = &self.config;
        let mut body = Vec::new();
        put_str(&mut body, b"MQTT");
        body.push(if self.v5() { 5 } else { 4 });
        let mut flags = 0b0000_0010; // clean session / clean start
        if c.username.is_some() {
            flags |= 0b1000_0000;
        }
        if c.password.is_some() {
            flags |= 0b0100_0000;
        }
        body.push(flags);
        body.extend_from_slice(&c.keep_alive_secs.to_be_bytes());
        if self.v5() {
            body.push(0); // no properties
        }
        put_str(&mut body, c.client_id.as_bytes());
        if let Some(user) = &c.username {
            put_str(&mut body, user.as_bytes());
        }
        if let Some(password) = &c.password {
            put_str(&mut body, password.expose().as_bytes());
        }
        frame(0x10, &body)
    }

    fn publish_packet(&self, id: u16, message: &Message) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.config.topic.len() + message.body().len() + 8);
        put_str(&mut body, self.config.topic.as_bytes());
        body.extend_from_slice(&id.to_be_bytes());
        if self.v5() {
            body.push(0); // no properties
        }
        body.extend_from_slice(message.body());
        frame(0x32, &body) // PUBLISH, QoS 1, no DUP, no RETAIN
    }

    async fn publish(&self, conn: &mut Conn, messages: &[Message]) -> Result<(), DeliveryError> {
        let mut out = Vec::new();
        let mut ids = Vec::with_capacity(messages.len());
        for message in messages {
            let id = conn.take_id();
            ids.push(id);
            out.extend(self.publish_packet(id, message));
        }
        conn.write(&out).await?;
        let mut acked = vec![false; messages.len()];
        let mut remaining = messages.len();
        let confirmed = |acked: &[bool]| acked.iter().take_while(|a| **a).count();
        while remaining > 0 {
            let (kind, body) = conn.packet().await.map_err(|e| {
                let n = confirmed(&acked);
                e.with_confirmed(n)
            })?;
            match kind {
                PUBACK => {
                    let id = u16::from_be_bytes(
                        body.get(..2)
                            .and_then(|b| b.try_into().ok())
                            .ok_or_else(|| malformed("PUBACK"))?,
                    );
                    let Some(i) = ids.iter().position(|x| *x == id) else { continue };
                    if self.v5()
                        && let Some(&code) = body.get(2)
                        && code >= 0x80
                    {
                        return Err(puback_error(code).with_confirmed(confirmed(&acked)));
                    }
                    if !acked[i] {
                        acked[i] = true;
                        remaining -= 1;
                    }
                }
                DISCONNECT => {
                    return Err(DeliveryError::retryable(KIND, "the broker disconnected")
                        .with_confirmed(confirmed(&acked)));
                }
                // PINGRESP or anything else a broker may send a publisher: not ours.
                _ => {}
            }
        }
        conn.last_used = Instant::now();
        Ok(())
    }

    async fn usable(&self, slot: &mut Option<Conn>) -> Result<(Conn, bool), DeliveryError> {
        let keep_alive = Duration::from_secs(u64::from(self.config.keep_alive_secs));
        match slot.take() {
            Some(conn) if keep_alive.is_zero() || conn.last_used.elapsed() < keep_alive => {
                Ok((conn, true))
            }
            _ => Ok((self.connect().await?, false)),
        }
    }
}

impl Target for MqttTarget {
    fn kind(&self) -> TargetKind {
        KIND
    }

    async fn deliver(&self, messages: &[Message]) -> Result<(), DeliveryError> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut slot = self.conn.lock().await;
        let (mut conn, reused) = self.usable(&mut slot).await?;
        let limit = self.config.timeouts.confirm();
        let mut result = bounded(KIND, "publish", limit, self.publish(&mut conn, messages)).await;
        // A reused connection the broker had closed fails before any PUBACK: try a new one.
        if reused && matches!(&result, Err(e) if e.is_retryable() && e.confirmed() == 0) {
            conn = self.connect().await?;
            result = bounded(KIND, "publish", limit, self.publish(&mut conn, messages)).await;
        }
        if result.is_ok() {
            *slot = Some(conn);
        }
        result
    }

    async fn check(&self) -> Result<(), DeliveryError> {
        let mut slot = self.conn.lock().await;
        let (mut conn, _) = self.usable(&mut slot).await?;
        bounded(KIND, "ping", self.config.timeouts.confirm(), async {
            conn.write(&[0xC0, 0]).await?; // PINGREQ
            loop {
                let (kind, _) = conn.packet().await?;
                if kind == PINGRESP {
                    return Ok(());
                }
            }
        })
        .await?;
        conn.last_used = Instant::now();
        *slot = Some(conn);
        Ok(())
    }
}

const CONNACK: u8 = 2;
const PUBACK: u8 = 4;
const PINGRESP: u8 = 13;
const DISCONNECT: u8 = 14;

fn malformed(what: &str) -> DeliveryError {
    DeliveryError::retryable(KIND, format!("malformed {what} from the broker"))
}

/// CONNACK's return code (3.1.1) or reason code (5): bad credentials, refused
/// authorisation, a protocol version or client id the broker refuses are permanent; a
/// broker unavailable, busy or over quota is retryable.
fn connack_result(code: u8, v5: bool) -> Result<(), DeliveryError> {
    let retryable =
        |what: &str| Err(DeliveryError::retryable(KIND, format!("connect refused: {what}")));
    let permanent =
        |what: &str| Err(DeliveryError::permanent(KIND, format!("connect refused: {what}")));
    match (v5, code) {
        (_, 0) => Ok(()),
        (false, 1) | (true, 0x84) => permanent("unsupported protocol version"),
        (false, 2) | (true, 0x85) => permanent("client identifier not valid"),
        (false, 3) | (true, 0x88 | 0x89 | 0x97 | 0x9F) => retryable("server unavailable or busy"),
        (false, 4) | (true, 0x86) => permanent("bad user name or password"),
        (false, 5) | (true, 0x87) => permanent("not authorized"),
        (_, other) => permanent(&format!("code {other:#04x}")),
    }
}

/// An MQTT 5 PUBACK reason code of 0x80 or more.
fn puback_error(code: u8) -> DeliveryError {
    let what = format!("publish refused with reason code {code:#04x}");
    match code {
        // Quota exceeded, implementation specific error (often a transient overload).
        0x97 | 0x83 => DeliveryError::retryable(KIND, what),
        _ => DeliveryError::permanent(KIND, what),
    }
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    // Lengths were checked in `MqttTarget::new` (topic, client id) or are bounded by the
    // protocol's own fields; a longer string is cut rather than mis-framed.
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&s[..usize::from(len)]);
}

/// A packet: fixed header byte, remaining length (variable-byte integer), body.
fn frame(header: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![header];
    let mut len = body.len();
    loop {
        let mut byte = u8::try_from(len % 128).unwrap_or(0);
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

/// Packets from the broker that are larger than this are not answers to a publisher.
const MAX_PACKET: usize = 1 << 16;

impl Conn {
    fn take_id(&mut self) -> u16 {
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        id
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), DeliveryError> {
        self.tcp.write_all(bytes).await.map_err(|e| io_error(KIND, "send", e))
    }

    async fn fill(&mut self, n: usize) -> Result<(), DeliveryError> {
        while self.buf.len() < n {
            // Read into the heap buffer itself, so no chunk lives in the future's state.
            self.buf.reserve(4096);
            let read =
                self.tcp.read_buf(&mut self.buf).await.map_err(|e| io_error(KIND, "read", e))?;
            if read == 0 {
                return Err(DeliveryError::retryable(KIND, "connection closed by the broker"));
            }
        }
        Ok(())
    }

    /// Reads one packet: (packet type, body).
    async fn packet(&mut self) -> Result<(u8, Vec<u8>), DeliveryError> {
        self.fill(2).await?;
        let mut len = 0usize;
        let mut at = 1;
        loop {
            self.fill(at + 1).await?;
            let byte = self.buf[at];
            len |= usize::from(byte & 0x7F) << (7 * (at - 1));
            at += 1;
            if byte & 0x80 == 0 {
                break;
            }
            if at > 4 {
                return Err(malformed("packet length"));
            }
        }
        if len > MAX_PACKET {
            return Err(malformed("packet (too large)"));
        }
        self.fill(at + len).await?;
        let kind = self.buf[0] >> 4;
        let body = self.buf[at..at + len].to_vec();
        self.buf.drain(..at + len);
        Ok((kind, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_length_is_a_variable_byte_integer() {
        assert_eq!(frame(0xC0, &[]), [0xC0, 0]);
        assert_eq!(frame(0x30, &[0; 127])[..2], [0x30, 127]);
        assert_eq!(frame(0x30, &[0; 128])[..3], [0x30, 0x80, 0x01]);
        assert_eq!(frame(0x30, &[0; 16_384])[..4], [0x30, 0x80, 0x80, 0x01]);
    }

    #[test]
    fn connack_codes_decide_retry() {
        assert!(connack_result(0, false).is_ok());
        assert!(connack_result(3, false).unwrap_err().is_retryable());
        assert!(!connack_result(4, false).unwrap_err().is_retryable());
        assert!(!connack_result(5, false).unwrap_err().is_retryable());
        assert!(!connack_result(0x86, true).unwrap_err().is_retryable());
        assert!(connack_result(0x89, true).unwrap_err().is_retryable());
    }

    #[test]
    fn connect_packet_carries_credentials() {
        let t = MqttTarget::new(MqttConfig {
            url: BrokerUrl::parse("mqtt://127.0.0.1").unwrap(),
            topic: "t".into(),
            client_id: "c".into(),
            username: Some("u".into()),
            password: Some(Secret::new("p")),
            version: MqttVersion::V311,
            keep_alive_secs: 60,
            timeouts: Timeouts::default(),
        })
        .unwrap();
        assert_eq!(
            t.connect_packet(),
            [
                0x10,
                19,
                0,
                4,
                b'M',
                b'Q',
                b'T',
                b'T',
                4,
                0b1100_0010,
                0,
                60,
                0,
                1,
                b'c',
                0,
                1,
                b'u',
                0,
                1,
                b'p'
            ]
        );
    }
}
