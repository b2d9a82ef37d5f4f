//! The AMQP target against the machine's RabbitMQ, read back with amqprs's `basic.get`.

use amqprs::channel::{
    BasicGetArguments, Channel, ExchangeDeclareArguments, ExchangeDeleteArguments,
    QueueBindArguments, QueueDeclareArguments, QueueDeleteArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use s3gate_events::{AnyTarget, DeliveryErrorKind, Message, Target, TargetConfig};

use crate::common::{Proxy, broker, closed_port, host_port, messages, unique, with_port};

const VAR: &str = "S3GATE_TEST_AMQP_URL";

/// The connect bound is above RabbitMQ's 3-second delay before it drops a connection with
/// bad credentials.
fn target(url: &str, exchange: &str, routing_key: &str) -> AnyTarget {
    let toml = format!(
        "kind = \"amqp\"\nurl = \"{url}\"\nexchange = \"{exchange}\"\nrouting_key = \"{routing_key}\"\ntimeouts = {{ connect_ms = 8000, confirm_ms = 3000 }}"
    );
    AnyTarget::new(toml::from_str::<TargetConfig>(&toml).unwrap()).unwrap()
}

/// An exchange and a durable queue bound to it with routing key "events", for one test.
struct Fixture {
    connection: Connection,
    channel: Channel,
    exchange: String,
    queue: String,
}

impl Fixture {
    async fn new(url: &str) -> Fixture {
        let u = url::Url::parse(url).unwrap();
        let (host, port) = host_port(url, 5672);
        let args = OpenConnectionArguments::new(
            &host,
            port,
            u.username(),
            u.password().unwrap_or("guest"),
        )
        .virtual_host("/")
        .finish();
        let connection = Connection::open(&args).await.unwrap();
        let channel = connection.open_channel(None).await.unwrap();
        let exchange = unique("s3gate-test-x");
        let queue = unique("s3gate-test-q");
        channel
            .exchange_declare(
                ExchangeDeclareArguments::new(&exchange, "direct").durable(true).finish(),
            )
            .await
            .unwrap();
        channel.queue_declare(QueueDeclareArguments::durable_client_named(&queue)).await.unwrap();
        channel.queue_bind(QueueBindArguments::new(&queue, &exchange, "events")).await.unwrap();
        Fixture { connection, channel, exchange, queue }
    }

    /// Every message in the queue: (message_id, delivery mode, body).
    async fn drain(&self) -> Vec<(String, u8, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some((_, properties, body)) = self
            .channel
            .basic_get(BasicGetArguments::new(&self.queue).no_ack(true).finish())
            .await
            .unwrap()
        {
            out.push((
                properties.message_id().cloned().unwrap_or_default(),
                properties.delivery_mode().unwrap_or(0),
                body,
            ));
        }
        out
    }

    async fn remove(self) {
        self.channel.queue_delete(QueueDeleteArguments::new(&self.queue)).await.unwrap();
        self.channel.exchange_delete(ExchangeDeleteArguments::new(&self.exchange)).await.unwrap();
        let _ = self.connection.close().await;
    }
}

fn expect(batch: &[Message]) -> Vec<(String, u8, Vec<u8>)> {
    batch.iter().map(|m| (m.id().to_owned(), 2, m.body().to_vec())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_persistent_confirmed_messages_and_reconnects() {
    let Some(url) = broker(VAR, "amqp delivery") else { return };
    let f = Fixture::new(&url).await;
    let proxy = Proxy::start(host_port(&url, 5672)).await;
    let t = target(&with_port(&url, proxy.port), &f.exchange, "events");
    let first = messages(3);
    t.deliver(&first).await.unwrap();
    t.check().await.unwrap();
    assert_eq!(f.drain().await, expect(&first));

    proxy.cut().await;
    // The loss may be noticed by the delivery after the cut; the next one reconnects.
    let second = messages(2);
    if let Err(e) = t.deliver(&second).await {
        assert!(e.is_retryable(), "{e}");
        let _ = f.drain().await;
        t.deliver(&second).await.unwrap();
    }
    assert!(proxy.accepted() >= 2);
    assert_eq!(f.drain().await, expect(&second));
    f.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unroutable_message_is_returned_and_retryable() {
    let Some(url) = broker(VAR, "amqp unroutable") else { return };
    let f = Fixture::new(&url).await;
    let t = target(&url, &f.exchange, "nobody-is-bound-to-this");
    let err = t.deliver(&messages(2)).await.unwrap_err();
    assert_eq!(err.kind(), DeliveryErrorKind::Retryable, "{err}");
    assert_eq!(err.confirmed(), 0);
    assert!(f.drain().await.is_empty());
    f.remove().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_exchange_closes_the_channel_and_is_retryable() {
    let Some(url) = broker(VAR, "amqp missing exchange") else { return };
    let t = target(&url, &unique("s3gate-test-no-such-exchange"), "events");
    let err = t.deliver(&messages(1)).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_permanent() {
    let Some(url) = broker(VAR, "amqp credentials") else { return };
    let (host, port) = host_port(&url, 5672);
    let bad = format!("amqp://s3gate-no-such-user:wrong@{host}:{port}/%2f");
    let err = target(&bad, "", "q").deliver(&messages(1)).await.unwrap_err();
    assert_eq!(err.kind(), DeliveryErrorKind::Permanent, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_retryable() {
    let t = target(&format!("amqp://guest:guest@127.0.0.1:{}/%2f", closed_port()), "", "q");
    let err = t.deliver(&messages(1)).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(t.check().await.unwrap_err().is_retryable());
}
