//! Each target against the real service on this machine (or, for the webhook, an HTTP
//! server in the test): messages are delivered, read back with the broker's own client or
//! CLI and compared; failures are provoked with closed ports, refused credentials,
//! unroutable messages and connections cut by a proxy, never by stopping a shared broker.
//!
//! A broker test runs when its variable is set (`.ci/run` sets them all) and prints that it
//! skips otherwise: S3GATE_TEST_NATS_URL, S3GATE_TEST_AMQP_URL, S3GATE_TEST_REDIS_URL,
//! S3GATE_TEST_MQTT_URL.

// clippy.toml allows unwrap in #[test] functions only; the helpers here are test code too.
#![allow(clippy::unwrap_used)]

mod common;

mod amqp;
mod mqtt;
mod nats;
mod redis;
mod webhook;
