//! AMQP 0-9-1 (RabbitMQ): each message is one `basic.publish` to the configured exchange
//! and routing key, persistent (delivery mode 2), `mandatory`, on a channel in publisher
//! confirm mode.
//!
//! *Confirmed* means the broker answered the message's delivery tag with `basic.ack` and did
//! not return it: every queue it was routed to has it (on disk for durable queues, on the
//! quorum's majority for quorum queues). A `basic.nack`, a `basic.return` (with `mandatory`:
//! no queue is bound for the routing key) or a closed channel fail the delivery as
//! retryable, except an access refusal (bad credentials, no permission), which is permanent.
//! The message's id is the AMQP `message_id` property, for consumers to dedupe a retry.
//!
//! The client is amqprs: tokio-native, publisher confirms through a channel callback, four
//! crates of its own where lapin's tree brings two executors and a resolver.

use amqprs::callbacks::ChannelCallback;
use amqprs::channel::{BasicPublishArguments, Channel, ConfirmSelectArguments};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::{Ack, BasicProperties, Cancel, CloseChannel, Nack, Return};
use serde::Deserialize;
use tokio::sync::{Mutex, mpsc};

use super::{BrokerUrl, Message, Target, Timeouts, bounded, percent_decode};
use crate::{ConfigError, DeliveryError, TargetKind};

const KIND: TargetKind = TargetKind::Amqp;

/// `kind = "amqp"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpConfig {
    /// `amqp://user:password@host[:port]/vhost` (port 5672; `%2f` is the vhost `/`, also the
    /// default when the path is empty; user and password default to guest).
    pub url: BrokerUrl,
    /// The exchange ("" is the default exchange, which routes by queue name).
    #[serde(default)]
    pub exchange: String,
    /// The routing key.
    pub routing_key: String,
    /// Publish with `mandatory` (default true): an unroutable message comes back and the
    /// delivery fails instead of the broker dropping it silently.
    #[serde(default = "yes")]
    pub mandatory: bool,
    /// Network bounds.
    #[serde(default)]
    pub timeouts: Timeouts,
}

fn yes() -> bool {
    true
}

/// An AMQP 0-9-1 target.
pub struct AmqpTarget {
    config: AmqpConfig,
    args: OpenConnectionArguments,
    conn: Mutex<Option<Conn>>,
}

impl std::fmt::Debug for AmqpTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpTarget").field("config", &self.config).finish_non_exhaustive()
    }
}

struct Conn {
    connection: Connection,
    channel: Channel,
    events: mpsc::UnboundedReceiver<Event>,
    next_tag: u64,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").field("next_tag", &self.next_tag).finish_non_exhaustive()
    }
}

/// What the channel callback saw.
#[derive(Debug)]
enum Event {
    Ack { tag: u64, multiple: bool },
    Nack { tag: u64, multiple: bool },
    Returned { message_id: Option<String>, code: u16, text: String },
    Closed { code: u16, text: String },
}

/// Forwards the broker's confirms, returns and channel closes to the delivering task.
struct Callback(mpsc::UnboundedSender<Event>);

#[async_trait::async_trait]
impl ChannelCallback for Callback {
    async fn close(
        &mut self,
        _channel: &Channel,
        close: CloseChannel,
    ) -> Result<(), amqprs::error::Error> {
        let _ = self
            .0
            .send(Event::Closed { code: close.reply_code(), text: close.reply_text().clone() });
        Ok(())
    }

    async fn cancel(
        &mut self,
        _channel: &Channel,
        _cancel: Cancel,
    ) -> Result<(), amqprs::error::Error> {
        Ok(())
    }

    async fn flow(
        &mut self,
        _channel: &Channel,
        active: bool,
    ) -> Result<bool, amqprs::error::Error> {
        Ok(active)
    }

    async fn publish_ack(&mut self, _channel: &Channel, ack: Ack) {
        let _ = self.0.send(Event::Ack { tag: ack.delivery_tag(), multiple: ack.mutiple() });
    }

    async fn publish_nack(&mut self, _channel: &Channel, nack: Nack) {
        let _ = self.0.send(Event::Nack { tag: nack.delivery_tag(), multiple: nack.multiple() });
    }

    async fn publish_return(
        &mut self,
        _channel: &Channel,
        ret: Return,
        properties: BasicProperties,
        _content: Vec<u8>,
    ) {
        let _ = self.0.send(Event::Returned {
            message_id: properties.message_id().cloned(),
            code: ret.reply_code(),
            text: ret.reply_text().clone(),
        });
    }
}

/// AMQP short strings (exchange, routing key, vhost, user) are at most 255 bytes; amqprs
/// panics on longer ones, so they are refused here.
const SHORT_STR: usize = 255;

impl AmqpTarget {
    /// Checks `config` without connecting.
    pub fn new(config: AmqpConfig) -> Result<AmqpTarget, ConfigError> {
        let invalid =
            |reason: &str| ConfigError::InvalidTarget { kind: KIND, reason: reason.to_owned() };
        let url = config.url.expose();
        if url.scheme() != "amqp" {
            return Err(invalid("the URL scheme must be amqp:// (TLS is not supported)"));
        }
        let host = url.host_str().ok_or_else(|| invalid("the URL has no host"))?;
        let port = url.port().unwrap_or(5672);
        let user = config.url.username().unwrap_or_else(|| "guest".to_owned());
        let password = config.url.password().unwrap_or_else(|| "guest".to_owned());
        let path = url.path();
        let vhost = if path.is_empty() || path == "/" {
            "/".to_owned()
        } else {
            percent_decode(&path[1..])
        };
        for (what, value) in [
            ("exchange", config.exchange.as_str()),
            ("routing key", config.routing_key.as_str()),
            ("vhost", vhost.as_str()),
            ("user", user.as_str()),
            ("host", host),
        ] {
            if value.len() > SHORT_STR {
                return Err(invalid(&format!("the {what} is longer than 255 bytes")));
            }
        }
        let args = OpenConnectionArguments::new(host, port, &user, &password)
            .virtual_host(&vhost)
            .connection_name("s3gate")
            .finish();
        Ok(AmqpTarget { config, args, conn: Mutex::new(None) })
    }

    async fn connect(&self) -> Result<Conn, DeliveryError> {
        bounded(KIND, "connect", self.config.timeouts.connect(), async {
            let connection = Connection::open(&self.args).await.map_err(open_error)?;
            let channel = connection.open_channel(None).await.map_err(open_error)?;
            let (tx, events) = mpsc::unbounded_channel();
            channel.register_callback(Callback(tx)).await.map_err(open_error)?;
            channel.confirm_select(ConfirmSelectArguments::new(false)).await.map_err(open_error)?;
            Ok(Conn { connection, channel, events, next_tag: 1 })
        })
        .await
    }

    async fn publish(&self, conn: &mut Conn, messages: &[Message]) -> Result<(), DeliveryError> {
        let first = conn.next_tag;
        let args = BasicPublishArguments::new(&self.config.exchange, &self.config.routing_key)
            .mandatory(self.config.mandatory)
            .finish();
        for message in messages {
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json")
                .with_message_id(message.id())
                .finish();
            conn.channel
                .basic_publish(properties, message.body().to_vec(), args.clone())
                .await
                .map_err(|e| {
                    DeliveryError::retryable(KIND, "publish: connection lost").with_source(e)
                })?;
            conn.next_tag += 1;
        }
        // Delivery tags count from 1 on the channel; message i has tag first + i.
        let mut state = vec![Confirm::Pending; messages.len()];
        let mut returned: Option<(usize, u16, String)> = None;
        loop {
            let Some(event) = conn.events.recv().await else {
                return Err(DeliveryError::retryable(KIND, "the channel closed"));
            };
            match event {
                Event::Ack { tag, multiple } => {
                    mark(&mut state, first, tag, multiple, Confirm::Acked);
                }
                Event::Nack { tag, multiple } => {
                    mark(&mut state, first, tag, multiple, Confirm::Nacked);
                }
                Event::Returned { message_id, code, text } => {
                    if let Some(i) =
                        messages.iter().position(|m| Some(m.id()) == message_id.as_deref())
                        && returned.as_ref().is_none_or(|(j, ..)| i < *j)
                    {
                        returned = Some((i, code, text));
                    }
                }
                Event::Closed { code, text } => {
                    let what = format!("the broker closed the channel: {code} {text}");
                    return Err(if code == 403 {
                        DeliveryError::permanent(KIND, what)
                    } else {
                        DeliveryError::retryable(KIND, what)
                    });
                }
            }
            if state.iter().all(|s| *s != Confirm::Pending) {
                break;
            }
        }
        let acked = state.iter().take_while(|s| **s == Confirm::Acked).count();
        if let Some((i, code, text)) = returned
            && i <= acked
        {
            return Err(DeliveryError::retryable(
                KIND,
                format!("message returned as unroutable: {code} {text}"),
            )
            .with_confirmed(i));
        }
        if acked < messages.len() {
            return Err(
                DeliveryError::retryable(KIND, "the broker nacked a message").with_confirmed(acked)
            );
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Confirm {
    Pending,
    Acked,
    Nacked,
}

/// Applies a `basic.ack`/`basic.nack` (one tag, or every tag up to it with `multiple`) to
/// the batch whose first message has tag `first`.
fn mark(state: &mut [Confirm], first: u64, tag: u64, multiple: bool, to: Confirm) {
    for (t, s) in (first..).zip(state.iter_mut()) {
        if (t == tag || (multiple && t <= tag)) && *s == Confirm::Pending {
            *s = to;
        }
    }
}

/// Sorts a failure to open the connection. RabbitMQ answers bad credentials by closing the
/// socket after `Connection.Start-Ok` (after a deliberate 3-second delay; amqprs does not
/// announce the `authentication_failure_close` capability that would get an explicit
/// ACCESS_REFUSED), so a connection the broker accepted and then reset or shut during the
/// handshake is taken as refused credentials or vhost: permanent. A refused, unreachable or
/// timed-out connection is retryable.
fn open_error(e: amqprs::error::Error) -> DeliveryError {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    let refused = lower.contains("access_refused")
        || lower.contains("not_allowed")
        || lower.contains("reset by peer")
        || lower.contains("peer shutdown");
    let what = if refused && !lower.contains("access_refused") {
        format!("connect: {text} (the broker closed the handshake: bad credentials or vhost?)")
    } else {
        format!("connect: {text}")
    };
    if refused && !lower.contains("connection refused") {
        DeliveryError::permanent(KIND, what).with_source(e)
    } else {
        DeliveryError::retryable(KIND, what).with_source(e)
    }
}

impl Target for AmqpTarget {
    fn kind(&self) -> TargetKind {
        KIND
    }

    async fn deliver(&self, messages: &[Message]) -> Result<(), DeliveryError> {
        if messages.is_empty() {
            return Ok(());
        }
        let mut slot = self.conn.lock().await;
        let mut conn = match slot.take() {
            Some(conn) if conn.channel.is_open() && conn.connection.is_open() => conn,
            _ => self.connect().await?,
        };
        let result = bounded(
            KIND,
            "publish",
            self.config.timeouts.confirm(),
            self.publish(&mut conn, messages),
        )
        .await;
        if result.is_ok() {
            *slot = Some(conn);
        } else {
            // A failed batch leaves confirms in flight on this channel: start afresh.
            tokio::spawn(async move {
                let _ = conn.connection.close().await;
            });
        }
        result
    }

    async fn check(&self) -> Result<(), DeliveryError> {
        let mut slot = self.conn.lock().await;
        let conn = match slot.take() {
            Some(conn) if conn.channel.is_open() && conn.connection.is_open() => conn,
            _ => self.connect().await?,
        };
        *slot = Some(conn);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str, exchange: &str) -> AmqpConfig {
        AmqpConfig {
            url: BrokerUrl::parse(url).unwrap(),
            exchange: exchange.to_owned(),
            routing_key: "k".to_owned(),
            mandatory: true,
            timeouts: Timeouts::default(),
        }
    }

    #[test]
    fn settings_are_checked() {
        let t = AmqpTarget::new(config("amqp://u:p%40ss@127.0.0.1:5673/%2f", "x")).unwrap();
        assert_eq!(t.args.get_virtual_host(), "/");
        assert_eq!(t.args.get_port(), 5673);
        let t = AmqpTarget::new(config("amqp://127.0.0.1", "")).unwrap();
        assert_eq!(t.args.get_virtual_host(), "/");
        let t = AmqpTarget::new(config("amqp://127.0.0.1/prod", "")).unwrap();
        assert_eq!(t.args.get_virtual_host(), "prod");
        assert!(AmqpTarget::new(config("amqps://127.0.0.1", "")).is_err());
        assert!(AmqpTarget::new(config("amqp://127.0.0.1", &"x".repeat(256))).is_err());
    }
}
