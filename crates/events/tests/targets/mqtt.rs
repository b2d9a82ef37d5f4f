//! The MQTT target against the machine's Mosquitto, read back with `mosquitto_sub`.

use std::process::Command;

use s3gate_events::{AnyTarget, DeliveryErrorKind, Message, Target, TargetConfig};

use crate::common::{Proxy, broker, closed_port, host_port, messages, unique, with_port};

const VAR: &str = "S3GATE_TEST_MQTT_URL";

fn target(url: &str, topic: &str, extra: &str) -> AnyTarget {
    let toml = format!(
        "kind = \"mqtt\"\nurl = \"{url}\"\ntopic = \"{topic}\"\nclient_id = \"{}\"\n{extra}",
        unique("s3gate-pub")
    );
    AnyTarget::new(toml::from_str::<TargetConfig>(&toml).unwrap()).unwrap()
}

/// A persistent QoS 1 subscription made with `mosquitto_sub` before anything is published,
/// so the broker queues every message for it; `read` collects them afterwards.
struct Subscriber {
    host: String,
    port: u16,
    id: String,
    topic: String,
    version: &'static str,
}

impl Subscriber {
    fn new(url: &str, topic: &str, version: &'static str) -> Subscriber {
        let (host, port) = host_port(url, 1883);
        let s =
            Subscriber { host, port, id: unique("s3gate-sub"), topic: topic.to_owned(), version };
        // -c: persistent session; -E: exit once subscribed.
        s.run(&["-c", "-E"]);
        s
    }

    fn run(&self, extra: &[&str]) -> Vec<String> {
        let port = self.port.to_string();
        let out = Command::new("mosquitto_sub")
            .args(["-h", &self.host, "-p", &port, "-i", &self.id, "-t", &self.topic, "-q", "1"])
            .args(["-V", self.version])
            .args(extra)
            .output()
            .expect("mosquitto_sub runs");
        assert!(out.status.success(), "mosquitto_sub: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
    }

    /// The next `n` queued messages (waits up to 10 s for them).
    fn read(&self, n: usize) -> Vec<String> {
        self.run(&["-c", "-C", &n.to_string(), "-W", "10"])
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        // A clean session with the same id discards the persistent one.
        let _ = self.run(&["-E"]);
    }
}

fn bodies(batch: &[Message]) -> Vec<String> {
    batch.iter().map(|m| String::from_utf8(m.body().to_vec()).unwrap()).collect()
}

async fn publishes_and_reconnects(version: &'static str, config_version: &str) {
    let Some(url) = broker(VAR, "mqtt delivery") else { return };
    let topic = format!("s3gate/test/{}", unique("t"));
    let sub = Subscriber::new(&url, &topic, version);
    let proxy = Proxy::start(host_port(&url, 1883)).await;
    let t =
        target(&with_port(&url, proxy.port), &topic, &format!("version = \"{config_version}\""));
    let first = messages(3);
    t.deliver(&first).await.unwrap();
    proxy.cut().await;
    let second = messages(2);
    t.deliver(&second).await.unwrap();
    assert_eq!(proxy.accepted(), 2, "one new connection after the cut");
    t.check().await.unwrap();
    let mut expected = bodies(&first);
    expected.extend(bodies(&second));
    assert_eq!(sub.read(5), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_with_mqtt_3_1_1() {
    publishes_and_reconnects("mqttv311", "3.1.1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_with_mqtt_5() {
    publishes_and_reconnects("mqttv5", "5").await;
}

/// A batch larger than the in-flight window (20 for 3.1.1, the broker's Receive Maximum on
/// 5) arrives whole and in order. (The window itself is tested against a broker that
/// enforces it, in the module's unit tests: Mosquitto does not.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_batch_arrives_whole_and_in_order() {
    let Some(url) = broker(VAR, "mqtt large batch") else { return };
    for (version, config_version) in [("mqttv5", "5"), ("mqttv311", "3.1.1")] {
        let topic = format!("s3gate/test/{}", unique("w"));
        let sub = Subscriber::new(&url, &topic, version);
        let t = target(&url, &topic, &format!("version = \"{config_version}\""));
        let batch = messages(60);
        t.deliver(&batch).await.unwrap();
        assert_eq!(sub.read(60), bodies(&batch), "{version}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_retryable() {
    let url = format!("mqtt://127.0.0.1:{}", closed_port());
    let t = target(&url, "t", "");
    let err = t.deliver(&messages(1)).await.unwrap_err();
    assert_eq!(err.kind(), DeliveryErrorKind::Retryable, "{err}");
    assert!(t.check().await.unwrap_err().is_retryable());
}

#[test]
fn wildcard_topics_are_refused() {
    for topic in ["a/+/b", "a/#", ""] {
        let toml = format!(
            "kind = \"mqtt\"\nurl = \"mqtt://127.0.0.1\"\ntopic = \"{topic}\"\nclient_id = \"c\""
        );
        assert!(AnyTarget::new(toml::from_str::<TargetConfig>(&toml).unwrap()).is_err(), "{topic}");
    }
}
