//! Timestamp formats used by S3: ISO-8601 in XML bodies, IMF-fixdate in headers.
//!
//! The calendar conversion is hand-written (Howard Hinnant's `civil_from_days`),
//! so the crate needs no date library and reads no clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Civil date (year, month 1..=12, day 1..=31) of a day count since 1970-01-01.
#[allow(clippy::many_single_char_names, reason = "names follow Hinnant's published algorithm")]
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = if m <= 2 { y + 1 } else { y };
    // The ranges above make these casts lossless.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    (y, m as u32, d as u32)
}

/// Days since 1970-01-01 of a civil date.
#[allow(clippy::many_single_char_names, reason = "names follow Hinnant's published algorithm")]
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds (floor) and milliseconds of a time relative to the Unix epoch.
fn split(t: SystemTime) -> (i64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (i64::try_from(d.as_secs()).unwrap_or(i64::MAX), d.subsec_millis()),
        Err(e) => {
            let d = e.duration();
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            let nanos = d.subsec_nanos();
            if nanos == 0 {
                (-secs, 0)
            } else {
                // Floor towards the past: -1.25 s is second -2 plus 750 ms.
                (-secs - 1, (1_000_000_000 - nanos) / 1_000_000)
            }
        }
    }
}

/// `2009-10-12T17:50:30.000Z`: UTC, millisecond precision (truncated), as in S3 XML.
pub fn format_iso8601(t: SystemTime) -> String {
    let (secs, millis) = split(t);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (UTC only); `None` if malformed.
pub fn parse_iso8601(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[10] != b'T' {
        return None;
    }
    if bytes[13] != b':' || bytes[16] != b':' || *bytes.last()? != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = text.get(r)?;
        if s.bytes().all(|c| c.is_ascii_digit()) { s.parse().ok() } else { None }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let day_ok = day >= 1 && (1..=12).contains(&month) && day <= days_in_month(year, month);
    if !day_ok || hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let frac = text.get(19..text.len() - 1)?;
    let nanos = if frac.is_empty() {
        0
    } else {
        let digits = frac.strip_prefix('.')?;
        if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let v: u32 = digits.parse().ok()?;
        v * 10u32.pow(9 - u32::try_from(digits.len()).ok()?)
    };
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + min * 60 + sec);
    let secs = u64::try_from(secs).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (IMF-fixdate), as in `Last-Modified`.
pub fn format_http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

/// Parses any of the three RFC 7231 date formats; `None` if malformed.
pub fn parse_http_date(text: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(text.trim()).ok()
}

/// Truncates a time to whole seconds since the epoch (HTTP dates have no fraction).
pub fn to_unix_seconds(t: SystemTime) -> i64 {
    split(t).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(secs: u64, millis: u64, expected: &str) {
        let t = UNIX_EPOCH + Duration::from_millis(secs * 1000 + millis);
        assert_eq!(format_iso8601(t), expected);
        assert_eq!(parse_iso8601(expected), Some(t));
    }

    #[test]
    fn iso8601_known() {
        check(0, 0, "1970-01-01T00:00:00.000Z");
        check(1_255_369_830, 0, "2009-10-12T17:50:30.000Z");
        check(951_782_400, 5, "2000-02-29T00:00:00.005Z");
        check(1_709_251_199, 999, "2024-02-29T23:59:59.999Z");
        check(4_102_444_800, 0, "2100-01-01T00:00:00.000Z");
        check(253_402_300_799, 0, "9999-12-31T23:59:59.000Z");
    }

    #[test]
    fn iso8601_before_epoch_and_submillis() {
        let t = UNIX_EPOCH - Duration::from_millis(1250);
        assert_eq!(format_iso8601(t), "1969-12-31T23:59:58.750Z");
        let t = UNIX_EPOCH + Duration::new(1, 999_999);
        assert_eq!(format_iso8601(t), "1970-01-01T00:00:01.000Z");
    }

    #[test]
    fn iso8601_rejects() {
        for bad in [
            "",
            "2009-10-12T17:50:30",
            "2009-13-12T17:50:30Z",
            "2009-02-30T17:50:30Z",
            "2009-10-12 17:50:30Z",
            "2009-10-12T17:50:30.Z",
            "2009-10-12T24:00:00Z",
            "+009-10-12T17:50:30Z",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
        assert!(parse_iso8601("2009-10-12T17:50:30Z").is_some());
        assert!(parse_iso8601("2009-10-12T17:50:30.123456789Z").is_some());
    }

    #[test]
    fn http_dates() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(format_http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        for text in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(text), Some(t), "{text}");
        }
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(to_unix_seconds(t + Duration::from_millis(999)), 784_111_777);
    }

    proptest! {
        #[test]
        fn iso8601_matches_httpdate_reference(secs in 0u64..253_402_300_799, millis in 0u32..1000) {
            let t = UNIX_EPOCH + Duration::new(secs, millis * 1_000_000 + 123);
            let iso = format_iso8601(t);
            // httpdate is an independent implementation of the same calendar.
            let reference = httpdate::fmt_http_date(t);
            let f: Vec<&str> = reference.split(' ').collect();
            let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
            let month = months.iter().position(|m| *m == f[2]).unwrap() + 1;
            let expected = format!("{}-{month:02}-{}T{}.{millis:03}Z", f[3], f[1], f[4]);
            prop_assert_eq!(&iso, &expected);
            let parsed = parse_iso8601(&iso).unwrap();
            prop_assert_eq!(parsed, UNIX_EPOCH + Duration::from_millis(secs * 1000 + u64::from(millis)));
        }

        #[test]
        fn http_date_never_panics(s in "\\PC{0,40}") {
            let _ = parse_http_date(&s);
            let _ = parse_iso8601(&s);
        }
    }
}
