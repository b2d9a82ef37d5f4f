//! Validated names: buckets, keys, upload ids, part numbers and ETags.
//!
//! Each is parsed once at the edge; code that holds one may rely on its rules.

use std::fmt;

use md5::{Digest, Md5};

use crate::error::{ErrorCode, S3Error};

macro_rules! string_newtype_common {
    ($ty:ident) => {
        impl $ty {
            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Consumes the name, returning its text.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// A general-purpose bucket name (AWS "Bucket naming rules").
///
/// 3–63 characters of `a-z 0-9 . -`, starting and ending with a letter or digit,
/// no `..`, not an IPv4 address, none of the reserved prefixes (`xn--`, `sthree-`,
/// `amzn-s3-demo-`) or suffixes (`-s3alias`, `--ol-s3`, `.mrap`, `--x-s3`, `--table-s3`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BucketName(String);

impl BucketName {
    /// Validates a bucket name; any violation is `InvalidBucketName`.
    pub fn parse(name: &str) -> Result<Self, S3Error> {
        if let Some(why) = bucket_name_problem(name) {
            return Err(S3Error::with_message(
                ErrorCode::InvalidBucketName,
                format!("The specified bucket is not valid: {why}."),
            )
            .with_extra("BucketName", name));
        }
        Ok(Self(name.to_owned()))
    }
}

string_newtype_common!(BucketName);

fn bucket_name_problem(name: &str) -> Option<&'static str> {
    const BAD_PREFIXES: [&str; 4] = ["xn--", "sthree-", "amzn-s3-demo-", "sthree-configurator"];
    const BAD_SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    let bytes = name.as_bytes();
    if !(3..=63).contains(&bytes.len()) {
        return Some("length must be between 3 and 63");
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
    {
        return Some("only lowercase letters, digits, '.' and '-' are allowed");
    }
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return Some("must begin and end with a letter or digit");
    }
    if name.contains("..") {
        return Some("must not contain two adjacent periods");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Some("must not be formatted as an IP address");
    }
    if BAD_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return Some("uses a reserved prefix");
    }
    if BAD_SUFFIXES.iter().any(|s| name.ends_with(s)) {
        return Some("uses a reserved suffix");
    }
    None
}

/// Maximum object key length in UTF-8 bytes.
pub const MAX_KEY_LEN: usize = 1024;

/// An object key: any non-empty UTF-8 string of at most 1024 bytes.
///
/// Keys are opaque: `..`, `//`, leading `/`, spaces, `+` and control characters
/// (including NUL) are all legal, as AWS documents keys as "any sequence of Unicode
/// characters whose UTF-8 encoding is at most 1024 bytes" and only *advises* against
/// some characters. Storage layers must therefore never use a key as a file path
/// unescaped. Ordering is UTF-8 byte order, which is S3's listing order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Validates a key: empty is `InvalidArgument`, over 1024 bytes `KeyTooLongError`.
    pub fn parse(key: String) -> Result<Self, S3Error> {
        if key.is_empty() {
            return Err(S3Error::with_message(
                ErrorCode::InvalidArgument,
                "Object key must not be empty.",
            ));
        }
        if key.len() > MAX_KEY_LEN {
            return Err(S3Error::new(ErrorCode::KeyTooLongError)
                .with_extra("Size", key.len().to_string())
                .with_extra("MaxSizeAllowed", MAX_KEY_LEN.to_string()));
        }
        Ok(Self(key))
    }
}

string_newtype_common!(ObjectKey);

/// Maximum upload id length accepted.
pub const MAX_UPLOAD_ID_LEN: usize = 256;

/// An opaque multipart upload id: 1–256 bytes of printable ASCII (`!`..=`~`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UploadId(String);

impl UploadId {
    /// Validates an upload id; anything else is `NoSuchUpload` (it cannot exist).
    pub fn parse(id: &str) -> Result<Self, S3Error> {
        if id.is_empty()
            || id.len() > MAX_UPLOAD_ID_LEN
            || !id.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(S3Error::new(ErrorCode::NoSuchUpload).with_extra("UploadId", id));
        }
        Ok(Self(id.to_owned()))
    }
}

string_newtype_common!(UploadId);

/// Highest part number S3 accepts.
pub const MAX_PART_NUMBER: u16 = 10_000;

/// A multipart part number, 1..=10000.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartNumber(u16);

impl PartNumber {
    /// Parses a decimal part number; anything outside 1..=10000 is `InvalidArgument`.
    pub fn parse(text: &str) -> Result<Self, S3Error> {
        if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(part_number_error(text));
        }
        let n: u64 = text.parse().map_err(|_| part_number_error(text))?;
        Self::from_u32(u32::try_from(n).unwrap_or(u32::MAX)).map_err(|_| part_number_error(text))
    }

    /// Validates a numeric part number (1..=10000).
    pub fn from_u32(n: u32) -> Result<Self, S3Error> {
        match u16::try_from(n) {
            Ok(v) if (1..=MAX_PART_NUMBER).contains(&v) => Ok(Self(v)),
            _ => Err(part_number_error(&n.to_string())),
        }
    }

    /// The number.
    pub fn get(self) -> u16 {
        self.0
    }

    /// Text form (decimal).
    pub fn as_str(&self) -> String {
        self.0.to_string()
    }
}

impl fmt::Display for PartNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

fn part_number_error(text: &str) -> S3Error {
    S3Error::with_message(
        ErrorCode::InvalidArgument,
        "Part number must be an integer between 1 and 10000, inclusive",
    )
    .with_extra("ArgumentName", "partNumber")
    .with_extra("ArgumentValue", text)
}

/// An entity tag, held without quotes: `hex` (MD5) or `hex-N` (multipart).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ETag(String);

impl ETag {
    /// The ETag of a single-part object: lowercase hex of its MD5.
    pub fn from_md5(md5: &[u8; 16]) -> Self {
        Self(hex::encode(md5))
    }

    /// The ETag of a multipart object: MD5 of the concatenated *binary* part MD5s,
    /// in hex, then `-` and the part count.
    pub fn multipart(part_md5s: &[[u8; 16]]) -> Self {
        let mut hasher = Md5::new();
        for md5 in part_md5s {
            hasher.update(md5);
        }
        let digest: [u8; 16] = hasher.finalize().into();
        Self(format!("{}-{}", hex::encode(digest), part_md5s.len()))
    }

    /// Takes an ETag as a client or store writes it: surrounding whitespace, a `W/`
    /// prefix and surrounding double quotes are removed; anything else is kept.
    pub fn parse_quoted_or_not(text: &str) -> Self {
        Self(strip_etag(text).to_owned())
    }

    /// The value wrapped in double quotes, as sent in the `ETag` header.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }

    /// The unquoted value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For `hex` ETags, the 16 MD5 bytes (used to compare against `Content-MD5`).
    pub fn md5_bytes(&self) -> Option<[u8; 16]> {
        let mut out = [0u8; 16];
        hex::decode_to_slice(&self.0, &mut out).ok()?;
        Some(out)
    }

    /// For multipart ETags (`hex-N`), the part count `N`.
    pub fn part_count(&self) -> Option<u32> {
        let (_, n) = self.0.rsplit_once('-')?;
        n.parse().ok()
    }

    /// Whether a header value (one ETag, quoted or not, or `W/"..."`) names this ETag.
    pub fn matches(&self, other: &str) -> bool {
        strip_etag(other) == self.0
    }

    /// Whether an `If-Match`/`If-None-Match` list (`"a", "b"` or `*`) matches this ETag.
    pub fn matches_list(&self, list: &str) -> bool {
        list.split(',').map(str::trim).any(|item| item == "*" || self.matches(item))
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn strip_etag(text: &str) -> &str {
    let t = text.trim();
    let t = t.strip_prefix("W/").unwrap_or(t);
    t.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_bucket(name: &str, ok: bool) {
        assert_eq!(BucketName::parse(name).is_ok(), ok, "{name}");
        if let Err(e) = BucketName::parse(name) {
            assert_eq!(e.code, ErrorCode::InvalidBucketName);
        }
    }

    #[test]
    fn bucket_names() {
        for ok in ["abc", "my-bucket", "my.bucket.name", "a1b", "123", &"a".repeat(63), "1.2.3"] {
            check_bucket(ok, true);
        }
        for bad in [
            "",
            "ab",
            &"a".repeat(64),
            "My-Bucket",
            "my_bucket",
            "-abc",
            "abc-",
            ".abc",
            "abc.",
            "a..b",
            "192.168.1.1",
            "xn--abc",
            "sthree-abc",
            "amzn-s3-demo-bucket",
            "abc-s3alias",
            "abc--ol-s3",
            "abc.mrap",
            "abc--x-s3",
            "abc--table-s3",
            "a b c",
            "ab\u{e9}",
        ] {
            check_bucket(bad, false);
        }
    }

    #[test]
    fn object_keys() {
        for ok in ["a", "..", "//", " space ", "a+b", "\u{0}", "日本語", &"x".repeat(1024)] {
            assert_eq!(ObjectKey::parse(ok.to_owned()).unwrap().as_str(), ok);
        }
        assert_eq!(ObjectKey::parse(String::new()).unwrap_err().code, ErrorCode::InvalidArgument);
        let long = ObjectKey::parse("x".repeat(1025)).unwrap_err();
        assert_eq!(long.code, ErrorCode::KeyTooLongError);
        // 342 three-byte characters = 1026 bytes.
        let multibyte = "語".repeat(342);
        assert_eq!(ObjectKey::parse(multibyte).unwrap_err().code, ErrorCode::KeyTooLongError);
    }

    #[test]
    fn upload_ids() {
        assert!(UploadId::parse("abc-DEF_123.~").is_ok());
        for bad in ["", "a b", "é", &"a".repeat(257), "a\n"] {
            assert_eq!(UploadId::parse(bad).unwrap_err().code, ErrorCode::NoSuchUpload, "{bad:?}");
        }
    }

    fn check_part(text: &str, expected: Option<u16>) {
        match (PartNumber::parse(text), expected) {
            (Ok(p), Some(n)) => assert_eq!(p.get(), n),
            (Err(e), None) => assert_eq!(e.code, ErrorCode::InvalidArgument),
            (got, want) => panic!("{text:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn part_numbers() {
        check_part("1", Some(1));
        check_part("10000", Some(10_000));
        check_part("007", Some(7));
        check_part("0", None);
        check_part("10001", None);
        check_part("-1", None);
        check_part("+1", None);
        check_part("", None);
        check_part("1.0", None);
        check_part("99999999999999999999999", None);
        assert!(PartNumber::from_u32(0).is_err());
        assert_eq!(PartNumber::from_u32(5).unwrap().to_string(), "5");
    }

    #[test]
    fn etags() {
        let e = ETag::from_md5(&[0xab; 16]);
        assert_eq!(e.as_str(), "ab".repeat(16));
        assert_eq!(e.quoted(), format!("\"{}\"", "ab".repeat(16)));
        assert_eq!(e.md5_bytes(), Some([0xab; 16]));
        assert_eq!(ETag::parse_quoted_or_not("\"abc\"").as_str(), "abc");
        assert_eq!(ETag::parse_quoted_or_not("W/\"abc\"").as_str(), "abc");
        assert_eq!(ETag::parse_quoted_or_not(" abc ").as_str(), "abc");
        let etag = ETag::parse_quoted_or_not("abc-2");
        assert_eq!(etag.part_count(), Some(2));
        assert!(etag.matches("\"abc-2\""));
        assert!(etag.matches("W/\"abc-2\""));
        assert!(!etag.matches("abc"));
        assert!(etag.matches_list("\"x\", \"abc-2\""));
        assert!(etag.matches_list("*"));
        assert!(!etag.matches_list("\"x\",\"y\""));
    }

    proptest::proptest! {
        #[test]
        fn etag_quoting_round_trips(hex in "[0-9a-f]{32}(-[1-9][0-9]{0,3})?") {
            let etag = ETag::parse_quoted_or_not(&hex);
            proptest::prop_assert_eq!(etag.as_str(), hex.as_str());
            proptest::prop_assert_eq!(ETag::parse_quoted_or_not(&etag.quoted()), etag.clone());
            let list = format!("\"zz\", W/{}", etag.quoted());
            proptest::prop_assert!(etag.matches_list(&list));
        }

        #[test]
        fn part_numbers_round_trip(n in 1u16..=10_000) {
            let p = PartNumber::parse(&n.to_string()).unwrap();
            proptest::prop_assert_eq!(p.get(), n);
            proptest::prop_assert_eq!(PartNumber::parse(&p.to_string()).unwrap(), p);
        }

        #[test]
        fn name_parsers_never_panic(s in "\\PC{0,80}") {
            let _ = BucketName::parse(&s);
            let _ = UploadId::parse(&s);
            let _ = PartNumber::parse(&s);
            if let Ok(k) = ObjectKey::parse(s.clone()) {
                proptest::prop_assert_eq!(k.as_str(), s.as_str());
            }
        }
    }

    #[test]
    fn multipart_etag_known_answer() {
        // Cloudflare R2 worked example, see tests/data/checksums-and-etag.json.
        let parts = ["bce6bf66aeb76c7040fdd5f4eccb78e6", "8165449fc15bbf43d3b674595cbcc406"]
            .map(|h| ETag::parse_quoted_or_not(h).md5_bytes().unwrap());
        assert_eq!(ETag::multipart(&parts).as_str(), "f77dc0eecdebcd774a2a22cb393ad2ff-2");
    }
}
