//! The crate's two error types: [`ConfigError`] for what a client or an operator wrote (a
//! notification configuration, a target's settings), which the server maps to an S3 error
//! code, and [`DeliveryError`] for a delivery that a target did not confirm, which the
//! delivery loop acts on (retry or dead-letter) and which never reaches an S3 client.

use std::error::Error as StdError;
use std::fmt;

use crate::TargetKind;

/// A notification configuration or a target configuration that is refused.
///
/// The server renders each variant as the S3 error in its documentation; [`Self::aws_message`]
/// and [`Self::argument`] give the `<Message>` and the `<ArgumentName>`/`<ArgumentValue>` pair.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A destination ARN that does not parse, names no configured target, or names one of
    /// another kind. S3: 400 `InvalidArgument` "Unable to validate the following destination
    /// configurations".
    #[error("invalid destination {arn:?}: {reason}")]
    InvalidDestination {
        /// The ARN as given.
        arn: String,
        /// Why it was refused (for the argument value and the log).
        reason: &'static str,
    },
    /// An event type AWS does not know. S3: 400 `InvalidArgument` "The event is not supported
    /// for notifications".
    #[error("unknown event type {event:?}")]
    UnknownEvent {
        /// The event type as given.
        event: String,
    },
    /// An AWS event type the gateway never emits (restore, ACL, Intelligent-Tiering, RRS).
    /// S3: 501 `NotImplemented`.
    #[error("event type {event:?} is not emitted by this gateway")]
    UnsupportedEvent {
        /// The event type as given.
        event: String,
    },
    /// A filter rule whose name is neither `prefix` nor `suffix`. S3: 400 `InvalidArgument`
    /// "filter rule name must be either prefix or suffix".
    #[error("filter rule name {name:?} is neither prefix nor suffix")]
    InvalidFilterRuleName {
        /// The name as given.
        name: String,
    },
    /// Two prefix rules or two suffix rules in one filter. S3: 400 `InvalidArgument` "Cannot
    /// specify more than one prefix rule in a filter." (or suffix).
    #[error("more than one {which} rule in a filter")]
    DuplicateFilterRule {
        /// `prefix` or `suffix`.
        which: &'static str,
    },
    /// Two configurations share an event type with the same key filter. S3: 400
    /// `InvalidArgument` "Configurations overlap. Configurations on the same bucket cannot
    /// share a common event type."
    #[error("two configurations share event type {event} with the same filter")]
    OverlappingConfigurations {
        /// An event type both subscribe to (for the argument value).
        event: String,
    },
    /// Two configurations share an event type and their prefixes and suffixes overlap. S3:
    /// 400 `InvalidArgument` "Configuration is ambiguously defined. Cannot have overlapping
    /// suffixes in two rules if the prefixes are overlapping for the same event type."
    #[error("two configurations share event type {event} with overlapping filters")]
    AmbiguousConfigurations {
        /// An event type both subscribe to.
        event: String,
    },
    /// A target id that is empty, longer than 64 bytes, or has a character other than ASCII
    /// letters, digits, `-` and `_` (it is a component of the ARN). Operator configuration.
    #[error("invalid target id {id:?}")]
    InvalidTargetId {
        /// The id as given.
        id: String,
    },
    /// A target's settings that cannot work (bad URL, over-long name). Operator configuration.
    #[error("invalid {kind} target settings: {reason}")]
    InvalidTarget {
        /// The target's kind.
        kind: TargetKind,
        /// What is wrong.
        reason: String,
    },
}

impl ConfigError {
    /// AWS's `<Message>` for this error (for the operator-facing variants, the display text).
    pub fn aws_message(&self) -> String {
        match self {
            ConfigError::InvalidDestination { .. } => {
                "Unable to validate the following destination configurations".to_owned()
            }
            ConfigError::UnknownEvent { .. } => {
                "The event is not supported for notifications".to_owned()
            }
            ConfigError::UnsupportedEvent { event } => {
                format!("The event type {event} is not implemented by this gateway")
            }
            ConfigError::InvalidFilterRuleName { .. } => {
                "filter rule name must be either prefix or suffix".to_owned()
            }
            ConfigError::DuplicateFilterRule { which } => {
                format!("Cannot specify more than one {which} rule in a filter.")
            }
            ConfigError::OverlappingConfigurations { .. } => "Configurations overlap. \
                 Configurations on the same bucket cannot share a common event type."
                .to_owned(),
            ConfigError::AmbiguousConfigurations { .. } => "Configuration is ambiguously \
                 defined. Cannot have overlapping suffixes in two rules if the prefixes are \
                 overlapping for the same event type."
                .to_owned(),
            ConfigError::InvalidTargetId { .. } | ConfigError::InvalidTarget { .. } => {
                self.to_string()
            }
        }
    }

    /// The `<ArgumentName>`/`<ArgumentValue>` pair AWS adds to the error, if any.
    pub fn argument(&self) -> Option<(String, String)> {
        match self {
            // AWS names the destination and says what failed about it.
            ConfigError::InvalidDestination { arn, reason } => {
                Some((arn.clone(), (*reason).to_owned()))
            }
            ConfigError::UnknownEvent { event }
            | ConfigError::UnsupportedEvent { event }
            | ConfigError::OverlappingConfigurations { event }
            | ConfigError::AmbiguousConfigurations { event } => {
                Some(("Event".to_owned(), event.clone()))
            }
            ConfigError::InvalidFilterRuleName { name } => {
                Some(("FilterRule".to_owned(), name.clone()))
            }
            ConfigError::DuplicateFilterRule { which } => {
                Some(("FilterRule".to_owned(), (*which).to_owned()))
            }
            ConfigError::InvalidTargetId { .. } | ConfigError::InvalidTarget { .. } => None,
        }
    }
}

/// Whether retrying the same delivery later can succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryErrorKind {
    /// The target is unreachable, timed out, refused for now (nack, 5xx, 429, unroutable
    /// message): retry with backoff.
    Retryable,
    /// Retrying the same messages will fail the same way (bad credentials, 4xx, a message the
    /// target rejects as invalid): count it as dead-lettered and tell the operator.
    Permanent,
}

/// A delivery the target did not confirm.
///
/// `confirmed` is how many of the leading messages of the batch the target did confirm: the
/// caller may acknowledge those and must deliver the rest again (which may duplicate messages
/// the target received but whose confirmation was lost).
pub struct DeliveryError {
    target: TargetKind,
    kind: DeliveryErrorKind,
    confirmed: usize,
    what: String,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl DeliveryError {
    pub(crate) fn retryable(target: TargetKind, what: impl Into<String>) -> Self {
        Self {
            target,
            kind: DeliveryErrorKind::Retryable,
            confirmed: 0,
            what: what.into(),
            source: None,
        }
    }

    pub(crate) fn permanent(target: TargetKind, what: impl Into<String>) -> Self {
        Self { kind: DeliveryErrorKind::Permanent, ..Self::retryable(target, what) }
    }

    pub(crate) fn with_source(
        mut self,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    pub(crate) fn with_confirmed(mut self, confirmed: usize) -> Self {
        self.confirmed = confirmed;
        self
    }

    /// Retryable or permanent.
    pub fn kind(&self) -> DeliveryErrorKind {
        self.kind
    }

    /// Whether a later retry may succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind == DeliveryErrorKind::Retryable
    }

    /// How many leading messages of the batch the target confirmed before the failure.
    pub fn confirmed(&self) -> usize {
        self.confirmed
    }

    /// The kind of target that failed.
    pub fn target(&self) -> TargetKind {
        self.target
    }
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            DeliveryErrorKind::Retryable => "retryable",
            DeliveryErrorKind::Permanent => "permanent",
        };
        write!(f, "{} delivery failed ({kind}): {}", self.target, self.what)
    }
}

impl fmt::Debug for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryError")
            .field("target", &self.target)
            .field("kind", &self.kind)
            .field("confirmed", &self.confirmed)
            .field("what", &self.what)
            .field("source", &self.source)
            .finish()
    }
}

impl StdError for DeliveryError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn StdError + 'static))
    }
}
