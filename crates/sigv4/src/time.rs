//! The timestamp formats of AWS authentication without a date library: SigV4's
//! `YYYYMMDDTHHMMSSZ`, SigV2's RFC 1123 dates (`Tue, 27 Mar 2007 19:36:42 +0000`) and POST
//! policies' ISO 8601 expirations (`2015-12-30T12:00:00.000Z`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses a strict `YYYYMMDDTHHMMSSZ` timestamp (years 1970 and later).
pub(crate) fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in &b[range] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, min, sec) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if year < 1970
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 59
    {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Seconds since the epoch of a validated civil date and time (years 1970 and later).
fn epoch(date: (i64, i64, i64), time: (i64, i64, i64)) -> Option<SystemTime> {
    let ((year, month, day), (hour, min, sec)) = (date, time);
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 59
    {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// The value of an all-digit string of 1..=`max` digits.
fn digits(s: &str, max: usize) -> Option<i64> {
    if s.is_empty() || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `HH:MM:SS`.
fn clock(s: &str) -> Option<(i64, i64, i64)> {
    let mut it = s.split(':');
    let (h, m, sec) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || h.len() != 2 || m.len() != 2 || sec.len() != 2 {
        return None;
    }
    Some((digits(h, 2)?, digits(m, 2)?, digits(sec, 2)?))
}

/// Parses the date of a SigV2 `Date` or `x-amz-date` header: RFC 1123 with a `GMT`/`UT`/
/// `UTC`/`Z` zone or a numeric `+hhmm`/`-hhmm` offset (s3cmd and AWS's examples write
/// `+0000`), the day name optional; RFC 850 and asctime through `httpdate`; and SigV4's
/// `YYYYMMDDTHHMMSSZ`. Years before 1970 are refused.
pub(crate) fn parse_v2_date(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    if let Some(t) = parse_amz_date(text) {
        return Some(t);
    }
    if let Some(t) = parse_rfc1123(text) {
        return Some(t);
    }
    httpdate::parse_http_date(text).ok()
}

fn parse_rfc1123(text: &str) -> Option<SystemTime> {
    const MONTHS: [&str; 12] =
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let mut words: Vec<&str> = text.split_ascii_whitespace().collect();
    if let Some(first) = words.first()
        && let Some(day) = first.strip_suffix(',')
    {
        if !DAYS.iter().any(|d| d.eq_ignore_ascii_case(day)) {
            return None;
        }
        words.remove(0);
    }
    let [day, month, year, time, zone] = words.as_slice() else { return None };
    let day = digits(day, 2)?;
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))?;
    let year = if year.len() == 4 { digits(year, 4)? } else { return None };
    let local = epoch((year, i64::try_from(month).ok()? + 1, day), clock(time)?)?;
    let offset_secs: i64 = match *zone {
        z if ["GMT", "UT", "UTC", "Z"].iter().any(|g| g.eq_ignore_ascii_case(z)) => 0,
        z if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) => {
            let (h, m) = (digits(&z[1..3], 2)?, digits(&z[3..5], 2)?);
            if m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            if z.starts_with('+') { secs } else { -secs }
        }
        _ => return None,
    };
    // Local time minus the offset is UTC.
    let shift = Duration::from_secs(offset_secs.unsigned_abs());
    if offset_secs >= 0 { local.checked_sub(shift) } else { local.checked_add(shift) }
}

/// Parses a POST policy expiration: ISO 8601 `YYYY-MM-DDTHH:MM:SS[.fraction]Z` in UTC (the
/// fraction is dropped). Any other form (a space for `T`, a numeric offset) is refused, as
/// S3 refuses it.
pub(crate) fn parse_iso8601(text: &str) -> Option<SystemTime> {
    let rest = text.strip_suffix('Z')?;
    let (date, time) = rest.split_once('T')?;
    let mut d = date.split('-');
    let (y, m, day) = (d.next()?, d.next()?, d.next()?);
    if d.next().is_some() || y.len() != 4 || m.len() != 2 || day.len() != 2 {
        return None;
    }
    let (hms, fraction) = time.split_once('.').unwrap_or((time, "0"));
    if !fraction.bytes().all(|b| b.is_ascii_digit()) || fraction.is_empty() {
        return None;
    }
    epoch((digits(y, 4)?, digits(m, 2)?, digits(day, 2)?), clock(hms)?)
}

/// Formats a time as `YYYYMMDDTHHMMSSZ` (times before 1970 clamp to the epoch).
pub(crate) fn format_amz_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let secs = i64::try_from(secs).unwrap_or(i64::MAX / 2);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Absolute difference between two times.
pub(crate) fn abs_diff(a: SystemTime, b: SystemTime) -> Duration {
    a.duration_since(b).unwrap_or_else(|e| e.duration())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let check = |s: &str, ok: bool| {
            let parsed = parse_amz_date(s);
            assert_eq!(parsed.is_some(), ok, "{s}");
            if let Some(t) = parsed {
                assert_eq!(format_amz_date(t), s);
            }
        };
        check("20150830T123600Z", true);
        check("19700101T000000Z", true);
        check("20240229T235959Z", true);
        check("20230229T000000Z", false);
        check("20150830T123600", false);
        check("20150830 123600Z", false);
        check("2015083OT123600Z", false);
        check("20151301T000000Z", false);
        check("20150830T246000Z", false);
        check("+0150830T123600Z", false);
        assert_eq!(
            parse_amz_date("20150830T123601Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_440_938_161))
        );
    }

    #[test]
    fn v2_dates() {
        let at = |secs: u64| Some(UNIX_EPOCH + Duration::from_secs(secs));
        let check = |s: &str, expected: Option<SystemTime>| {
            assert_eq!(parse_v2_date(s), expected, "{s:?}");
        };
        // 2007-03-27T19:36:42Z, the date of AWS's SigV2 examples.
        let t = 1_175_024_202;
        check("Tue, 27 Mar 2007 19:36:42 +0000", at(t));
        check("Tue, 27 Mar 2007 19:36:42 GMT", at(t));
        check("  tue, 27 mar 2007 19:36:42 gmt ", at(t));
        check("27 Mar 2007 19:36:42 UTC", at(t));
        check("Tue, 27 Mar 2007 21:36:42 +0200", at(t));
        check("Tue, 27 Mar 2007 12:36:42 -0700", at(t));
        check("Tuesday, 27-Mar-07 19:36:42 GMT", at(t));
        check("Tue Mar 27 19:36:42 2007", at(t));
        check("20070327T193642Z", at(t));
        check("Tue, 7 Jul 2030 21:53:04 GMT", at(1_909_691_584));
        check("Tue, 07 Jul 9999 21:53:04 GMT", at(253_387_000_384));
        check("Tue, 07 Jul 1950 21:53:04 GMT", None);
        check("Bad Date", None);
        check("", None);
        check("Tue, 27 Mar 2007 19:36:42", None);
        check("Tue, 27 Mar 2007 19:36:42 +00", None);
        check("Tue, 27 Mar 2007 19:36:42 +0060", None);
        check("Tue, 27 Foo 2007 19:36:42 GMT", None);
        check("Xyz, 27 Mar 2007 19:36:42 GMT", None);
        check("Tue, 30 Feb 2007 19:36:42 GMT", None);
        check("Tue, 27 Mar 2007 24:36:42 GMT", None);
        check("Tue, 27 Mar 07 19:36:42 GMT", None);
    }

    #[test]
    fn policy_expirations() {
        let at = |secs: u64| Some(UNIX_EPOCH + Duration::from_secs(secs));
        let check = |s: &str, expected: Option<SystemTime>| {
            assert_eq!(parse_iso8601(s), expected, "{s:?}");
        };
        check("2015-12-30T12:00:00.000Z", at(1_451_476_800));
        check("2015-12-30T12:00:00Z", at(1_451_476_800));
        check("2015-12-30T12:00:00.123456Z", at(1_451_476_800));
        check("2015-12-30 12:00:00.123456+00:00", None);
        check("2015-12-30T12:00:00.000", None);
        check("2015-12-30T12:00:00.Z", None);
        check("2015-12-30T12:00:00+00:00", None);
        check("2015-12-30T12:00Z", None);
        check("20151230T120000Z", None);
        check("2015-13-30T12:00:00Z", None);
        check("", None);
    }
}
