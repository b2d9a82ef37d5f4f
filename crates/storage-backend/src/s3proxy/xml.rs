//! The few upstream response bodies the proxy reads, and the S3 timestamp format.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use crate::blob::BlobError;

/// Parses an XML body into `T`.
pub(crate) fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, BlobError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| BlobError::Backend(format!("upstream sent non-UTF-8 XML: {e}").into()))?;
    quick_xml::de::from_str(text)
        .map_err(|e| BlobError::Backend(format!("upstream sent unreadable XML: {e}").into()))
}

/// `<InitiateMultipartUploadResult>`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct InitiateMultipartUploadResult {
    pub(crate) upload_id: String,
}

/// `<ListBucketResult>` of ListObjectsV2.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListBucketResult {
    #[serde(default)]
    pub(crate) contents: Vec<Contents>,
    #[serde(default)]
    pub(crate) is_truncated: bool,
    pub(crate) next_continuation_token: Option<String>,
}

/// One `<Contents>` entry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Contents {
    pub(crate) key: String,
    pub(crate) size: u64,
    pub(crate) last_modified: String,
}

/// `<ListMultipartUploadsResult>`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListMultipartUploadsResult {
    #[serde(default, rename = "Upload")]
    pub(crate) uploads: Vec<Upload>,
    #[serde(default)]
    pub(crate) is_truncated: bool,
    pub(crate) next_key_marker: Option<String>,
    pub(crate) next_upload_id_marker: Option<String>,
}

/// One `<Upload>` entry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Upload {
    pub(crate) key: String,
    // The upstream's field name.
    #[allow(clippy::struct_field_names)]
    pub(crate) upload_id: String,
    pub(crate) initiated: String,
}

/// `<Error><Code>` of an error body, also found inside a 200 answer to
/// CompleteMultipartUpload.
pub(crate) fn error_code(body: &str) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Error {
        code: String,
    }
    let start = body.find("<Error>")?;
    quick_xml::de::from_str::<Error>(&body[start..]).ok().map(|e| e.code)
}

/// Escapes text for an XML element.
pub(crate) fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
pub(crate) fn parse_time(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> { s.get(r)?.parse().ok() };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let millis = match &s[19..s.len() - 1] {
        "" => 0,
        frac => {
            let digits = frac.strip_prefix('.')?;
            let ms: String = digits.chars().chain("000".chars()).take(3).collect();
            ms.parse::<u64>().ok()?
        }
    };
    // Days from civil (Howard Hinnant), for years from 1970 on.
    let y = if month <= 2 { year.checked_sub(1)? } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let m = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec;
    Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: &str, expected: Option<u64>) {
        let got = parse_time(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_millis());
        assert_eq!(got, expected.map(u128::from), "{s}");
    }

    #[test]
    fn times() {
        check("1970-01-01T00:00:00Z", Some(0));
        check("1970-01-01T00:00:00.000Z", Some(0));
        check("2009-10-12T17:50:30.000Z", Some(1_255_369_830_000));
        check("2024-02-29T23:59:59.5Z", Some(1_709_251_199_500));
        check("2024-13-01T00:00:00Z", None);
        check("2024-01-01 00:00:00Z", None);
        check("2024-01-01T00:00:00", None);
        check("", None);
    }

    #[test]
    fn error_codes() {
        let body =
            "<?xml version=\"1.0\"?>\n<Error><Code>SlowDown</Code><Message>x</Message></Error>";
        assert_eq!(error_code(body).as_deref(), Some("SlowDown"));
        assert_eq!(error_code("<CompleteMultipartUploadResult/>"), None);
    }

    #[test]
    fn listing() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix>
<KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>
<Contents><Key>p/a</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified><ETag>"x"</ETag><Size>5</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>p/b</Key><LastModified>2009-10-12T17:50:31.000Z</LastModified><ETag>"y"</ETag><Size>0</Size></Contents>
<NextContinuationToken>tok</NextContinuationToken></ListBucketResult>"#;
        let page: ListBucketResult = parse(body).unwrap();
        assert_eq!(page.contents.len(), 2);
        assert_eq!((page.contents[0].key.as_str(), page.contents[0].size), ("p/a", 5));
        assert!(page.is_truncated);
        assert_eq!(page.next_continuation_token.as_deref(), Some("tok"));
        let empty: ListBucketResult =
            parse(b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>")
                .unwrap();
        assert!(empty.contents.is_empty() && !empty.is_truncated);
    }
}
