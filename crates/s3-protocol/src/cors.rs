//! Cross-origin resource sharing (CORS) as S3 does it: the bucket's `CORSConfiguration`
//! document (parsed and validated as PutBucketCors validates it, rendered as GetBucketCors
//! answers), and the pure decision of which rule answers a preflight `OPTIONS` or an actual
//! request, with the `Access-Control-*` headers that rule yields.
//!
//! Matching follows AWS: the first rule whose `AllowedOrigin` (at most one `*` wildcard,
//! case-sensitive), `AllowedMethod` (exact) and, for a preflight, every name of
//! `Access-Control-Request-Headers` (`AllowedHeader`, at most one `*`, case-insensitive)
//! match. One choice is stricter than AWS: a reflected origin gets
//! `Access-Control-Allow-Credentials: true` only when the rule names that origin exactly (an
//! `AllowedOrigin` of `*` answers `*` and never allows credentials; a pattern such as
//! `https://*.example.com` reflects the origin without credentials), so that a wildcard rule
//! can never hand a credentialed response to any site that matches it.
//!
//! ```
//! use s3gate_protocol::cors::parse_cors_configuration;
//!
//! let config = parse_cors_configuration(br#"<CORSConfiguration>
//!   <CORSRule><AllowedOrigin>https://*.example.com</AllowedOrigin>
//!     <AllowedMethod>PUT</AllowedMethod><AllowedHeader>x-amz-*</AllowedHeader>
//!     <MaxAgeSeconds>600</MaxAgeSeconds></CORSRule>
//! </CORSConfiguration>"#)?;
//! let rule = config.preflight("https://app.example.com", "PUT", &["x-amz-meta-a"]).unwrap();
//! let headers = rule.preflight_headers("https://app.example.com", &["x-amz-meta-a"]);
//! assert!(headers.contains(&("access-control-allow-origin", "https://app.example.com".into())));
//! assert!(headers.contains(&("access-control-max-age", "600".into())));
//! assert!(config.preflight("https://app.example.com", "DELETE", &[]).is_none());
//! # Ok::<(), s3gate_protocol::S3Error>(())
//! ```

use crate::error::{ErrorCode, S3Error};
use crate::xml::{Element, Writer, expect_root, malformed, parse_document};

/// Largest PutBucketCors body accepted.
pub const MAX_CORS_BODY: usize = 64 * 1024;
/// Most rules a configuration may hold (AWS: 100).
pub const MAX_CORS_RULES: usize = 100;
/// Longest rule `ID` (AWS: 255 characters).
pub const MAX_RULE_ID: usize = 255;
/// The methods a rule may allow.
pub const CORS_METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

/// One `CORSRule`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsRule {
    /// `ID`.
    pub id: Option<String>,
    /// `AllowedHeader`s, as written (matched case-insensitively).
    pub allowed_headers: Vec<String>,
    /// `AllowedMethod`s (each one of [`CORS_METHODS`]).
    pub allowed_methods: Vec<String>,
    /// `AllowedOrigin`s (each with at most one `*`).
    pub allowed_origins: Vec<String>,
    /// `ExposeHeader`s.
    pub expose_headers: Vec<String>,
    /// `MaxAgeSeconds`.
    pub max_age_seconds: Option<u32>,
}

/// A bucket's `CORSConfiguration`: 1 to [`MAX_CORS_RULES`] rules, in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsConfiguration {
    /// The rules, first match wins.
    pub rules: Vec<CorsRule>,
}

fn invalid_request(message: String) -> S3Error {
    S3Error::with_message(ErrorCode::InvalidRequest, message)
}

/// Parses and validates a PutBucketCors body as S3 does: structure errors and unknown
/// elements are `MalformedXML`; no rule, more than [`MAX_CORS_RULES`], a rule without an
/// origin or a method, or a `MaxAgeSeconds` that is not a number are `MalformedXML`; an
/// unsupported method, an origin or header with more than one `*`, or a wildcard
/// `ExposeHeader` are `InvalidRequest` with AWS's messages; an `ID` over 255 characters is
/// `InvalidArgument`.
pub fn parse_cors_configuration(body: &[u8]) -> Result<CorsConfiguration, S3Error> {
    let root = parse_document(body, MAX_CORS_BODY)?;
    expect_root(&root, "CORSConfiguration")?;
    if root.children.iter().any(|c| c.name != "CORSRule") || root.children.is_empty() {
        return Err(malformed());
    }
    if root.children.len() > MAX_CORS_RULES {
        return Err(S3Error::with_message(
            ErrorCode::MalformedXML,
            format!("A CORS configuration may hold at most {MAX_CORS_RULES} rules."),
        ));
    }
    let rules = root.children.iter().map(parse_rule).collect::<Result<Vec<_>, _>>()?;
    Ok(CorsConfiguration { rules })
}

fn parse_rule(el: &Element) -> Result<CorsRule, S3Error> {
    let mut rule = CorsRule::default();
    for c in &el.children {
        let text = c.text.trim().to_owned();
        match c.name.as_str() {
            "ID" if rule.id.is_none() => {
                if text.chars().count() > MAX_RULE_ID {
                    return Err(S3Error::with_message(
                        ErrorCode::InvalidArgument,
                        "The ID length should not exceed allowed limit of 255",
                    ));
                }
                rule.id = Some(c.text.clone());
            }
            "AllowedMethod" => {
                if !CORS_METHODS.contains(&text.as_str()) {
                    return Err(invalid_request(format!(
                        "Found unsupported HTTP method in CORS config. Unsupported method is {text}"
                    )));
                }
                rule.allowed_methods.push(text);
            }
            "AllowedOrigin" => {
                if text.matches('*').count() > 1 {
                    return Err(invalid_request(format!(
                        "AllowedOrigin \"{text}\" can not have more than one wildcard."
                    )));
                }
                rule.allowed_origins.push(text);
            }
            "AllowedHeader" => {
                if text.matches('*').count() > 1 {
                    return Err(invalid_request(format!(
                        "AllowedHeader \"{text}\" can not have more than one wildcard."
                    )));
                }
                rule.allowed_headers.push(text);
            }
            "ExposeHeader" => {
                if text.contains('*') {
                    return Err(invalid_request(format!(
                        "ExposeHeader \"{text}\" contains wildcard. We currently do not support wildcard for ExposeHeader."
                    )));
                }
                rule.expose_headers.push(text);
            }
            "MaxAgeSeconds" if rule.max_age_seconds.is_none() => {
                let n = text.parse::<i64>().map_err(|_| malformed())?;
                // AWS keeps negative values as sent; a browser ignores them. Clamp to u32.
                rule.max_age_seconds = Some(u32::try_from(n.max(0)).unwrap_or(u32::MAX));
            }
            _ => return Err(malformed()),
        }
    }
    if rule.allowed_methods.is_empty() || rule.allowed_origins.is_empty() {
        return Err(malformed());
    }
    Ok(rule)
}

impl CorsConfiguration {
    /// The GetBucketCors body.
    pub fn to_xml(&self) -> String {
        let mut w = Writer::new("CORSConfiguration");
        for r in &self.rules {
            w.open("CORSRule");
            w.opt("ID", r.id.as_deref());
            for h in &r.allowed_headers {
                w.elem("AllowedHeader", h);
            }
            for m in &r.allowed_methods {
                w.elem("AllowedMethod", m);
            }
            for o in &r.allowed_origins {
                w.elem("AllowedOrigin", o);
            }
            for h in &r.expose_headers {
                w.elem("ExposeHeader", h);
            }
            if let Some(n) = r.max_age_seconds {
                w.num("MaxAgeSeconds", n);
            }
            w.close("CORSRule");
        }
        w.finish("CORSConfiguration")
    }

    /// The rule answering a preflight from `origin` for `method` (the
    /// `Access-Control-Request-Method`) with `request_headers` (the names of
    /// `Access-Control-Request-Headers`), or `None` (403 AccessForbidden).
    pub fn preflight(
        &self,
        origin: &str,
        method: &str,
        request_headers: &[&str],
    ) -> Option<&CorsRule> {
        self.rules.iter().find(|r| {
            r.origin_match(origin).is_some()
                && r.allowed_methods.iter().any(|m| m == method)
                && request_headers
                    .iter()
                    .all(|h| r.allowed_headers.iter().any(|p| wildcard_match(p, h, true)))
        })
    }

    /// The rule whose headers an actual request from `origin` with `method` gets, if any.
    pub fn actual(&self, origin: &str, method: &str) -> Option<&CorsRule> {
        self.rules.iter().find(|r| {
            r.origin_match(origin).is_some() && r.allowed_methods.iter().any(|m| m == method)
        })
    }
}

/// How a rule's origin matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OriginMatch {
    /// `AllowedOrigin` `*`: answer `*`, no credentials.
    Any,
    /// A pattern with a wildcard: reflect the origin, no credentials.
    Pattern,
    /// The origin itself: reflect it, credentials allowed.
    Exact,
}

impl CorsRule {
    fn origin_match(&self, origin: &str) -> Option<OriginMatch> {
        let mut best = None;
        for p in &self.allowed_origins {
            let m = if p == "*" {
                OriginMatch::Any
            } else if !p.contains('*') && p == origin {
                OriginMatch::Exact
            } else if p.contains('*') && wildcard_match(p, origin, false) {
                OriginMatch::Pattern
            } else {
                continue;
            };
            // The most specific allowance wins (an exact name over a pattern over `*`).
            best = Some(match (best, m) {
                (Some(OriginMatch::Exact), _) | (_, OriginMatch::Exact) => OriginMatch::Exact,
                (Some(OriginMatch::Pattern), _) | (_, OriginMatch::Pattern) => OriginMatch::Pattern,
                _ => OriginMatch::Any,
            });
        }
        best
    }

    /// The headers an actual response to `origin` carries under this rule (which matched):
    /// `Access-Control-Allow-Origin`, `-Allow-Methods`, `-Expose-Headers`, `-Max-Age`,
    /// `-Allow-Credentials` (see the module docs) and `Vary: Origin`.
    pub fn response_headers(&self, origin: &str) -> Vec<(&'static str, String)> {
        let mut out = Vec::with_capacity(6);
        match self.origin_match(origin) {
            Some(OriginMatch::Any) => out.push(("access-control-allow-origin", "*".to_owned())),
            Some(OriginMatch::Pattern) => {
                out.push(("access-control-allow-origin", origin.to_owned()));
            }
            Some(OriginMatch::Exact) => {
                out.push(("access-control-allow-origin", origin.to_owned()));
                out.push(("access-control-allow-credentials", "true".to_owned()));
            }
            None => return out,
        }
        out.push(("access-control-allow-methods", self.allowed_methods.join(", ")));
        if !self.expose_headers.is_empty() {
            out.push(("access-control-expose-headers", self.expose_headers.join(", ")));
        }
        if let Some(n) = self.max_age_seconds {
            out.push(("access-control-max-age", n.to_string()));
        }
        out.push(("vary", "Origin".to_owned()));
        out
    }

    /// The headers of a successful preflight: [`response_headers`](Self::response_headers)
    /// plus `Access-Control-Allow-Headers` echoing the requested names, and a `Vary` that
    /// names the request headers the answer depends on.
    pub fn preflight_headers(
        &self,
        origin: &str,
        request_headers: &[&str],
    ) -> Vec<(&'static str, String)> {
        let mut out = self.response_headers(origin);
        if !request_headers.is_empty() {
            out.push(("access-control-allow-headers", request_headers.join(", ")));
        }
        for (name, value) in &mut out {
            if *name == "vary" {
                *value =
                    "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".into();
            }
        }
        out
    }
}

/// The names of an `Access-Control-Request-Headers` value: comma-separated, trimmed,
/// lowercased, empty items dropped.
pub fn request_header_names(value: &str) -> Vec<String> {
    value.split(',').map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect()
}

/// `pattern` (with at most one `*`, matching any run of characters) against `value`.
fn wildcard_match(pattern: &str, value: &str, ignore_case: bool) -> bool {
    if ignore_case {
        return wildcard_match(&pattern.to_ascii_lowercase(), &value.to_ascii_lowercase(), false);
    }
    match pattern.split_once('*') {
        None => pattern == value,
        Some((prefix, suffix)) => {
            value.len() >= prefix.len() + suffix.len()
                && value.starts_with(prefix)
                && value.ends_with(suffix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(rules: &str) -> CorsConfiguration {
        parse_cors_configuration(
            format!("<CORSConfiguration>{rules}</CORSConfiguration>").as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn wildcards() {
        let check = |p: &str, v: &str, ic: bool, want: bool| {
            assert_eq!(wildcard_match(p, v, ic), want, "{p} {v}");
        };
        check("*", "", false, true);
        check("*", "anything", false, true);
        check("*suffix", "foo.suffix", false, true);
        check("*suffix", "foo.suffix.get", false, false);
        check("start*end", "startend", false, true);
        check("start*end", "start12end", false, true);
        check("start*end", "0start12end", false, false);
        check("start*end", "startendx", false, false);
        check("abab*ab", "ababab", false, true);
        check("abab*ab", "ababa", false, false);
        check("abab*ab", "abababx", false, false);
        check("abab*ab", "abab-ab", false, true);
        check("prefix*", "prefix", false, true);
        check("prefix*", "bla.prefix", false, false);
        check("https://a.test", "https://a.test", false, true);
        check("https://a.test", "https://A.test", false, false);
        check("X-Amz-*", "x-amz-meta-a", true, true);
        check("content-type", "Content-Type", true, true);
    }

    #[test]
    fn parse_and_render_round_trip() {
        let body = "<CORSConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
            <CORSRule><ID>r1</ID><AllowedOrigin>*.get</AllowedOrigin><AllowedOrigin>*.put</AllowedOrigin>\
            <AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>\
            <AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader>\
            <MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule>\
            <CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>HEAD</AllowedMethod></CORSRule>\
            </CORSConfiguration>";
        let c = parse_cors_configuration(body.as_bytes()).unwrap();
        assert_eq!(c.rules.len(), 2);
        assert_eq!(c.rules[0].allowed_origins, ["*.get", "*.put"]);
        assert_eq!(c.rules[0].max_age_seconds, Some(3000));
        let xml = c.to_xml();
        assert!(xml.contains(
            "<CORSRule><ID>r1</ID><AllowedHeader>*</AllowedHeader><AllowedMethod>GET</AllowedMethod>\
             <AllowedMethod>PUT</AllowedMethod><AllowedOrigin>*.get</AllowedOrigin>\
             <AllowedOrigin>*.put</AllowedOrigin><ExposeHeader>ETag</ExposeHeader>\
             <MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule>"
        ), "{xml}");
        assert_eq!(parse_cors_configuration(xml.as_bytes()).unwrap(), c);
    }

    #[test]
    fn validation() {
        let check = |rules: &str, want: Option<(ErrorCode, &str)>| {
            let body = format!("<CORSConfiguration>{rules}</CORSConfiguration>");
            match (parse_cors_configuration(body.as_bytes()), want) {
                (Ok(_), None) => {}
                (Err(e), Some((code, msg))) => {
                    assert_eq!(e.code, code, "{rules}: {}", e.message);
                    assert!(e.message.contains(msg), "{rules}: {}", e.message);
                }
                (got, want) => panic!("{rules}: got {got:?}, want {want:?}"),
            }
        };
        let ok = "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>";
        check(&format!("<CORSRule>{ok}</CORSRule>"), None);
        check("", Some((ErrorCode::MalformedXML, "")));
        check(
            "<CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule>",
            Some((ErrorCode::MalformedXML, "")),
        );
        check(
            "<CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>",
            Some((ErrorCode::MalformedXML, "")),
        );
        check(
            "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod></CORSRule>",
            Some((ErrorCode::InvalidRequest, "Unsupported method is PATCH")),
        );
        check(
            "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>get</AllowedMethod></CORSRule>",
            Some((ErrorCode::InvalidRequest, "Unsupported method is get")),
        );
        check(
            "<CORSRule><AllowedOrigin>*.a*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>",
            Some((ErrorCode::InvalidRequest, "can not have more than one wildcard")),
        );
        check(
            &format!("<CORSRule>{ok}<AllowedHeader>x-*-*</AllowedHeader></CORSRule>"),
            Some((ErrorCode::InvalidRequest, "AllowedHeader \"x-*-*\"")),
        );
        check(
            &format!("<CORSRule>{ok}<ExposeHeader>x-amz-*</ExposeHeader></CORSRule>"),
            Some((ErrorCode::InvalidRequest, "contains wildcard")),
        );
        check(
            &format!("<CORSRule>{ok}<MaxAgeSeconds>soon</MaxAgeSeconds></CORSRule>"),
            Some((ErrorCode::MalformedXML, "")),
        );
        check(
            &format!("<CORSRule>{ok}<ID>{}</ID></CORSRule>", "i".repeat(256)),
            Some((ErrorCode::InvalidArgument, "255")),
        );
        check(&format!("<CORSRule>{ok}<Bogus/></CORSRule>"), Some((ErrorCode::MalformedXML, "")));
        check(&format!("<CORSRule>{ok}</CORSRule><Other/>"), Some((ErrorCode::MalformedXML, "")));
        let hundred = format!("<CORSRule>{ok}</CORSRule>").repeat(100);
        check(&hundred, None);
        check(
            &format!("{hundred}<CORSRule>{ok}</CORSRule>"),
            Some((ErrorCode::MalformedXML, "100")),
        );
        assert!(parse_cors_configuration(b"<Other/>").is_err());
    }

    #[test]
    fn matching() {
        let c = config(
            "<CORSRule><AllowedOrigin>*suffix</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>\
             <CORSRule><AllowedOrigin>https://app.test</AllowedOrigin><AllowedMethod>PUT</AllowedMethod>\
             <AllowedMethod>POST</AllowedMethod><AllowedHeader>x-amz-*</AllowedHeader>\
             <AllowedHeader>Content-Type</AllowedHeader></CORSRule>\
             <CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>HEAD</AllowedMethod></CORSRule>",
        );
        // (origin, method, request headers) -> index of the rule, or None.
        let check = |o: &str, m: &str, h: &[&str], want: Option<usize>| {
            let got = c.preflight(o, m, h).map(|r| c.rules.iter().position(|x| x == r).unwrap());
            assert_eq!(got, want, "{o} {m} {h:?}");
        };
        check("foo.suffix", "GET", &[], Some(0));
        check("foo.suffix", "PUT", &[], None);
        check("foo.suffix", "GET", &["x-amz-meta-a"], None);
        check("https://app.test", "PUT", &["x-amz-meta-a", "content-type"], Some(1));
        check("https://app.test", "PUT", &["authorization"], None);
        check("https://app.test", "DELETE", &[], None);
        check("https://other.test", "HEAD", &[], Some(2));
        check("https://other.test", "GET", &[], None);
        assert!(c.actual("foo.suffix", "GET").is_some());
        assert!(c.actual("foo.suffix", "PUT").is_none());
    }

    #[test]
    fn headers_and_credentials() {
        let c = config(
            "<CORSRule><AllowedOrigin>https://app.test</AllowedOrigin><AllowedOrigin>https://*.test</AllowedOrigin>\
             <AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>\
             <ExposeHeader>ETag</ExposeHeader><ExposeHeader>x-amz-request-id</ExposeHeader>\
             <MaxAgeSeconds>60</MaxAgeSeconds></CORSRule>\
             <CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>",
        );
        let h = c.actual("https://app.test", "GET").unwrap().response_headers("https://app.test");
        assert_eq!(
            h,
            [
                ("access-control-allow-origin", "https://app.test".to_owned()),
                ("access-control-allow-credentials", "true".to_owned()),
                ("access-control-allow-methods", "GET, PUT".to_owned()),
                ("access-control-expose-headers", "ETag, x-amz-request-id".to_owned()),
                ("access-control-max-age", "60".to_owned()),
                ("vary", "Origin".to_owned()),
            ]
        );
        // A pattern reflects the origin without credentials.
        let h = c.actual("https://evil.test", "GET").unwrap().response_headers("https://evil.test");
        assert_eq!(h[0], ("access-control-allow-origin", "https://evil.test".to_owned()));
        assert!(h.iter().all(|(n, _)| *n != "access-control-allow-credentials"));
        // `*` answers `*`.
        let h = c.actual("http://x.example", "GET").unwrap().response_headers("http://x.example");
        assert_eq!(h[0], ("access-control-allow-origin", "*".to_owned()));
        assert!(h.iter().all(|(n, _)| *n != "access-control-allow-credentials"));
        let p = c.rules[0].preflight_headers("https://app.test", &["x-amz-date"]);
        assert!(p.contains(&("access-control-allow-headers", "x-amz-date".to_owned())));
        assert!(p.iter().any(|(n, v)| *n == "vary" && v.contains("Access-Control-Request-Method")));
        assert_eq!(
            request_header_names(" X-Amz-Date ,, content-type"),
            ["x-amz-date", "content-type"]
        );
    }
}
