//! The ARN of a notification target configured in the gateway:
//! `arn:s3gate:<sqs|sns|lambda>:<region>:<target-id>:<kind>`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// The kind of a notification target (the last component of its ARN).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// HTTP(S) POST.
    Webhook,
    /// NATS JetStream.
    Nats,
    /// AMQP 0-9-1 (RabbitMQ).
    Amqp,
    /// Redis Streams.
    Redis,
    /// MQTT 3.1.1 or 5.
    Mqtt,
}

impl TargetKind {
    /// The name in an ARN and in the configuration (`webhook`, `nats`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Webhook => "webhook",
            TargetKind::Nats => "nats",
            TargetKind::Amqp => "amqp",
            TargetKind::Redis => "redis",
            TargetKind::Mqtt => "mqtt",
        }
    }

    fn parse(s: &str) -> Option<TargetKind> {
        [
            TargetKind::Webhook,
            TargetKind::Nats,
            TargetKind::Amqp,
            TargetKind::Redis,
            TargetKind::Mqtt,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The AWS service an ARN pretends to be, which decides the configuration element it may
/// appear in: `sqs` in a `QueueConfiguration`, `sns` in a `TopicConfiguration`, `lambda` in a
/// `CloudFunctionConfiguration`. Any target kind may stand behind any of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArnService {
    /// `QueueArn`.
    Sqs,
    /// `TopicArn`.
    Sns,
    /// `CloudFunction` / `LambdaFunctionArn`.
    Lambda,
}

impl ArnService {
    /// `sqs`, `sns` or `lambda`.
    pub fn as_str(self) -> &'static str {
        match self {
            ArnService::Sqs => "sqs",
            ArnService::Sns => "sns",
            ArnService::Lambda => "lambda",
        }
    }
}

/// A validated target id: 1..=64 ASCII letters, digits, `-` or `_`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetId(String);

impl TargetId {
    /// Validates `id`.
    pub fn new(id: &str) -> Result<TargetId, ConfigError> {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(TargetId(id.to_owned()))
        } else {
            Err(ConfigError::InvalidTargetId { id: id.to_owned() })
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed `arn:s3gate:<service>:<region>:<target-id>:<kind>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TargetArn {
    /// `sqs`, `sns` or `lambda`.
    pub service: ArnService,
    /// The gateway's region (checked against it by [`TargetArn::validate`]).
    pub region: String,
    /// The target's id in the gateway's configuration.
    pub target_id: TargetId,
    /// The target's kind.
    pub kind: TargetKind,
}

impl TargetArn {
    /// Parses `arn` and checks it against the gateway: the service must be the one of the
    /// configuration element it appears in, the region the gateway's, and `lookup(id)` must
    /// name a configured target of the ARN's kind. Every failure is
    /// [`ConfigError::InvalidDestination`], AWS's answer for a destination it cannot validate.
    pub fn validate(
        arn: &str,
        service: ArnService,
        region: &str,
        lookup: impl FnOnce(&TargetId) -> Option<TargetKind>,
    ) -> Result<TargetArn, ConfigError> {
        let invalid = |reason| ConfigError::InvalidDestination { arn: arn.to_owned(), reason };
        let parsed: TargetArn = arn.parse()?;
        if parsed.service != service {
            return Err(invalid("The ARN's service does not match its configuration element"));
        }
        if parsed.region != region {
            return Err(invalid("The ARN's region is not this gateway's region"));
        }
        match lookup(&parsed.target_id) {
            None => Err(invalid("No target with this id is configured in the gateway")),
            Some(kind) if kind != parsed.kind => {
                Err(invalid("The target with this id is of another kind"))
            }
            Some(_) => Ok(parsed),
        }
    }
}

impl FromStr for TargetArn {
    type Err = ConfigError;

    fn from_str(arn: &str) -> Result<Self, Self::Err> {
        let invalid = || ConfigError::InvalidDestination {
            arn: arn.to_owned(),
            reason: "The destination ARN is not a valid arn:s3gate ARN",
        };
        let parts: Vec<&str> = arn.split(':').collect();
        let [prefix, partition, service, region, target_id, kind] = parts[..] else {
            return Err(invalid());
        };
        if prefix != "arn" || partition != "s3gate" {
            return Err(invalid());
        }
        let service = match service {
            "sqs" => ArnService::Sqs,
            "sns" => ArnService::Sns,
            "lambda" => ArnService::Lambda,
            _ => return Err(invalid()),
        };
        let region_ok = !region.is_empty()
            && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return Err(invalid());
        }
        let target_id = TargetId::new(target_id).map_err(|_| invalid())?;
        let kind = TargetKind::parse(kind).ok_or_else(invalid)?;
        Ok(TargetArn { service, region: region.to_owned(), target_id, kind })
    }
}

impl fmt::Display for TargetArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:s3gate:{}:{}:{}:{}",
            self.service.as_str(),
            self.region,
            self.target_id,
            self.kind
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(arn: &str, expected: Option<(ArnService, &str, &str, TargetKind)>) {
        let got = arn.parse::<TargetArn>();
        match (got, expected) {
            (Ok(parsed), Some((service, region, id, kind))) => {
                assert_eq!(parsed.service, service, "{arn}");
                assert_eq!(parsed.region, region, "{arn}");
                assert_eq!(parsed.target_id.as_str(), id, "{arn}");
                assert_eq!(parsed.kind, kind, "{arn}");
                assert_eq!(parsed.to_string(), arn, "round trip");
            }
            (Err(ConfigError::InvalidDestination { arn: a, .. }), None) => assert_eq!(a, arn),
            (got, expected) => panic!("{arn}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn parses_and_formats() {
        use ArnService::*;
        use TargetKind::*;
        check(
            "arn:s3gate:sqs:us-east-1:orders:webhook",
            Some((Sqs, "us-east-1", "orders", Webhook)),
        );
        check("arn:s3gate:sns:eu-west-3:a_b-9:nats", Some((Sns, "eu-west-3", "a_b-9", Nats)));
        check("arn:s3gate:lambda:local:q:amqp", Some((Lambda, "local", "q", Amqp)));
        check("arn:s3gate:sqs:r:x:redis", Some((Sqs, "r", "x", Redis)));
        check("arn:s3gate:sqs:r:x:mqtt", Some((Sqs, "r", "x", Mqtt)));
        for bad in [
            "",
            "arn:aws:sqs:us-east-1:123456789012:queue",
            "arn:s3gate:sqs:us-east-1:orders",
            "arn:s3gate:sqs:us-east-1:orders:webhook:extra",
            "arn:s3gate:sqs:us-east-1:orders:kafka",
            "arn:s3gate:s3:us-east-1:orders:webhook",
            "arn:s3gate:sqs::orders:webhook",
            "arn:s3gate:sqs:US-EAST-1:orders:webhook",
            "arn:s3gate:sqs:us-east-1::webhook",
            "arn:s3gate:sqs:us-east-1:or ders:webhook",
            "ARN:s3gate:sqs:us-east-1:orders:webhook",
        ] {
            check(bad, None);
        }
        let long = format!("arn:s3gate:sqs:r:{}:webhook", "a".repeat(65));
        check(&long, None);
    }

    #[test]
    fn validate_checks_service_region_and_the_configured_target() {
        let arn = "arn:s3gate:sqs:us-east-1:orders:webhook";
        let known = |id: &TargetId| (id.as_str() == "orders").then_some(TargetKind::Webhook);
        assert!(TargetArn::validate(arn, ArnService::Sqs, "us-east-1", known).is_ok());
        for (service, region, lookup_kind) in [
            (ArnService::Sns, "us-east-1", Some(TargetKind::Webhook)),
            (ArnService::Sqs, "eu-west-1", Some(TargetKind::Webhook)),
            (ArnService::Sqs, "us-east-1", None),
            (ArnService::Sqs, "us-east-1", Some(TargetKind::Nats)),
        ] {
            let err = TargetArn::validate(arn, service, region, |_| lookup_kind).unwrap_err();
            assert!(matches!(err, ConfigError::InvalidDestination { .. }), "{err:?}");
            assert_eq!(
                err.aws_message(),
                "Unable to validate the following destination configurations"
            );
            assert_eq!(err.argument().unwrap().0, arn);
        }
    }
}
