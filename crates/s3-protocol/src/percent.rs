//! The one strict percent-decoder for request paths, queries and form-encoded headers.
//!
//! A lenient decoder (one that keeps `%`, `%f` or `%zz` as literal text) makes two URIs
//! name one key: `/b/a%zz` and `/b/a%25zz` would both store `a%zz`. S3 refuses such a URI
//! with `400 InvalidURI`; so every decoding of client input goes through [`decode`], which
//! answers `None` for a broken escape or for bytes that are not UTF-8.
//!
//! ```
//! use s3gate_protocol::percent::decode;
//!
//! assert_eq!(decode("a%20b+c").as_deref(), Some("a b+c"));
//! assert_eq!(decode("%zz"), None);
//! ```

/// Decodes every `%XX` escape (two hex digits, either case) once; every other byte stands for
/// itself (a `+` stays a plus). `None` when a `%` is not followed by two hex digits (`%`,
/// `%f`, `%zz`, `%%41`) or when the decoded bytes are not UTF-8.
pub fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    if !bytes.contains(&b'%') {
        return Some(text.to_owned());
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = hex_value(*bytes.get(i + 1)?)?;
            let lo = hex_value(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::decode;

    fn check(input: &str, expected: Option<&str>) {
        assert_eq!(decode(input).as_deref(), expected, "{input:?}");
    }

    #[test]
    fn cases() {
        check("", Some(""));
        check("plain", Some("plain"));
        check("a+b", Some("a+b"));
        check("a%20b", Some("a b"));
        check("%2f%2F", Some("//"));
        check("%25", Some("%"));
        check("%2541", Some("%41"));
        check("caf%C3%A9", Some("café"));
        check("日本", Some("日本"));
        check("%00", Some("\0"));
        // Broken escapes.
        check("%", None);
        check("a%", None);
        check("%f", None);
        check("%zz", None);
        check("%g0", None);
        check("%0g", None);
        check("%%41", None);
        check("%+1", None);
        check("% 1", None);
        // Not UTF-8: a lone byte, an overlong encoding, a surrogate, a cut sequence.
        check("%FF", None);
        check("%C0%AF", None);
        check("%ED%A0%80", None);
        check("%E6%97", None);
    }

    #[test]
    fn never_panics_and_round_trips() {
        for b in 0..=255u8 {
            let escaped = format!("%{b:02X}");
            let decoded = decode(&escaped);
            assert_eq!(decoded.is_some(), b < 0x80, "{escaped}");
            for cut in 0..escaped.len() {
                let _ = decode(&escaped[..cut]);
            }
        }
    }
}
