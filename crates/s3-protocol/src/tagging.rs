//! Object tag sets as the `x-amz-tagging` header carries them, with S3's limits.

use crate::error::{ErrorCode, S3Error};

/// Most tags one object may carry.
pub const MAX_TAGS: usize = 10;
/// Most tags one bucket may carry.
pub const MAX_BUCKET_TAGS: usize = 50;
/// Longest tag key, in characters.
pub const MAX_TAG_KEY_CHARS: usize = 128;
/// Longest tag value, in characters.
pub const MAX_TAG_VALUE_CHARS: usize = 256;

/// Whether `text` uses only the characters S3 allows in tag keys and values: letters, digits,
/// spaces and `+ - = . _ : / @` (the `[\p{L}\p{Z}\p{N}_.:/=+\-@]*` of AWS's tagging rules).
pub fn is_valid_tag_text(text: &str) -> bool {
    text.chars().all(|c| {
        c.is_alphanumeric()
            || matches!(c, '+' | '-' | '=' | '.' | '_' | ':' | '/' | '@')
            || (c.is_whitespace() && !c.is_control())
    })
}

/// Parses `x-amz-tagging` (`k1=v1&k2=v2`, form-URL-encoded: `+` is a space; a pair without
/// `=` is a tag with an empty value) and checks S3's limits: at most [`MAX_TAGS`] tags,
/// non-empty keys of at most [`MAX_TAG_KEY_CHARS`] characters, values of at most
/// [`MAX_TAG_VALUE_CHARS`], no key twice: violations are `InvalidArgument`, as on S3. A key or
/// value with a character S3 does not allow in tags ([`is_valid_tag_text`]), or a key with
/// AWS's reserved `aws:` prefix, is `InvalidTag`.
pub fn parse_tagging_header(raw: &str) -> Result<Vec<(String, String)>, S3Error> {
    let bad = |msg: &str| S3Error::with_message(ErrorCode::InvalidArgument, msg.to_owned());
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = form_decode(k).ok_or_else(|| bad("The TagKey you have provided is invalid"))?;
        let v = form_decode(v).ok_or_else(|| bad("The TagValue you have provided is invalid"))?;
        if k.is_empty() || k.chars().count() > MAX_TAG_KEY_CHARS {
            return Err(bad("The TagKey you have provided is invalid"));
        }
        if v.chars().count() > MAX_TAG_VALUE_CHARS {
            return Err(bad("The TagValue you have provided is invalid"));
        }
        if out.iter().any(|(ek, _)| *ek == k) {
            return Err(bad("Cannot provide multiple Tags with the same key"));
        }
        check_characters(&k, &v)?;
        out.push((k, v));
    }
    if out.len() > MAX_TAGS {
        return Err(bad("Object tags cannot be greater than 10"));
    }
    Ok(out)
}

/// Checks a tag set from a Tagging XML body (PutObjectTagging) against S3's limits, with the
/// codes S3 answers a body with: `InvalidTag` for a bad or repeated key or value, `BadRequest`
/// for more than [`MAX_TAGS`] tags.
pub fn check_tag_set(tags: &[(String, String)]) -> Result<(), S3Error> {
    check_tags(tags)?;
    if tags.len() > MAX_TAGS {
        return Err(S3Error::with_message(
            ErrorCode::BadRequest,
            "Object tags cannot be greater than 10",
        ));
    }
    Ok(())
}

/// Checks a PutBucketTagging tag set: the same rules for keys and values as
/// [`check_tag_set`], at most [`MAX_BUCKET_TAGS`] tags (`InvalidTag`, as AWS answers).
pub fn check_bucket_tag_set(tags: &[(String, String)]) -> Result<(), S3Error> {
    check_tags(tags)?;
    if tags.len() > MAX_BUCKET_TAGS {
        return Err(S3Error::with_message(
            ErrorCode::InvalidTag,
            "Bucket tag count cannot be greater than 50",
        ));
    }
    Ok(())
}

fn check_tags(tags: &[(String, String)]) -> Result<(), S3Error> {
    let invalid = |msg: &str| S3Error::with_message(ErrorCode::InvalidTag, msg.to_owned());
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.is_empty() || k.chars().count() > MAX_TAG_KEY_CHARS {
            return Err(invalid("The TagKey you have provided is invalid"));
        }
        if v.chars().count() > MAX_TAG_VALUE_CHARS {
            return Err(invalid("The TagValue you have provided is invalid"));
        }
        if tags[..i].iter().any(|(ek, _)| ek == k) {
            return Err(invalid("Cannot provide multiple Tags with the same key"));
        }
        check_characters(k, v)?;
    }
    Ok(())
}

fn check_characters(key: &str, value: &str) -> Result<(), S3Error> {
    let invalid = |msg: &str| S3Error::with_message(ErrorCode::InvalidTag, msg.to_owned());
    // AWS reserves the `aws:` prefix (any case) for its own tags.
    if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
        return Err(invalid("Your TagKey cannot be prefixed with aws:"));
    }
    if !is_valid_tag_text(key) {
        return Err(invalid("The TagKey you have provided is invalid"));
    }
    if !is_valid_tag_text(value) {
        return Err(invalid("The TagValue you have provided is invalid"));
    }
    Ok(())
}

/// Form-URL decoding (`+` is a space) to UTF-8; `None` for a broken escape or non-UTF-8.
fn form_decode(s: &str) -> Option<String> {
    crate::percent::decode(&s.replace('+', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raw: &str, expected: Result<&[(&str, &str)], ErrorCode>) {
        let got = parse_tagging_header(raw);
        match expected {
            Ok(tags) => {
                let want: Vec<(String, String)> =
                    tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
                assert_eq!(got.unwrap(), want, "{raw}");
            }
            Err(code) => assert_eq!(got.unwrap_err().code, code, "{raw}"),
        }
    }

    #[test]
    fn cases() {
        check("", Ok(&[]));
        check("a=1&b=2", Ok(&[("a", "1"), ("b", "2")]));
        check("k%20x=v+y", Ok(&[("k x", "v y")]));
        check("a%2Bb=c%40d", Ok(&[("a+b", "c@d")]));
        check("novalue", Ok(&[("novalue", "")]));
        check("foo=bar&bar", Ok(&[("foo", "bar"), ("bar", "")]));
        check("k=-_.:/=%2B@%20", Ok(&[("k", "-_.:/=+@ ")]));
        check("caf%C3%A9=%E6%97%A5%E6%9C%AC1", Ok(&[("café", "日本1")]));
        check("key%3F=v", Err(ErrorCode::InvalidTag));
        check("key*=v", Err(ErrorCode::InvalidTag));
        check("k=val%3F", Err(ErrorCode::InvalidTag));
        check("k=c%26d", Err(ErrorCode::InvalidTag));
        check("k=a%09b", Err(ErrorCode::InvalidTag));
        check("a=1&a=2", Err(ErrorCode::InvalidArgument));
        check("=v", Err(ErrorCode::InvalidArgument));
        check("%FF=v", Err(ErrorCode::InvalidArgument));
        check("%zz=v", Err(ErrorCode::InvalidArgument));
        check("k=%", Err(ErrorCode::InvalidArgument));
        check("k=a%2", Err(ErrorCode::InvalidArgument));
        check("aws:k=v", Err(ErrorCode::InvalidTag));
        check("AWS%3Ak=v", Err(ErrorCode::InvalidTag));
        check("Aws:=v", Err(ErrorCode::InvalidTag));
        check("awsk=v&k=aws:v", Ok(&[("awsk", "v"), ("k", "aws:v")]));
        check(&format!("{}=v", "k".repeat(129)), Err(ErrorCode::InvalidArgument));
        check(&format!("k={}", "v".repeat(257)), Err(ErrorCode::InvalidArgument));
        let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        check(&eleven.join("&"), Err(ErrorCode::InvalidArgument));
    }

    #[test]
    fn tag_set_limits() {
        let set = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
        };
        assert!(check_tag_set(&set(&[("a", "1"), ("b", "")])).is_ok());
        assert!(check_tag_set(&[]).is_ok());
        let code = |tags: &[(String, String)]| check_tag_set(tags).unwrap_err().code;
        assert_eq!(code(&set(&[("a", "1"), ("a", "2")])), ErrorCode::InvalidTag);
        assert_eq!(code(&set(&[("", "1")])), ErrorCode::InvalidTag);
        assert_eq!(code(&set(&[("key?", "1")])), ErrorCode::InvalidTag);
        assert_eq!(code(&set(&[("key*", "1")])), ErrorCode::InvalidTag);
        assert_eq!(code(&set(&[("key", "val?")])), ErrorCode::InvalidTag);
        assert_eq!(code(&set(&[("aws:cloudformation", "1")])), ErrorCode::InvalidTag);
        assert_eq!(code(&set(&[("aWs:x", "1")])), ErrorCode::InvalidTag);
        let reserved = check_tag_set(&set(&[("AWS:x", "1")])).unwrap_err();
        assert_eq!(reserved.message, "Your TagKey cannot be prefixed with aws:");
        assert!(check_tag_set(&set(&[("k", "aws:v"), ("aws", "")])).is_ok());
        assert!(check_tag_set(&set(&[("a b", "x-y_z.:/=+@")])).is_ok());
        assert_eq!(code(&[("k".repeat(129), String::new())]), ErrorCode::InvalidTag);
        assert_eq!(code(&[("k".to_owned(), "v".repeat(257))]), ErrorCode::InvalidTag);
        // Limits count characters, not bytes.
        assert!(check_tag_set(&[("é".repeat(128), "é".repeat(256))]).is_ok());
        let eleven: Vec<(String, String)> =
            (0..11).map(|i| (format!("k{i}"), String::new())).collect();
        assert_eq!(code(&eleven), ErrorCode::BadRequest);
    }
}
