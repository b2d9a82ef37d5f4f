//! S3 bucket notifications for s3gate: AWS's event record format, the event types and key
//! filters of a notification configuration, the ARN form of a target configured in the
//! gateway, and the targets that deliver event messages and say when the broker confirmed.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use s3gate_events::{EventName, EventPattern, EventRecord, Message, ObjectEvent, Sequencer};
//!
//! let created: EventPattern = "s3:ObjectCreated:*".parse().unwrap();
//! assert!(created.matches(EventName::ObjectCreatedCompleteMultipartUpload));
//!
//! let event = ObjectEvent {
//!     name: EventName::ObjectCreatedPut,
//!     region: "us-east-1".into(),
//!     time: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
//!     principal_id: "alice".into(),
//!     source_ip: "127.0.0.1".into(),
//!     request_id: "0123456789ABCDEF".into(),
//!     host_id: "gw1".into(),
//!     bucket: "photos".into(),
//!     bucket_owner: "alice".into(),
//!     key: "2024/red flower.jpg".into(),
//!     size: Some(1024),
//!     etag: Some("\"d41d8cd98f00b204e9800998ecf8427e\"".into()),
//!     version_id: None,
//!     sequencer: Sequencer::from_u64(42),
//! };
//! let record = EventRecord::new(&event, "uploads");
//! assert_eq!(record.event_time, "2023-11-14T22:13:20.123Z");
//! assert_eq!(record.s3.object.key, "2024/red+flower.jpg");
//! let message = Message::record(&record);
//! assert!(message.body().starts_with(br#"{"Records":[{"eventVersion":"2.1""#));
//! ```
//!
//! Principal types: [`EventRecord`] (with [`Envelope`] and [`TestEvent`]), [`EventName`] and
//! [`EventPattern`], [`KeyFilter`] and [`NotificationRule`] with [`check_rules`],
//! [`TargetArn`], the [`Target`] trait with [`AnyTarget`] built from a [`TargetConfig`], and
//! the two errors [`ConfigError`] (mapped to S3 codes by the server) and [`DeliveryError`]
//! (retryable or permanent, never shown to an S3 client).
//!
//! Each target is a cargo feature (all on by default): `webhook` (hyper + rustls), `nats`
//! (async-nats, JetStream), `amqp` (amqprs, publisher confirms), `redis` and `mqtt` (small
//! clients of their own for the one command / the QoS 1 publish they need).
//!
//! What it deliberately does not do: read configuration files or the environment (the
//! binary does), keep the outbox, retry or back off (the delivery loop does, from
//! [`DeliveryError::is_retryable`] and [`DeliveryError::confirmed`]), or decide S3 error
//! codes (the server does, from [`ConfigError`]).

#![cfg_attr(
    not(all(
        feature = "webhook",
        feature = "nats",
        feature = "amqp",
        feature = "redis",
        feature = "mqtt"
    )),
    allow(dead_code, unused_variables)
)]

mod arn;
mod error;
mod filter;
mod name;
mod record;
pub mod target;

pub use arn::{ArnService, TargetArn, TargetId, TargetKind};
pub use error::{ConfigError, DeliveryError, DeliveryErrorKind};
pub use filter::{KeyFilter, NotificationRule, check_rules};
pub use name::{ALL_EVENT_NAMES, EventFamily, EventName, EventPattern};
pub use record::{
    BucketEntity, Envelope, EventRecord, ObjectEntity, ObjectEvent, RequestParameters,
    ResponseElements, S3Entity, Sequencer, TestEvent, UserIdentity, encode_key, format_event_time,
};
pub use target::{AnyTarget, BrokerUrl, Message, Secret, Target, TargetConfig, Timeouts};
