//! Object lock bodies and headers: the bucket's `ObjectLockConfiguration`, a version's
//! `Retention` and `LegalHold`, and the `x-amz-object-lock-*` headers of object writes.
//!
//! Documents are accepted as clients send them: with or without the S3 namespace, dates with
//! or without fractional seconds (and a `+00:00` offset for `Z`). Validation follows AWS:
//! `MalformedXML` for a document that does not fit the schema (unknown mode, `Days` and
//! `Years` together, a status other than `Enabled`), `InvalidRetentionPeriod` for a period that
//! is not a positive whole number. Whether a date lies in the future is the caller's to judge
//! (this crate reads no clock).

use std::time::SystemTime;

use crate::error::{ErrorCode, S3Error};
use crate::time::{format_iso8601, parse_iso8601};
use crate::xml::{Element, Writer, expect_root, malformed, parse_document};

/// Largest object lock request body accepted.
pub const MAX_LOCK_BODY: usize = 4 * 1024;
/// AWS's largest default retention in days (100 years).
const MAX_DAYS: u32 = 36_500;
/// AWS's largest default retention in years.
const MAX_YEARS: u32 = 100;

/// A retention mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionMode {
    /// `GOVERNANCE`.
    Governance,
    /// `COMPLIANCE`.
    Compliance,
}

impl RetentionMode {
    /// Parses S3's spelling; AWS is case-sensitive here.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "GOVERNANCE" => Some(Self::Governance),
            "COMPLIANCE" => Some(Self::Compliance),
            _ => None,
        }
    }

    /// S3's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Governance => "GOVERNANCE",
            Self::Compliance => "COMPLIANCE",
        }
    }
}

/// A default retention period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionPeriod {
    /// `Days`.
    Days(u32),
    /// `Years` (of 365 days each).
    Years(u32),
}

impl RetentionPeriod {
    /// The period in seconds.
    pub fn as_secs(self) -> u64 {
        match self {
            Self::Days(d) => u64::from(d) * 86_400,
            Self::Years(y) => u64::from(y) * 365 * 86_400,
        }
    }
}

/// A bucket's `ObjectLockConfiguration` (`ObjectLockEnabled` is always `Enabled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ObjectLockConfiguration {
    /// `Rule/DefaultRetention`, if any: what new versions get without lock headers.
    pub default_retention: Option<(RetentionMode, RetentionPeriod)>,
}

fn text_of(el: &Element) -> Result<&str, S3Error> {
    if el.children.is_empty() { Ok(el.text.trim()) } else { Err(malformed()) }
}

fn only(el: &Element, allowed: &[&str]) -> Result<(), S3Error> {
    if el.children.iter().all(|c| allowed.contains(&c.name.as_str())) {
        Ok(())
    } else {
        Err(malformed())
    }
}

fn period(text: &str, max: u32) -> Result<u32, S3Error> {
    let n: i64 = text.parse().map_err(|_| malformed())?;
    let n = u32::try_from(n).ok().filter(|n| (1..=max).contains(n));
    n.ok_or_else(|| S3Error::new(ErrorCode::InvalidRetentionPeriod))
}

/// Parses a PutObjectLockConfiguration body.
pub fn parse_object_lock_configuration(body: &[u8]) -> Result<ObjectLockConfiguration, S3Error> {
    let root = parse_document(body, MAX_LOCK_BODY)?;
    expect_root(&root, "ObjectLockConfiguration")?;
    only(&root, &["ObjectLockEnabled", "Rule"])?;
    let enabled = root.child("ObjectLockEnabled")?.ok_or_else(malformed)?;
    if text_of(enabled)? != "Enabled" {
        return Err(malformed());
    }
    let Some(rule) = root.child("Rule")? else {
        return Ok(ObjectLockConfiguration { default_retention: None });
    };
    only(rule, &["DefaultRetention"])?;
    let d = rule.child("DefaultRetention")?.ok_or_else(malformed)?;
    only(d, &["Mode", "Days", "Years"])?;
    let mode = d.child("Mode")?.ok_or_else(malformed)?;
    let mode = RetentionMode::parse(text_of(mode)?).ok_or_else(malformed)?;
    let period = match (d.child("Days")?, d.child("Years")?) {
        (Some(days), None) => RetentionPeriod::Days(period(text_of(days)?, MAX_DAYS)?),
        (None, Some(years)) => RetentionPeriod::Years(period(text_of(years)?, MAX_YEARS)?),
        _ => return Err(malformed()),
    };
    Ok(ObjectLockConfiguration { default_retention: Some((mode, period)) })
}

impl ObjectLockConfiguration {
    /// The GetObjectLockConfiguration body (also the stored form, read back with
    /// [`parse_object_lock_configuration`]).
    pub fn to_xml(&self) -> String {
        const ROOT: &str = "ObjectLockConfiguration";
        let mut w = Writer::new(ROOT);
        w.elem("ObjectLockEnabled", "Enabled");
        if let Some((mode, period)) = self.default_retention {
            w.open("Rule");
            w.open("DefaultRetention");
            w.elem("Mode", mode.as_str());
            match period {
                RetentionPeriod::Days(d) => w.num("Days", d),
                RetentionPeriod::Years(y) => w.num("Years", y),
            }
            w.close("DefaultRetention");
            w.close("Rule");
        }
        w.finish(ROOT)
    }
}

/// Parses an ISO 8601 date as clients send it: `Z` or `+00:00`, with or without a fraction.
pub fn parse_lock_date(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    match text.strip_suffix("+00:00") {
        Some(head) => parse_iso8601(&format!("{head}Z")),
        None => parse_iso8601(text),
    }
}

/// A version's retention as PutObjectRetention sends it: both parts, or neither (which removes
/// the retention).
pub fn parse_retention(body: &[u8]) -> Result<Option<(RetentionMode, SystemTime)>, S3Error> {
    let root = parse_document(body, MAX_LOCK_BODY)?;
    expect_root(&root, "Retention")?;
    only(&root, &["Mode", "RetainUntilDate"])?;
    match (root.child("Mode")?, root.child("RetainUntilDate")?) {
        (None, None) => Ok(None),
        (Some(mode), Some(date)) => {
            let mode = RetentionMode::parse(text_of(mode)?).ok_or_else(malformed)?;
            let date = parse_lock_date(text_of(date)?).ok_or_else(malformed)?;
            Ok(Some((mode, date)))
        }
        _ => Err(malformed()),
    }
}

/// The GetObjectRetention body.
pub fn retention_xml(mode: RetentionMode, until: SystemTime) -> String {
    let mut w = Writer::new("Retention");
    w.elem("Mode", mode.as_str());
    w.elem("RetainUntilDate", &format_iso8601(until));
    w.finish("Retention")
}

/// A PutObjectLegalHold body: `ON` is `true`.
pub fn parse_legal_hold(body: &[u8]) -> Result<bool, S3Error> {
    let root = parse_document(body, MAX_LOCK_BODY)?;
    expect_root(&root, "LegalHold")?;
    only(&root, &["Status"])?;
    match text_of(root.child("Status")?.ok_or_else(malformed)?)? {
        "ON" => Ok(true),
        "OFF" => Ok(false),
        _ => Err(malformed()),
    }
}

/// The GetObjectLegalHold body.
pub fn legal_hold_xml(on: bool) -> String {
    let mut w = Writer::new("LegalHold");
    w.elem("Status", if on { "ON" } else { "OFF" });
    w.finish("LegalHold")
}

/// The lock headers of an object write (`x-amz-object-lock-mode`, `-retain-until-date`,
/// `-legal-hold`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LockHeaders {
    /// Mode and retain-until date (AWS requires both or neither).
    pub retention: Option<(RetentionMode, SystemTime)>,
    /// Legal hold, if the header is present.
    pub legal_hold: Option<bool>,
}

impl LockHeaders {
    /// Whether any lock header was sent.
    pub fn is_empty(&self) -> bool {
        self.retention.is_none() && self.legal_hold.is_none()
    }
}

/// Reads the lock headers; AWS's `400 InvalidArgument` for a mode without a date (or the
/// reverse), an unknown mode or status, or a date that is not ISO 8601.
pub fn parse_lock_headers<'a>(
    get: impl Fn(&str) -> Option<&'a str>,
) -> Result<LockHeaders, S3Error> {
    let invalid = |msg: &str| S3Error::with_message(ErrorCode::InvalidArgument, msg);
    let mode = get("x-amz-object-lock-mode").map(str::trim);
    let date = get("x-amz-object-lock-retain-until-date").map(str::trim);
    let retention = match (mode, date) {
        (None, None) => None,
        (Some(m), Some(d)) => {
            let mode =
                RetentionMode::parse(m).ok_or_else(|| invalid("Unknown wormMode directive."))?;
            let date = parse_lock_date(d).ok_or_else(|| {
                invalid("The retain until date must be provided in ISO 8601 format")
            })?;
            Some((mode, date))
        }
        _ => {
            return Err(invalid(
                "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be \
                 supplied",
            ));
        }
    };
    let legal_hold = match get("x-amz-object-lock-legal-hold").map(str::trim) {
        None => None,
        Some("ON") => Some(true),
        Some("OFF") => Some(false),
        Some(_) => return Err(invalid("Legal Hold must be either of 'ON' or 'OFF'")),
    };
    Ok(LockHeaders { retention, legal_hold })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const NS: &str = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";

    fn config(inner: &str) -> Result<ObjectLockConfiguration, ErrorCode> {
        let doc = format!("<ObjectLockConfiguration {NS}>{inner}</ObjectLockConfiguration>");
        parse_object_lock_configuration(doc.as_bytes()).map_err(|e| e.code)
    }

    #[test]
    fn lock_configuration() {
        use RetentionMode::{Compliance, Governance};
        let rule = |mode: &str, periods: &str| {
            config(&format!(
                "<ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention>\
                 <Mode>{mode}</Mode>{periods}</DefaultRetention></Rule>"
            ))
        };
        let ok = |m, p| Ok(ObjectLockConfiguration { default_retention: Some((m, p)) });
        assert_eq!(rule("GOVERNANCE", "<Days>1</Days>"), ok(Governance, RetentionPeriod::Days(1)));
        assert_eq!(
            rule("COMPLIANCE", "<Years>100</Years>"),
            ok(Compliance, RetentionPeriod::Years(100))
        );
        assert_eq!(
            rule("GOVERNANCE", "<Days>1</Days><Years>1</Years>"),
            Err(ErrorCode::MalformedXML)
        );
        assert_eq!(rule("GOVERNANCE", ""), Err(ErrorCode::MalformedXML));
        assert_eq!(rule("governance", "<Days>1</Days>"), Err(ErrorCode::MalformedXML));
        assert_eq!(rule("abc", "<Days>1</Days>"), Err(ErrorCode::MalformedXML));
        assert_eq!(rule("GOVERNANCE", "<Days>0</Days>"), Err(ErrorCode::InvalidRetentionPeriod));
        assert_eq!(rule("GOVERNANCE", "<Years>-1</Years>"), Err(ErrorCode::InvalidRetentionPeriod));
        assert_eq!(
            rule("GOVERNANCE", "<Years>101</Years>"),
            Err(ErrorCode::InvalidRetentionPeriod)
        );
        assert_eq!(rule("GOVERNANCE", "<Days>x</Days>"), Err(ErrorCode::MalformedXML));
        assert_eq!(
            config("<ObjectLockEnabled>Enabled</ObjectLockEnabled>"),
            Ok(ObjectLockConfiguration::default())
        );
        assert_eq!(
            config("<ObjectLockEnabled>Disabled</ObjectLockEnabled>"),
            Err(ErrorCode::MalformedXML)
        );
        assert_eq!(config(""), Err(ErrorCode::MalformedXML));
        // Without the namespace, as some clients send it.
        let bare = b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>\
                     </ObjectLockConfiguration>";
        assert!(parse_object_lock_configuration(bare).is_ok());
        // The rendered form reads back.
        for c in [
            ObjectLockConfiguration::default(),
            ObjectLockConfiguration {
                default_retention: Some((Compliance, RetentionPeriod::Years(2))),
            },
            ObjectLockConfiguration {
                default_retention: Some((Governance, RetentionPeriod::Days(7))),
            },
        ] {
            assert_eq!(parse_object_lock_configuration(c.to_xml().as_bytes()).unwrap(), c);
        }
    }

    #[test]
    fn retention_and_legal_hold() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_hours(525_960); // 2030-01-01
        for date in
            ["2030-01-01T00:00:00Z", "2030-01-01T00:00:00.000Z", "2030-01-01T00:00:00+00:00"]
        {
            let doc = format!(
                "<Retention {NS}><Mode>GOVERNANCE</Mode><RetainUntilDate>{date}</RetainUntilDate>\
                 </Retention>"
            );
            assert_eq!(
                parse_retention(doc.as_bytes()).unwrap(),
                Some((RetentionMode::Governance, t)),
                "{date}"
            );
        }
        assert_eq!(parse_retention(b"<Retention/>").unwrap(), None);
        for bad in [
            "<Retention><Mode>governance</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate></Retention>",
            "<Retention><Mode>GOVERNANCE</Mode></Retention>",
            "<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>tomorrow</RetainUntilDate></Retention>",
            "<Other/>",
        ] {
            assert_eq!(parse_retention(bad.as_bytes()).unwrap_err().code, ErrorCode::MalformedXML);
        }
        let xml = retention_xml(RetentionMode::Compliance, t);
        assert!(xml.contains("<Mode>COMPLIANCE</Mode><RetainUntilDate>2030-01-01T00:00:00.000Z"));
        assert_eq!(parse_retention(xml.as_bytes()).unwrap(), Some((RetentionMode::Compliance, t)));
        assert!(parse_legal_hold(b"<LegalHold><Status>ON</Status></LegalHold>").unwrap());
        assert!(!parse_legal_hold(legal_hold_xml(false).as_bytes()).unwrap());
        let bad = parse_legal_hold(b"<LegalHold><Status>abc</Status></LegalHold>");
        assert_eq!(bad.unwrap_err().code, ErrorCode::MalformedXML);
    }

    #[test]
    fn headers() {
        let parse = |h: &[(&str, &str)]| {
            parse_lock_headers(|n| h.iter().find(|(k, _)| *k == n).map(|(_, v)| *v))
        };
        assert!(parse(&[]).unwrap().is_empty());
        let got = parse(&[
            ("x-amz-object-lock-mode", "COMPLIANCE"),
            ("x-amz-object-lock-retain-until-date", "2030-01-01T00:00:00Z"),
            ("x-amz-object-lock-legal-hold", "ON"),
        ])
        .unwrap();
        assert_eq!(got.retention.map(|r| r.0), Some(RetentionMode::Compliance));
        assert_eq!(got.legal_hold, Some(true));
        for bad in [
            &[("x-amz-object-lock-mode", "COMPLIANCE")][..],
            &[("x-amz-object-lock-retain-until-date", "2030-01-01T00:00:00Z")],
            &[
                ("x-amz-object-lock-mode", "X"),
                ("x-amz-object-lock-retain-until-date", "2030-01-01T00:00:00Z"),
            ],
            &[
                ("x-amz-object-lock-mode", "GOVERNANCE"),
                ("x-amz-object-lock-retain-until-date", "2030"),
            ],
            &[("x-amz-object-lock-legal-hold", "on")],
        ] {
            assert_eq!(parse(bad).unwrap_err().code, ErrorCode::InvalidArgument, "{bad:?}");
        }
    }
}
