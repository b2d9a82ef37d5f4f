//! Redis Streams: each message is one `XADD <stream> [MAXLEN ~ n] * id <id> event <json>`.
//!
//! *Confirmed* means Redis answered the batch's `EXEC` with one entry id per message: the
//! entries are in the stream, in order. A batch is one `MULTI`/`EXEC` transaction, so it is
//! added whole or not at all and never with a gap that a retry would fill out of order. How
//! durable an entry then is depends on the server's persistence settings (`appendonly`,
//! `appendfsync`), which the gateway cannot see. Redis has no deduplication: a retried batch
//! whose `EXEC` reply was lost is added again; consumers dedupe on the `id` field.
//!
//! The client is ours: the target needs `AUTH`, `SELECT`, `PING`, `MULTI`, `XADD` and `EXEC`
//! over RESP2, about 150 lines, where the `redis` crate would bring a connection manager,
//! a second runtime abstraction and dozens of commands the gateway never sends. Redis Cluster
//! and TLS (`rediss://`) are not supported and refused when the target is built.

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::{BrokerUrl, Message, Target, Timeouts, bounded, io_error, percent_decode};
use crate::{ConfigError, DeliveryError, TargetKind};

const KIND: TargetKind = TargetKind::Redis;

/// `kind = "redis"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[user[:password]@]host[:port][/db]` (port 6379, database 0 by default).
    pub url: BrokerUrl,
    /// The stream key.
    pub stream: String,
    /// Trim the stream to about this many entries on every add (`MAXLEN ~ n`).
    #[serde(default)]
    pub maxlen: Option<u64>,
    /// Network bounds.
    #[serde(default)]
    pub timeouts: Timeouts,
}

/// A Redis Streams target.
#[derive(Debug)]
pub struct RedisTarget {
    config: RedisConfig,
    host: String,
    port: u16,
    db: u32,
    conn: Mutex<Option<Conn>>,
}

#[derive(Debug)]
struct Conn {
    io: BufReader<TcpStream>,
}

impl RedisTarget {
    /// Checks `config` (scheme, database number, stream name) without connecting.
    pub fn new(config: RedisConfig) -> Result<RedisTarget, ConfigError> {
        let invalid =
            |reason: &str| ConfigError::InvalidTarget { kind: KIND, reason: reason.to_owned() };
        let url = config.url.expose();
        if url.scheme() != "redis" {
            return Err(invalid("the URL scheme must be redis:// (TLS is not supported)"));
        }
        let host = url.host_str().ok_or_else(|| invalid("the URL has no host"))?.to_owned();
        let port = url.port().unwrap_or(6379);
        let path = percent_decode(url.path().trim_start_matches('/'));
        let db = if path.is_empty() {
            0
        } else {
            path.parse().map_err(|_| invalid("the URL path must be a database number"))?
        };
        if config.stream.is_empty() {
            return Err(invalid("the stream key is empty"));
        }
        Ok(RedisTarget { config, host, port, db, conn: Mutex::new(None) })
    }

    async fn connect(&self) -> Result<Conn, DeliveryError> {
        bounded(KIND, "connect", self.config.timeouts.connect(), async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| io_error(KIND, "connect", e))?;
            let _ = tcp.set_nodelay(true);
            let mut conn = Conn { io: BufReader::new(tcp) };
            let url = &self.config.url;
            if let Some(password) = url.password() {
                let mut auth = vec![b"AUTH".to_vec()];
                if let Some(user) = url.username() {
                    auth.push(user.into_bytes());
                }
                auth.push(password.into_bytes());
                conn.send(&[command(&auth)]).await?;
                conn.read().await?.ok()?;
            }
            if self.db != 0 {
                conn.send(&[command(&[b"SELECT".to_vec(), self.db.to_string().into_bytes()])])
                    .await?;
                conn.read().await?.ok()?;
            }
            Ok(conn)
        })
        .await
    }

    fn xadd(&self, message: &Message) -> Vec<u8> {
        let mut args = vec![b"XADD".to_vec(), self.config.stream.clone().into_bytes()];
        if let Some(n) = self.config.maxlen {
            args.extend([b"MAXLEN".to_vec(), b"~".to_vec(), n.to_string().into_bytes()]);
        }
        args.extend([
            b"*".to_vec(),
            b"id".to_vec(),
            message.id().as_bytes().to_vec(),
            b"event".to_vec(),
            message.body().to_vec(),
        ]);
        command(&args)
    }

    async fn send_batch(&self, conn: &mut Conn, messages: &[Message]) -> Result<(), DeliveryError> {
        let mut frames = vec![command(&[b"MULTI".to_vec()])];
        frames.extend(messages.iter().map(|m| self.xadd(m)));
        frames.push(command(&[b"EXEC".to_vec()]));
        conn.send(&frames).await?;
        conn.read().await?.ok()?; // MULTI
        // A command refused while queueing (OOM, a bad argument) makes EXEC abort the whole
        // transaction; remember the first such refusal, it says why.
        let mut refused = None;
        for _ in messages {
            if let Reply::Error(e) = conn.read().await? {
                refused.get_or_insert(e);
            }
        }
        match conn.read().await? {
            Reply::Array(Some(ids)) if ids.len() == messages.len() => {
                // Each id is a bulk string; an error in its place (WRONGTYPE) failed that add.
                for (i, id) in ids.into_iter().enumerate() {
                    if let Reply::Error(e) = id {
                        return Err(reply_error(&e).with_confirmed(i));
                    }
                }
                Ok(())
            }
            Reply::Error(e) => Err(reply_error(refused.as_deref().unwrap_or(&e))),
            other => {
                Err(DeliveryError::retryable(KIND, format!("unexpected EXEC reply {other:?}")))
            }
        }
    }
}

impl Target for RedisTarget {
    fn kind(&self) -> TargetKind {
        KIND
    }

    async fn deliver(&self, messages: &[Message]) -> Result<(), DeliveryError> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut slot = self.conn.lock().await;
        // A connection idle since the last call may have been closed by the server; if it
        // fails before anything was confirmed, one fresh connection is tried at once.
        let reused = slot.is_some();
        let mut conn = match slot.take() {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        let limit = self.config.timeouts.confirm();
        let mut result = bounded(KIND, "XADD", limit, self.send_batch(&mut conn, messages)).await;
        if reused && matches!(&result, Err(e) if e.is_retryable() && e.confirmed() == 0) {
            conn = self.connect().await?;
            result = bounded(KIND, "XADD", limit, self.send_batch(&mut conn, messages)).await;
        }
        if result.is_ok() {
            *slot = Some(conn);
        }
        result
    }

    async fn check(&self) -> Result<(), DeliveryError> {
        let mut slot = self.conn.lock().await;
        let mut conn = match slot.take() {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        bounded(KIND, "PING", self.config.timeouts.confirm(), async {
            conn.send(&[command(&[b"PING".to_vec()])]).await?;
            conn.read().await?.ok()
        })
        .await?;
        *slot = Some(conn);
        Ok(())
    }
}

/// A RESP2 reply.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    fn ok(self) -> Result<(), DeliveryError> {
        match self {
            Reply::Error(e) => Err(reply_error(&e)),
            _ => Ok(()),
        }
    }
}

/// Sorts an error reply by its code: authentication, permission, type and syntax errors
/// stay the same on retry; a server loading, busy, read-only, out of memory or failing
/// over may recover.
fn reply_error(e: &str) -> DeliveryError {
    let code = e.split_whitespace().next().unwrap_or("");
    let what = format!("server answered {e:?}");
    match code {
        "LOADING" | "BUSY" | "TRYAGAIN" | "MASTERDOWN" | "READONLY" | "CLUSTERDOWN" | "OOM"
        | "NOREPLICAS" => DeliveryError::retryable(KIND, what),
        _ => DeliveryError::permanent(KIND, what),
    }
}

/// Encodes a command as a RESP array of bulk strings.
fn command(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Replies larger than this are not ours (an entry id is ~20 bytes, a batch ≤ a few
/// thousand ids): refusing them bounds memory against a confused server.
const MAX_BULK: usize = 1 << 20;
const MAX_ARRAY: usize = 1 << 20;

impl Conn {
    async fn send(&mut self, frames: &[Vec<u8>]) -> Result<(), DeliveryError> {
        let io = self.io.get_mut();
        for frame in frames {
            io.write_all(frame).await.map_err(|e| io_error(KIND, "send", e))?;
        }
        io.flush().await.map_err(|e| io_error(KIND, "send", e))
    }

    async fn line(&mut self) -> Result<String, DeliveryError> {
        let mut line = Vec::new();
        let n = (&mut self.io)
            .take(64 * 1024)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| io_error(KIND, "read reply", e))?;
        if n == 0 {
            return Err(DeliveryError::retryable(KIND, "connection closed by the server"));
        }
        if !line.ends_with(b"\r\n") {
            return Err(DeliveryError::retryable(KIND, "malformed reply line"));
        }
        line.truncate(line.len() - 2);
        String::from_utf8(line).map_err(|_| DeliveryError::retryable(KIND, "reply is not UTF-8"))
    }

    async fn read(&mut self) -> Result<Reply, DeliveryError> {
        let head = self.line().await?;
        self.parse(head, 0).await
    }

    async fn parse(&mut self, head: String, depth: u8) -> Result<Reply, DeliveryError> {
        let bad = || DeliveryError::retryable(KIND, "malformed reply");
        let (tag, rest) = head.split_at_checked(1).ok_or_else(bad)?;
        let len = || rest.parse::<i64>().map_err(|_| bad());
        match tag {
            "+" => Ok(Reply::Simple(rest.to_owned())),
            "-" => Ok(Reply::Error(rest.to_owned())),
            ":" => Ok(Reply::Integer(len()?)),
            "$" => {
                let Ok(n) = usize::try_from(len()?) else { return Ok(Reply::Bulk(None)) };
                if n > MAX_BULK {
                    return Err(bad());
                }
                let mut buf = vec![0; n + 2];
                self.io.read_exact(&mut buf).await.map_err(|e| io_error(KIND, "read reply", e))?;
                if !buf.ends_with(b"\r\n") {
                    return Err(bad());
                }
                buf.truncate(n);
                Ok(Reply::Bulk(Some(buf)))
            }
            "*" => {
                let Ok(n) = usize::try_from(len()?) else { return Ok(Reply::Array(None)) };
                if n > MAX_ARRAY || depth > 4 {
                    return Err(bad());
                }
                let mut items = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let head = self.line().await?;
                    items.push(Box::pin(self.parse(head, depth + 1)).await?);
                }
                Ok(Reply::Array(Some(items)))
            }
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_resp_arrays() {
        assert_eq!(
            command(&[b"XADD".to_vec(), b"s".to_vec(), b"a b".to_vec()]),
            b"*3\r\n$4\r\nXADD\r\n$1\r\ns\r\n$3\r\na b\r\n"
        );
    }

    #[test]
    fn error_codes_decide_retry() {
        assert!(reply_error("LOADING Redis is loading the dataset in memory").is_retryable());
        assert!(reply_error("OOM command not allowed").is_retryable());
        assert!(!reply_error("WRONGPASS invalid username-password pair").is_retryable());
        assert!(!reply_error("NOAUTH Authentication required.").is_retryable());
        assert!(!reply_error("WRONGTYPE Operation against a key").is_retryable());
        assert!(!reply_error("ERR syntax error").is_retryable());
    }

    #[test]
    fn settings_are_checked() {
        let config = |url: &str, stream: &str| RedisConfig {
            url: BrokerUrl::parse(url).unwrap(),
            stream: stream.to_owned(),
            maxlen: None,
            timeouts: Timeouts::default(),
        };
        let t = RedisTarget::new(config("redis://:pw@127.0.0.1/3", "s")).unwrap();
        assert_eq!((t.host.as_str(), t.port, t.db), ("127.0.0.1", 6379, 3));
        for (url, stream) in
            [("rediss://127.0.0.1", "s"), ("redis://127.0.0.1/x", "s"), ("redis://127.0.0.1", "")]
        {
            assert!(RedisTarget::new(config(url, stream)).is_err(), "{url} {stream}");
        }
    }
}
