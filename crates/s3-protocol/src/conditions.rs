//! Conditional request headers (RFC 7232 order with S3's tie-breaks).

use std::time::SystemTime;

use crate::error::{ErrorCode, S3Error};
use crate::names::ETag;
use crate::time::{parse_http_date, to_unix_seconds};

/// The four conditional headers of a read (or of a copy source).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preconditions {
    /// `If-Match`: an ETag list or `*`.
    pub if_match: Option<String>,
    /// `If-None-Match`: an ETag list or `*`.
    pub if_none_match: Option<String>,
    /// `If-Modified-Since`.
    pub if_modified_since: Option<SystemTime>,
    /// `If-Unmodified-Since`.
    pub if_unmodified_since: Option<SystemTime>,
}

/// What a request should do after its preconditions were evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionOutcome {
    /// Serve the request.
    Proceed,
    /// Answer 304 Not Modified (no body).
    NotModified,
    /// Answer 412 `PreconditionFailed`.
    PreconditionFailed,
}

impl Preconditions {
    /// Reads `if-match`, `if-none-match`, `if-modified-since`, `if-unmodified-since`
    /// through `get` (called with lowercase names). Unparsable dates are ignored.
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Self {
        Self::read(get, "")
    }

    /// Reads the `x-amz-copy-source-if-*` headers of CopyObject/UploadPartCopy.
    pub fn from_copy_source_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Self {
        Self::read(get, "x-amz-copy-source-")
    }

    /// Reads the `x-amz-rename-source-if-*` headers of RenameObject.
    pub fn from_rename_source_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Self {
        Self::read(get, "x-amz-rename-source-")
    }

    fn read<'a>(get: impl Fn(&str) -> Option<&'a str>, prefix: &str) -> Self {
        // An empty header value is treated as absent, as if the client had not sent it.
        let text = |name: &str| {
            get(&format!("{prefix}{name}"))
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let date = |name: &str| get(&format!("{prefix}{name}")).and_then(parse_http_date);
        Self {
            if_match: text("if-match"),
            if_none_match: text("if-none-match"),
            if_modified_since: date("if-modified-since"),
            if_unmodified_since: date("if-unmodified-since"),
        }
    }

    /// Whether no condition is present.
    pub fn is_empty(&self) -> bool {
        self.if_match.is_none()
            && self.if_none_match.is_none()
            && self.if_modified_since.is_none()
            && self.if_unmodified_since.is_none()
    }

    /// Evaluates against an existing object, for GET/HEAD.
    ///
    /// Order: If-Match (412), else If-Unmodified-Since (412); then If-None-Match
    /// (304), else If-Modified-Since (304). So If-Match true + If-Unmodified-Since
    /// false proceeds, and If-None-Match false + If-Modified-Since true is 304, the
    /// two tie-breaks S3 documents. Dates compare at whole seconds.
    pub fn evaluate(&self, etag: &ETag, last_modified: SystemTime) -> ConditionOutcome {
        let modified = to_unix_seconds(last_modified);
        if let Some(list) = &self.if_match {
            if !etag.matches_list(list) {
                return ConditionOutcome::PreconditionFailed;
            }
        } else if let Some(since) = self.if_unmodified_since
            && modified > to_unix_seconds(since)
        {
            return ConditionOutcome::PreconditionFailed;
        }
        if let Some(list) = &self.if_none_match {
            if etag.matches_list(list) {
                return ConditionOutcome::NotModified;
            }
        } else if let Some(since) = self.if_modified_since
            && modified <= to_unix_seconds(since)
        {
            return ConditionOutcome::NotModified;
        }
        ConditionOutcome::Proceed
    }

    /// Evaluates the conditional-write headers of PutObject, CompleteMultipartUpload
    /// and CopyObject (destination) against the current object, if any.
    ///
    /// `If-None-Match: *` fails with 412 when the key exists; any other
    /// `If-None-Match` value is `NotImplemented` (S3 accepts only `*` on writes).
    /// `If-Match` fails with 412 on an ETag mismatch and `NoSuchKey` (404) when the
    /// key does not exist. Date conditions are ignored, as S3 does on writes.
    pub fn check_write(&self, current: Option<&ETag>) -> Result<(), S3Error> {
        if let Some(list) = &self.if_none_match {
            if list.trim() != "*" {
                return Err(S3Error::with_message(
                    ErrorCode::NotImplemented,
                    "If-None-Match on writes only supports '*'.",
                )
                .with_extra("Header", "If-None-Match"));
            }
            if current.is_some() {
                return Err(S3Error::new(ErrorCode::PreconditionFailed)
                    .with_extra("Condition", "If-None-Match"));
            }
        }
        if let Some(list) = &self.if_match {
            match current {
                None => return Err(S3Error::new(ErrorCode::NoSuchKey)),
                Some(etag) if !etag.matches_list(list) => {
                    return Err(S3Error::new(ErrorCode::PreconditionFailed)
                        .with_extra("Condition", "If-Match"));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// The header that decided a failed evaluation, as S3 names it in `<Condition>`: If-Match
    /// or If-Unmodified-Since for a 412, If-None-Match or If-Modified-Since for a 304; `None`
    /// when [`Self::evaluate`] proceeds.
    pub fn failed_header(&self, etag: &ETag, last_modified: SystemTime) -> Option<&'static str> {
        match self.evaluate(etag, last_modified) {
            ConditionOutcome::Proceed => None,
            ConditionOutcome::PreconditionFailed if self.if_match.is_some() => Some("If-Match"),
            ConditionOutcome::PreconditionFailed => Some("If-Unmodified-Since"),
            ConditionOutcome::NotModified if self.if_none_match.is_some() => Some("If-None-Match"),
            ConditionOutcome::NotModified => Some("If-Modified-Since"),
        }
    }

    /// The 412 `PreconditionFailed` of a failed evaluation, with `<Condition>` naming the
    /// header (`x-amz-copy-source-`-prefixed for a copy source), as S3 answers it.
    pub fn failure(&self, etag: &ETag, last_modified: SystemTime, copy_source: bool) -> S3Error {
        let header = self.failed_header(etag, last_modified).unwrap_or("If-Match");
        let condition =
            if copy_source { format!("x-amz-copy-source-{header}") } else { header.to_owned() };
        S3Error::new(ErrorCode::PreconditionFailed).with_extra("Condition", condition)
    }

    /// Evaluates copy-source conditions: same order, but every failure is 412.
    pub fn evaluate_copy_source(&self, etag: &ETag, last_modified: SystemTime) -> ConditionOutcome {
        match self.evaluate(etag, last_modified) {
            ConditionOutcome::Proceed => ConditionOutcome::Proceed,
            ConditionOutcome::NotModified | ConditionOutcome::PreconditionFailed => {
                ConditionOutcome::PreconditionFailed
            }
        }
    }
}

/// The conditions of a conditional delete (AWS, 2025): `If-Match`, `x-amz-if-match-size` and
/// `x-amz-if-match-last-modified-time` on DeleteObject; `ETag`, `Size` and `LastModifiedTime`
/// in a DeleteObjects `<Object>`. Compare-and-swap for Terraform state locks, Iceberg, S3A.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteConditions {
    /// The ETag the current version must have (quotes optional, `*` for any).
    pub if_match: Option<String>,
    /// The size the current version must have.
    pub size: Option<u64>,
    /// The Last-Modified the current version must have (compared at whole seconds).
    pub last_modified: Option<SystemTime>,
}

impl DeleteConditions {
    /// Reads the DeleteObject headers through `get` (lowercase names); a size or time that
    /// does not parse is `InvalidArgument`.
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, S3Error> {
        let text = |name: &str| get(name).map(str::trim).filter(|v| !v.is_empty());
        let size = match text("x-amz-if-match-size") {
            None => None,
            Some(v) => Some(v.parse::<u64>().map_err(|_| {
                S3Error::with_message(
                    ErrorCode::InvalidArgument,
                    "x-amz-if-match-size must be a non-negative integer",
                )
            })?),
        };
        let last_modified = match text("x-amz-if-match-last-modified-time") {
            None => None,
            Some(v) => Some(
                parse_http_date(v).or_else(|| crate::time::parse_iso8601(v)).ok_or_else(|| {
                    S3Error::with_message(
                        ErrorCode::InvalidArgument,
                        "x-amz-if-match-last-modified-time must be an HTTP date",
                    )
                })?,
            ),
        };
        Ok(Self { if_match: text("if-match").map(str::to_owned), size, last_modified })
    }

    /// Whether no condition is present.
    pub fn is_empty(&self) -> bool {
        self.if_match.is_none() && self.size.is_none() && self.last_modified.is_none()
    }

    /// Checks the current version (`etag`, `size`, `last_modified`; `None` when the key has
    /// none): `NoSuchKey` if it is absent, else 412 `PreconditionFailed` naming the first
    /// condition that does not hold.
    pub fn check(&self, current: Option<(&ETag, u64, SystemTime)>) -> Result<(), S3Error> {
        if self.is_empty() {
            return Ok(());
        }
        let Some((etag, size, last_modified)) = current else {
            return Err(S3Error::new(ErrorCode::NoSuchKey));
        };
        let failed = |condition: &str| {
            S3Error::new(ErrorCode::PreconditionFailed).with_extra("Condition", condition)
        };
        if let Some(list) = &self.if_match
            && !etag.matches_list(list)
        {
            return Err(failed("If-Match"));
        }
        if self.size.is_some_and(|s| s != size) {
            return Err(failed("x-amz-if-match-size"));
        }
        if self.last_modified.is_some_and(|t| to_unix_seconds(t) != to_unix_seconds(last_modified))
        {
            return Err(failed("x-amz-if-match-last-modified-time"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn delete_conditions() {
        let lm = UNIX_EPOCH + Duration::from_millis(LM * 1000 + 300);
        let etag = ETag::parse_quoted_or_not("abc");
        let check = |headers: &[(&str, &str)], want: Result<(), Option<&str>>| {
            let get = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
            let c = DeleteConditions::from_headers(get).unwrap();
            let got = c.check(Some((&etag, 7, lm))).map_err(|e| {
                assert_eq!(e.code, ErrorCode::PreconditionFailed);
                e.extra.first().map(|(_, v)| v.clone())
            });
            assert_eq!(got, want.map_err(|c| c.map(str::to_owned)), "{headers:?}");
        };
        check(&[], Ok(()));
        check(&[("if-match", "\"abc\"")], Ok(()));
        check(&[("if-match", "abc"), ("x-amz-if-match-size", "7")], Ok(()));
        check(&[("x-amz-if-match-last-modified-time", AT)], Ok(()));
        check(&[("if-match", "\"x\"")], Err(Some("If-Match")));
        check(&[("x-amz-if-match-size", "8")], Err(Some("x-amz-if-match-size")));
        check(
            &[("x-amz-if-match-last-modified-time", AFTER)],
            Err(Some("x-amz-if-match-last-modified-time")),
        );
        let c = DeleteConditions { size: Some(1), ..DeleteConditions::default() };
        assert_eq!(c.check(None).unwrap_err().code, ErrorCode::NoSuchKey);
        assert!(DeleteConditions::default().check(None).is_ok());
        for bad in [("x-amz-if-match-size", "-1"), ("x-amz-if-match-last-modified-time", "soon")] {
            let get = |name: &str| (name == bad.0).then_some(bad.1);
            assert_eq!(
                DeleteConditions::from_headers(get).unwrap_err().code,
                ErrorCode::InvalidArgument
            );
        }
    }

    #[test]
    fn failures_name_the_deciding_header() {
        let check = |headers: &[(&str, &str)], want: Option<&str>| {
            let get = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
            let pre = Preconditions::from_headers(get);
            let etag = ETag::parse_quoted_or_not("abc");
            let lm = UNIX_EPOCH + Duration::from_secs(LM);
            assert_eq!(pre.failed_header(&etag, lm), want, "{headers:?}");
            if let Some(h) = want {
                let e = pre.failure(&etag, lm, false);
                assert_eq!(e.code, ErrorCode::PreconditionFailed);
                assert_eq!(e.extra, [("Condition".to_owned(), h.to_owned())]);
                let e = pre.failure(&etag, lm, true);
                assert_eq!(e.extra[0].1, format!("x-amz-copy-source-{h}"));
            }
        };
        check(&[("if-match", "\"x\"")], Some("If-Match"));
        check(&[("if-match", "\"x\""), ("if-unmodified-since", BEFORE)], Some("If-Match"));
        check(&[("if-unmodified-since", BEFORE)], Some("If-Unmodified-Since"));
        check(&[("if-none-match", "\"abc\"")], Some("If-None-Match"));
        check(&[("if-modified-since", AFTER)], Some("If-Modified-Since"));
        check(&[("if-match", "\"abc\""), ("if-unmodified-since", BEFORE)], None);
    }

    const LM: u64 = 1_000_000;
    const BEFORE: &str = "Mon, 12 Jan 1970 13:46:39 GMT"; // LM - 1
    const AT: &str = "Mon, 12 Jan 1970 13:46:40 GMT"; // LM
    const AFTER: &str = "Mon, 12 Jan 1970 13:46:41 GMT"; // LM + 1

    fn check(headers: &[(&str, &str)], expected: ConditionOutcome) {
        let get = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        let pre = Preconditions::from_headers(get);
        let etag = ETag::parse_quoted_or_not("abc");
        // Sub-second part must not matter.
        let lm = UNIX_EPOCH + Duration::from_millis(LM * 1000 + 700);
        assert_eq!(pre.evaluate(&etag, lm), expected, "{headers:?}");
    }

    #[test]
    fn outcomes() {
        use ConditionOutcome::{NotModified, PreconditionFailed, Proceed};
        check(&[], Proceed);
        check(&[("if-match", "\"abc\"")], Proceed);
        check(&[("if-match", "abc")], Proceed);
        check(&[("if-match", "*")], Proceed);
        check(&[("if-match", "\"x\", \"abc\"")], Proceed);
        check(&[("if-match", "\"x\"")], PreconditionFailed);
        check(&[("if-none-match", "\"abc\"")], NotModified);
        check(&[("if-none-match", "*")], NotModified);
        check(&[("if-none-match", "\"x\"")], Proceed);
        check(&[("if-modified-since", BEFORE)], Proceed);
        check(&[("if-modified-since", AT)], NotModified);
        check(&[("if-modified-since", AFTER)], NotModified);
        check(&[("if-unmodified-since", BEFORE)], PreconditionFailed);
        check(&[("if-unmodified-since", AT)], Proceed);
        check(&[("if-unmodified-since", AFTER)], Proceed);
        check(&[("if-modified-since", "garbage")], Proceed);
        check(&[("if-match", " ")], Proceed);
        check(&[("if-unmodified-since", "garbage")], Proceed);
        // S3 tie-break 1: If-Match true wins over If-Unmodified-Since false.
        check(&[("if-match", "\"abc\""), ("if-unmodified-since", BEFORE)], Proceed);
        // S3 tie-break 2: If-None-Match false (it matches) + If-Modified-Since true → 304.
        check(&[("if-none-match", "\"abc\""), ("if-modified-since", BEFORE)], NotModified);
        // If-None-Match true makes If-Modified-Since irrelevant.
        check(&[("if-none-match", "\"x\""), ("if-modified-since", AFTER)], Proceed);
        // 412 beats 304.
        check(&[("if-match", "\"x\""), ("if-none-match", "\"abc\"")], PreconditionFailed);
        check(&[("if-unmodified-since", BEFORE), ("if-modified-since", AFTER)], PreconditionFailed);
    }

    fn check_write(headers: &[(&str, &str)], current: Option<&str>, expected: Option<ErrorCode>) {
        let get = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        let pre = Preconditions::from_headers(get);
        let current = current.map(ETag::parse_quoted_or_not);
        let got = pre.check_write(current.as_ref()).err().map(|e| e.code);
        assert_eq!(got, expected, "{headers:?} on {current:?}");
    }

    #[test]
    fn conditional_writes() {
        check_write(&[], None, None);
        check_write(&[], Some("abc"), None);
        check_write(&[("if-none-match", "*")], None, None);
        check_write(&[("if-none-match", "*")], Some("abc"), Some(ErrorCode::PreconditionFailed));
        check_write(&[("if-none-match", "\"abc\"")], Some("abc"), Some(ErrorCode::NotImplemented));
        check_write(&[("if-match", "\"abc\"")], Some("abc"), None);
        check_write(&[("if-match", "\"x\"")], Some("abc"), Some(ErrorCode::PreconditionFailed));
        check_write(&[("if-match", "\"abc\"")], None, Some(ErrorCode::NoSuchKey));
        check_write(&[("if-match", "*")], Some("abc"), None);
        check_write(&[("if-unmodified-since", "Mon, 12 Jan 1970 13:46:39 GMT")], Some("abc"), None);
    }

    #[test]
    fn copy_source_failures_are_412() {
        let headers = [("x-amz-copy-source-if-none-match", "\"abc\"")];
        let get = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        let pre = Preconditions::from_copy_source_headers(get);
        assert!(!pre.is_empty());
        let etag = ETag::parse_quoted_or_not("abc");
        assert_eq!(
            pre.evaluate_copy_source(&etag, UNIX_EPOCH),
            ConditionOutcome::PreconditionFailed
        );
        let none = Preconditions::from_copy_source_headers(|_| None);
        assert_eq!(none.evaluate_copy_source(&etag, UNIX_EPOCH), ConditionOutcome::Proceed);
    }
}
