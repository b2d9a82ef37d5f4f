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
    limits: Limits,
}

/// What the broker's CONNACK allows (MQTT 5 properties; defaults for 3.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Limits {
    /// Publishes awaiting PUBACK at once.
    receive_max: u16,
    /// Largest packet the broker accepts, if it said.
    max_packet: Option<usize>,
    /// The broker's keep-alive, which replaces ours when given.
    keep_alive: Option<u16>,
}

impl Default for Limits {
    fn default() -> Self {
        // MQTT 3.1.1 has no Receive Maximum; 20 in flight is what Mosquitto allows by default
        // and keeps a batch pipelined.
        Limits { receive_max: 20, max_packet: None, keep_alive: None }
    }
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
            let mut conn = Conn {
                tcp,
                buf: Vec::new(),
                next_id: 1,
                last_used: Instant::now(),
                limits: Limits::default(),
            };
            conn.write(&self.connect_packet()).await?;
            let (kind, body) = conn.packet().await?;
            if kind != CONNACK {
                return Err(DeliveryError::retryable(KIND, "the broker did not answer CONNACK"));
            }
            let code = *body.get(1).ok_or_else(|| malformed("CONNACK"))?;
            connack_result(code, self.v5())?;
            if self.v5() {
                conn.limits = connack_properties(body.get(2..).unwrap_or_default())?;
            }
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

    fn publish_packet(&self, id: u16, message: &Message) -> (u16, Vec<u8>) {
        let mut body = Vec::with_capacity(self.config.topic.len() + message.body().len() + 8);
        put_str(&mut body, self.config.topic.as_bytes());
        body.extend_from_slice(&id.to_be_bytes());
        if self.v5() {
            body.push(0); // no properties
        }
        body.extend_from_slice(message.body());
        (id, frame(0x32, &body)) // PUBLISH, QoS 1, no DUP, no RETAIN
    }

    async fn publish(&self, conn: &mut Conn, messages: &[Message]) -> Result<(), DeliveryError> {
        // At most `receive_max` publishes wait for their PUBACK at once (MQTT 5 brokers
        // announce it, Mosquitto's default is 20; exceeding it is a protocol error).
        let window = usize::from(conn.limits.receive_max.max(1));
        let mut ids = Vec::with_capacity(messages.len());
        let mut acked = vec![false; messages.len()];
        let confirmed = |acked: &[bool]| acked.iter().take_while(|a| **a).count();
        let (mut sent, mut done) = (0, 0);
        while done < messages.len() {
            let mut out = Vec::new();
            while sent < messages.len() && sent - done < window {
                let packet = self.publish_packet(conn.take_id(), &messages[sent]);
                if conn.limits.max_packet.is_some_and(|max| packet.1.len() > max) {
                    let what = "message larger than the broker's maximum packet size";
                    return Err(
                        DeliveryError::permanent(KIND, what).with_confirmed(confirmed(&acked))
                    );
                }
                ids.push(packet.0);
                out.extend(packet.1);
                sent += 1;
            }
            if !out.is_empty() {
                conn.write(&out).await.map_err(|e| e.with_confirmed(confirmed(&acked)))?;
            }
            let (kind, body) =
                conn.packet().await.map_err(|e| e.with_confirmed(confirmed(&acked)))?;
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
                        done += 1;
                    }
                }
                DISCONNECT => {
                    let why = body.first().map_or(String::new(), |c| format!(" (reason {c:#04x})"));
                    return Err(DeliveryError::retryable(
                        KIND,
                        format!("the broker disconnected{why}"),
                    )
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
        match slot.take() {
            Some(conn) => {
                let secs = conn.limits.keep_alive.unwrap_or(self.config.keep_alive_secs);
                let keep_alive = Duration::from_secs(u64::from(secs));
                if keep_alive.is_zero() || conn.last_used.elapsed() < keep_alive {
                    return Ok((conn, true));
                }
                Ok((self.connect().await?, false))
            }
            None => Ok((self.connect().await?, false)),
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

/// Reads a variable-byte integer at the start of `b`: (value, bytes used).
fn varint(b: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for (i, byte) in b.iter().take(4).enumerate() {
        value |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Parses the properties of an MQTT 5 CONNACK (after flags and reason code) for the limits
/// a publisher must respect; a broker without QoS 1 cannot confirm anything (permanent).
fn connack_properties(b: &[u8]) -> Result<Limits, DeliveryError> {
    let bad = || malformed("CONNACK properties");
    let mut limits = Limits { receive_max: u16::MAX, ..Limits::default() };
    let Some((len, used)) = varint(b) else { return Ok(limits) };
    let mut props = b.get(used..used + len).ok_or_else(bad)?;
    let u16_at = |p: &[u8]| p.get(1..3).map(|x| u16::from_be_bytes([x[0], x[1]]));
    let u32_at = |p: &[u8]| p.get(1..5).map(|x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]));
    let str_len = |p: &[u8], at: usize| {
        p.get(at..at + 2).map(|x| usize::from(u16::from_be_bytes([x[0], x[1]])) + 2)
    };
    while let Some(&id) = props.first() {
        let size = match id {
            // Byte: Maximum QoS, Retain / Wildcard / Subscription-id / Shared available.
            0x24 | 0x25 | 0x28 | 0x29 | 0x2A => {
                if id == 0x24 && props.get(1) == Some(&0) {
                    return Err(DeliveryError::permanent(KIND, "the broker supports only QoS 0"));
                }
                2
            }
            // Two-byte integers: Receive Maximum, Topic Alias Maximum, Server Keep Alive.
            0x21 | 0x22 | 0x13 => {
                let v = u16_at(props).ok_or_else(bad)?;
                match id {
                    0x21 => limits.receive_max = v,
                    0x13 => limits.keep_alive = Some(v),
                    _ => {}
                }
                3
            }
            // Four-byte integers: Session Expiry Interval, Maximum Packet Size.
            0x11 | 0x27 => {
                let v = u32_at(props).ok_or_else(bad)?;
                if id == 0x27 {
                    limits.max_packet = usize::try_from(v).ok();
                }
                5
            }
            // Strings and binary data: Assigned Client Identifier, Reason String, Response
            // Information, Server Reference, Authentication Method and Data.
            0x12 | 0x1F | 0x1A | 0x1C | 0x15 | 0x16 => 1 + str_len(props, 1).ok_or_else(bad)?,
            // User Property: a string pair.
            0x26 => {
                let first = str_len(props, 1).ok_or_else(bad)?;
                1 + first + str_len(props, 1 + first).ok_or_else(bad)?
            }
            _ => return Err(bad()),
        };
        props = props.get(size..).ok_or_else(bad)?;
    }
    Ok(limits)
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

    /// A broker on 127.0.0.1 that announces Receive Maximum 2, acknowledges the PUBLISHes in
    /// flight whenever the client pauses, and disconnects a client that has a third one in
    /// flight (a protocol error in MQTT 5). Returns its port and the number of PUBLISHes it acknowledged.
    async fn strict_broker() -> (u16, tokio::sync::oneshot::Receiver<usize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (done, count) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut conn = Conn {
                tcp,
                buf: Vec::new(),
                next_id: 1,
                last_used: Instant::now(),
                limits: Limits::default(),
            };
            let (kind, _) = conn.packet().await.unwrap();
            assert_eq!(kind, 1, "CONNECT first");
            // CONNACK: no session present, success, properties: Receive Maximum = 2.
            conn.write(&frame(0x20, &[0, 0, 3, 0x21, 0, 2])).await.unwrap();
            let (mut in_flight, mut acked) = (Vec::new(), 0);
            loop {
                let Ok((kind, body)) = conn.packet().await else { break };
                if kind != 3 {
                    continue;
                }
                // Topic (length-prefixed), then the packet id.
                let topic_len = usize::from(u16::from_be_bytes([body[0], body[1]]));
                in_flight.push([body[2 + topic_len], body[3 + topic_len]]);
                if in_flight.len() > 2 {
                    let _ = conn.write(&frame(0xE0, &[0x93, 0])).await; // Receive Maximum exceeded
                    break;
                }
                // Acknowledge everything in flight once the client stops sending.
                // (Packets already read into the buffer count as the client still sending.)
                let quiet = conn.buf.is_empty()
                    && tokio::time::timeout(Duration::from_millis(20), conn.fill(1)).await.is_err();
                if quiet {
                    for id in in_flight.drain(..) {
                        conn.write(&frame(0x40, &[id[0], id[1], 0, 0])).await.unwrap();
                        acked += 1;
                    }
                }
            }
            let _ = done.send(acked);
        });
        (port, count)
    }

    #[tokio::test]
    async fn publishes_stay_within_the_brokers_receive_maximum() {
        let (port, count) = strict_broker().await;
        let t = MqttTarget::new(MqttConfig {
            url: BrokerUrl::parse(&format!("mqtt://127.0.0.1:{port}")).unwrap(),
            topic: "t".into(),
            client_id: "c".into(),
            username: None,
            password: None,
            version: MqttVersion::V5,
            keep_alive_secs: 60,
            timeouts: Timeouts::default(),
        })
        .unwrap();
        let batch: Vec<Message> = (0..7)
            .map(|i| {
                Message::test_event(&crate::TestEvent::new(
                    "b",
                    std::time::UNIX_EPOCH,
                    &format!("r{i}"),
                    "h",
                ))
            })
            .collect();
        t.deliver(&batch).await.unwrap();
        drop(t);
        assert_eq!(count.await.unwrap(), 7);
    }

    #[test]
    fn connack_properties_give_the_limits() {
        // Receive Maximum 20, Maximum Packet Size 1000, a reason string, Server Keep Alive 30.
        let props = [16, 0x21, 0, 20, 0x27, 0, 0, 0x03, 0xE8, 0x1F, 0, 2, b'o', b'k', 0x13, 0, 30];
        let limits = connack_properties(&props).unwrap();
        assert_eq!(
            limits,
            Limits { receive_max: 20, max_packet: Some(1000), keep_alive: Some(30) }
        );
        assert_eq!(connack_properties(&[0]).unwrap().receive_max, u16::MAX);
        assert!(!connack_properties(&[2, 0x24, 0]).unwrap_err().is_retryable());
        assert!(connack_properties(&[3, 0x21, 0]).is_err());
        assert!(connack_properties(&[1, 0x7F]).is_err());
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
