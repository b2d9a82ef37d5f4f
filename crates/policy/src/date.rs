//! Dates for the `Date*` operators: ISO 8601 (`2024-05-01`, `2024-05-01T12:00:00Z`,
//! `2024-05-01T12:00:00.250+02:00`) or seconds since the epoch, as milliseconds since the
//! epoch. Hand-written: the crate has no clock and needs no calendar beyond this.

/// Parses a date to milliseconds since 1970-01-01T00:00:00Z.
pub(crate) fn parse_millis(text: &str) -> Option<i64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<i64>().ok()?.checked_mul(1000);
    }
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = text.get(from..from + len)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut millis = days_from_civil(year, month, day) * 86_400_000;
    if b.len() == 10 {
        return Some(millis);
    }
    if !matches!(b[10], b'T' | b't') || b.len() < 16 || b[13] != b':' {
        return None;
    }
    let (hour, minute) = (num(11, 2)?, num(14, 2)?);
    let mut at = 16;
    let mut second = 0;
    if b.get(at) == Some(&b':') {
        second = num(17, 2)?;
        at = 19;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    millis += ((hour * 60 + minute) * 60 + second) * 1000;
    if b.get(at) == Some(&b'.') {
        let digits = b[at + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let frac = &text[at + 1..at + 1 + digits];
        let ms: String = frac.chars().chain("000".chars()).take(3).collect();
        millis += ms.parse::<i64>().ok()?;
        at += 1 + digits;
    }
    match &text[at..] {
        "Z" | "z" | "" => Some(millis),
        zone => {
            let sign = match zone.as_bytes()[0] {
                b'+' => -1,
                b'-' => 1,
                _ => return None,
            };
            let zone = &zone[1..];
            let (h, m) = match zone.len() {
                5 if zone.as_bytes()[2] == b':' => (&zone[..2], &zone[3..]),
                4 => (&zone[..2], &zone[2..]),
                _ => return None,
            };
            let h: i64 = h.parse().ok().filter(|h| *h <= 23)?;
            let m: i64 = m.parse().ok().filter(|m| *m <= 59)?;
            Some(millis + sign * (h * 60 + m) * 60_000)
        }
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let check =
            |text: &str, expected: Option<i64>| assert_eq!(parse_millis(text), expected, "{text}");
        check("1970-01-01", Some(0));
        check("1970-01-01T00:00:00Z", Some(0));
        check("2013-05-24T00:00:00Z", Some(1_369_353_600_000));
        check("2013-05-24T00:00Z", Some(1_369_353_600_000));
        check("2013-05-24T00:00:00.250Z", Some(1_369_353_600_250));
        check("2013-05-24T02:00:00+02:00", Some(1_369_353_600_000));
        check("2013-05-23T22:00:00-0200", Some(1_369_353_600_000));
        check("2024-02-29", Some(1_709_164_800_000));
        check("1369353600", Some(1_369_353_600_000));
        check("2023-02-29", None);
        check("2013-13-01", None);
        check("2013-05-24T25:00:00Z", None);
        check("2013-05-24X00:00:00Z", None);
        check("2013-05-24T00:00:00+2", None);
        check("tomorrow", None);
        check("", None);
    }
}
