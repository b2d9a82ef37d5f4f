//! The request context: condition key → values, built by the server once per request.
//!
//! Values are parsed when they are set (as a number, a date, an IP address and a boolean,
//! whichever they are), so evaluating a condition parses nothing. The principal's own keys
//! (`aws:username`, `aws:userid`, `aws:PrincipalArn`, `aws:PrincipalType`,
//! `aws:PrincipalAccount`) come from the [`Principal`](crate::Principal), never from here, so
//! a request cannot claim them.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::keys::{Key, KeyName};

/// One value of a key, with its parsed forms.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    text: Box<str>,
    pub(crate) number: Option<f64>,
    pub(crate) date: Option<i64>,
    pub(crate) ip: Option<IpAddr>,
    pub(crate) boolean: Option<bool>,
}

impl Value {
    /// Parses `text` in every form it has.
    pub fn new(text: impl Into<Box<str>>) -> Value {
        let text = text.into();
        let trimmed = text.trim();
        // Only text that starts like a number, a date or an address is parsed as one.
        let first = trimmed.bytes().next().unwrap_or(b' ');
        let numeric = first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.');
        let number =
            numeric.then(|| trimmed.parse::<f64>().ok()).flatten().filter(|n| n.is_finite());
        let date = first.is_ascii_digit().then(|| crate::date::parse_millis(trimmed)).flatten();
        let ip = (first.is_ascii_hexdigit() || first == b':')
            .then(|| trimmed.parse::<IpAddr>().ok().map(crate::ip::normalize))
            .flatten();
        let boolean = if trimmed.eq_ignore_ascii_case("true") {
            Some(true)
        } else if trimmed.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            None
        };
        Value { text, number, date, ip, boolean }
    }

    /// The value as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// The condition keys of one request.
#[derive(Debug, Clone)]
pub struct Context {
    entries: Vec<(Key, Vec<Value>)>,
}

impl Context {
    /// A context at time `now`: `aws:CurrentTime` and `aws:EpochTime` are set from it.
    pub fn new(now: SystemTime) -> Context {
        let millis = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let seconds = millis.div_euclid(1000);
        let mut ctx = Context { entries: Vec::with_capacity(16) };
        let mut current = Value::new(format_iso(seconds));
        current.date = Some(millis);
        let mut epoch = Value::new(seconds.to_string());
        epoch.date = Some(millis);
        ctx.entries.push((Key::Name(KeyName::AwsCurrentTime), vec![current]));
        ctx.entries.push((Key::Name(KeyName::AwsEpochTime), vec![epoch]));
        ctx
    }

    /// Sets a key to one value (replacing any it had).
    pub fn set(&mut self, key: impl Into<Key>, value: impl Into<Box<str>>) -> &mut Self {
        let key = key.into();
        let value = vec![Value::new(value)];
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
        self
    }

    /// Sets a key to several values (`s3:RequestObjectTagKeys`); none is "present but empty",
    /// which `ForAllValues:` reads as true and `ForAnyValue:` as false.
    pub fn set_all<I, V>(&mut self, key: impl Into<Key>, values: I) -> &mut Self
    where
        I: IntoIterator<Item = V>,
        V: Into<Box<str>>,
    {
        let key = key.into();
        let values: Vec<Value> = values.into_iter().map(Value::new).collect();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = values,
            None => self.entries.push((key, values)),
        }
        self
    }

    /// Sets `aws:SourceIp`.
    pub fn set_source_ip(&mut self, ip: IpAddr) -> &mut Self {
        self.set(KeyName::AwsSourceIp, ip.to_string())
    }

    /// Sets `aws:SecureTransport`.
    pub fn set_secure_transport(&mut self, tls: bool) -> &mut Self {
        self.set(KeyName::AwsSecureTransport, if tls { "true" } else { "false" })
    }

    /// Removes a key.
    pub fn remove(&mut self, key: &Key) -> &mut Self {
        self.entries.retain(|(k, _)| k != key);
        self
    }

    /// The values of a key, if the request has it.
    pub fn get(&self, key: &Key) -> Option<&[Value]> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_slice())
    }

    /// The keys set, in the order they were set.
    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.entries.iter().map(|(k, _)| k)
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch.
fn format_iso(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn time_keys() {
        let ctx = Context::new(UNIX_EPOCH + Duration::from_millis(1_369_353_600_250));
        let now = ctx.get(&Key::Name(KeyName::AwsCurrentTime)).unwrap();
        assert_eq!(now[0].as_str(), "2013-05-24T00:00:00Z");
        assert_eq!(now[0].date, Some(1_369_353_600_250));
        let epoch = ctx.get(&Key::Name(KeyName::AwsEpochTime)).unwrap();
        assert_eq!(epoch[0].as_str(), "1369353600");
        assert_eq!(epoch[0].number, Some(1_369_353_600.0));
        for (secs, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (4_102_444_799, "2099-12-31T23:59:59Z"),
        ] {
            assert_eq!(format_iso(secs), text);
            assert_eq!(crate::date::parse_millis(text), Some(secs * 1000));
        }
    }

    #[test]
    fn values_are_parsed_once() {
        let v = Value::new("10");
        assert_eq!((v.number, v.boolean, v.ip), (Some(10.0), None, None));
        let v = Value::new("TRUE");
        assert_eq!(v.boolean, Some(true));
        let v = Value::new("::ffff:192.0.2.1");
        assert_eq!(v.ip, Some("192.0.2.1".parse().unwrap()));
        let v = Value::new("NaN");
        assert_eq!(v.number, None);
    }

    #[test]
    fn set_replaces_and_set_all_keeps_many() {
        let mut ctx = Context::new(UNIX_EPOCH);
        ctx.set(KeyName::S3Prefix, "a/").set(KeyName::S3Prefix, "b/");
        assert_eq!(ctx.get(&KeyName::S3Prefix.into()).unwrap().len(), 1);
        ctx.set_all(KeyName::S3RequestObjectTagKeys, ["x", "y"]);
        assert_eq!(ctx.get(&KeyName::S3RequestObjectTagKeys.into()).unwrap().len(), 2);
        ctx.remove(&KeyName::S3Prefix.into());
        assert!(ctx.get(&KeyName::S3Prefix.into()).is_none());
        assert_eq!(ctx.keys().count(), 3);
    }
}
