//! The `Range` header of GetObject/HeadObject (one byte range only, as S3).

use crate::error::{ErrorCode, S3Error};

/// A syntactically valid single byte range, not yet checked against a size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `bytes=a-b` (inclusive, `a <= b`).
    FromTo(u64, u64),
    /// `bytes=a-`.
    From(u64),
    /// `bytes=-n`: the last `n` bytes.
    Suffix(u64),
}

/// A resolved, satisfiable byte range; `end` is inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte offset.
    pub start: u64,
    /// Last byte offset (inclusive).
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes in the range (never zero).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// The `Content-Range` header value, e.g. `bytes 0-9/100`.
    pub fn content_range(&self, total: u64) -> String {
        format!("bytes {}-{}/{}", self.start, self.end, total)
    }
}

/// Parses a `Range` header. `None` means "ignore it and serve the whole object":
/// S3 does so for syntactically invalid values, multiple ranges and other units.
pub fn parse_range(header: &str) -> Option<RangeSpec> {
    let header = header.trim();
    let (unit, spec) = header.split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    // A space inside the range (`bytes= -1`) makes it malformed, and S3 ignores it: 200 and
    // the whole object, not the suffix a lenient reading would find.
    if spec.contains(',') || spec.bytes().any(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match (first.is_empty(), last.is_empty()) {
        (true, true) => None,
        (true, false) => Some(RangeSpec::Suffix(number(last)?)),
        (false, true) => Some(RangeSpec::From(number(first)?)),
        (false, false) => {
            let (a, b) = (number(first)?, number(last)?);
            (a <= b).then_some(RangeSpec::FromTo(a, b))
        }
    }
}

impl RangeSpec {
    /// Resolves against an object size. An unsatisfiable range is `InvalidRange`
    /// (416) with `RangeRequested` and `ActualObjectSize` elements.
    pub fn resolve(&self, size: u64) -> Result<ByteRange, S3Error> {
        let unsatisfiable = || {
            S3Error::new(ErrorCode::InvalidRange)
                .with_extra("RangeRequested", self.to_string())
                .with_extra("ActualObjectSize", size.to_string())
        };
        let last = size.checked_sub(1).ok_or_else(unsatisfiable)?;
        match *self {
            Self::FromTo(start, end) if start <= last => {
                Ok(ByteRange { start, end: end.min(last) })
            }
            Self::From(start) if start <= last => Ok(ByteRange { start, end: last }),
            Self::Suffix(n) if n > 0 => Ok(ByteRange { start: size.saturating_sub(n), end: last }),
            _ => Err(unsatisfiable()),
        }
    }
}

impl std::fmt::Display for RangeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::FromTo(a, b) => write!(f, "bytes={a}-{b}"),
            Self::From(a) => write!(f, "bytes={a}-"),
            Self::Suffix(n) => write!(f, "bytes=-{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(header: &str, size: u64, expected: Option<Result<(u64, u64), ()>>) {
        let got = parse_range(header).map(|spec| {
            spec.resolve(size).map(|r| (r.start, r.end)).map_err(|e| {
                assert_eq!(e.code, ErrorCode::InvalidRange);
                assert_eq!(e.extra("ActualObjectSize"), Some(size.to_string().as_str()));
            })
        });
        assert_eq!(got, expected, "{header} on {size}");
    }

    #[test]
    fn ranges() {
        check("bytes=0-9", 100, Some(Ok((0, 9))));
        check("bytes=10-", 100, Some(Ok((10, 99))));
        check("bytes=-10", 100, Some(Ok((90, 99))));
        check("bytes=0-0", 1, Some(Ok((0, 0))));
        check("bytes=90-200", 100, Some(Ok((90, 99))));
        check("bytes=-200", 100, Some(Ok((0, 99))));
        check("bytes=99-", 100, Some(Ok((99, 99))));
        check("Bytes =1-2", 100, Some(Ok((1, 2))));
        check("bytes= -1", 100, None);
        check("bytes=0- 1", 100, None);
        check("bytes=0 -1", 100, None);
        check("Bytes = 1-2", 100, None);
        check("bytes=100-", 100, Some(Err(())));
        check("bytes=100-200", 100, Some(Err(())));
        check("bytes=-0", 100, Some(Err(())));
        check("bytes=0-", 0, Some(Err(())));
        check("bytes=-5", 0, Some(Err(())));
        check("bytes=0-0", 0, Some(Err(())));
        check("bytes=5-3", 100, None);
        check("bytes=0-1,5-6", 100, None);
        check("items=0-1", 100, None);
        check("bytes=-", 100, None);
        check("bytes=a-b", 100, None);
        check("bytes 0-1", 100, None);
        check("bytes=+1-2", 100, None);
        check("bytes=99999999999999999999999-", 100, None);
        check("", 100, None);
    }

    #[test]
    fn content_range() {
        let r = ByteRange { start: 0, end: 9 };
        assert_eq!(r.len(), 10);
        assert_eq!(r.content_range(100), "bytes 0-9/100");
        let err = RangeSpec::From(5).resolve(3).unwrap_err();
        assert_eq!(err.extra("RangeRequested"), Some("bytes=5-"));
    }

    proptest! {
        #[test]
        fn never_panics_and_stays_in_bounds(s in "\\PC{0,30}", size in 0u64..1000) {
            if let Some(spec) = parse_range(&s)
                && let Ok(r) = spec.resolve(size)
            {
                prop_assert!(r.start <= r.end && r.end < size);
            }
        }

        #[test]
        fn from_to_round_trips(a in 0u64..u64::MAX / 2, len in 0u64..1000) {
            let spec = RangeSpec::FromTo(a, a + len);
            prop_assert_eq!(parse_range(&spec.to_string()), Some(spec));
        }
    }
}
