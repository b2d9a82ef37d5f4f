//! Static website hosting as S3 does it: the bucket's `WebsiteConfiguration` (parsed and
//! validated as PutBucketWebsite validates it, rendered as GetBucketWebsite answers), the
//! website host names (`<bucket>.<website domain>`), and the pure decisions of a website
//! request: which object a path names (the index document of a "folder"), which routing rule
//! redirects it before or after a lookup, and where.
//!
//! The server does the lookups; this module only decides, so every rule is a table test.
//!
//! ```
//! use s3gate_protocol::website::{Step, WebsiteRequest, parse_website_configuration};
//!
//! let config = parse_website_configuration(br#"<WebsiteConfiguration>
//!   <IndexDocument><Suffix>index.html</Suffix></IndexDocument>
//!   <RoutingRules><RoutingRule>
//!     <Condition><KeyPrefixEquals>old/</KeyPrefixEquals></Condition>
//!     <Redirect><ReplaceKeyPrefixWith>new/</ReplaceKeyPrefixWith></Redirect>
//!   </RoutingRule></RoutingRules>
//! </WebsiteConfiguration>"#)?;
//! let req = |key| WebsiteRequest { key, host: "site.web.test", https: false };
//! assert_eq!(config.first_step(&req("docs/")), Step::Serve { key: "docs/index.html".into() });
//! assert_eq!(
//!     config.first_step(&req("old/a.html")),
//!     Step::Redirect { status: 301, location: "http://site.web.test/new/a.html".into() }
//! );
//! # Ok::<(), s3gate_protocol::S3Error>(())
//! ```

use crate::error::{ErrorCode, S3Error};
use crate::xml::{Element, Writer, expect_root, malformed, parse_document, url_encode};

/// Largest PutBucketWebsite body accepted.
pub const MAX_WEBSITE_BODY: usize = 64 * 1024;
/// Most routing rules a configuration may hold (AWS: 50).
pub const MAX_ROUTING_RULES: usize = 50;

/// The children a `WebsiteConfiguration` may have.
const TOP_ELEMENTS: [&str; 4] =
    ["RedirectAllRequestsTo", "IndexDocument", "ErrorDocument", "RoutingRules"];
/// The children a rule's `Condition` may have.
const CONDITION_ELEMENTS: [&str; 2] = ["KeyPrefixEquals", "HttpErrorCodeReturnedEquals"];
/// The children a rule's `Redirect` may have.
const REDIRECT_ELEMENTS: [&str; 5] =
    ["HostName", "HttpRedirectCode", "Protocol", "ReplaceKeyPrefixWith", "ReplaceKeyWith"];

/// `RedirectAllRequestsTo` and a rule's `Redirect` protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `http`.
    Http,
    /// `https`.
    Https,
}

impl Protocol {
    fn parse(text: &str) -> Result<Self, S3Error> {
        match text {
            "http" => Ok(Self::Http),
            "https" => Ok(Self::Https),
            _ => Err(invalid(
                "Invalid protocol, protocol can be http or https. If not defined the protocol will be selected automatically.",
            )),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// `RedirectAllRequestsTo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectAll {
    /// `HostName`.
    pub host_name: String,
    /// `Protocol`; the request's when absent.
    pub protocol: Option<Protocol>,
}

/// A routing rule's `Condition`: every element given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Condition {
    /// `KeyPrefixEquals`.
    pub key_prefix_equals: Option<String>,
    /// `HttpErrorCodeReturnedEquals` (a 4xx or 5xx status).
    pub http_error_code_returned_equals: Option<u16>,
}

/// A routing rule's `Redirect`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redirect {
    /// `HostName`; the request's host when absent.
    pub host_name: Option<String>,
    /// `HttpRedirectCode` (3xx); 301 when absent.
    pub http_redirect_code: Option<u16>,
    /// `Protocol`; the request's when absent.
    pub protocol: Option<Protocol>,
    /// `ReplaceKeyPrefixWith`: replaces the condition's `KeyPrefixEquals` (all of the key's
    /// start when the condition has none: the string is prefixed).
    pub replace_key_prefix_with: Option<String>,
    /// `ReplaceKeyWith`: the whole key.
    pub replace_key_with: Option<String>,
}

/// One `RoutingRule`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutingRule {
    /// `Condition`; a rule without one applies to every request.
    pub condition: Option<Condition>,
    /// `Redirect`.
    pub redirect: Redirect,
}

/// A bucket's `WebsiteConfiguration`: either every request redirected elsewhere, or an index
/// document with an optional error document and routing rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebsiteConfiguration {
    /// `RedirectAllRequestsTo`.
    RedirectAll(RedirectAll),
    /// `IndexDocument` + `ErrorDocument` + `RoutingRules`.
    Site {
        /// `IndexDocument/Suffix`: appended to a path that ends in `/`.
        index_suffix: String,
        /// `ErrorDocument/Key`: served, with the error's status, for a 4xx.
        error_key: Option<String>,
        /// `RoutingRules`, first match wins.
        rules: Vec<RoutingRule>,
    },
}

/// What the server knows of a website request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebsiteRequest<'a> {
    /// The object key the path names: percent-decoded, without the leading `/` (empty for
    /// the site's root).
    pub key: &'a str,
    /// The request's `Host`, as sent (a redirect without a host name keeps it).
    pub host: &'a str,
    /// Whether the request came over TLS (a redirect without a protocol keeps it).
    pub https: bool,
}

/// What to do next with a website request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Answer with this status and `Location`.
    Redirect {
        /// 3xx status.
        status: u16,
        /// `Location`.
        location: String,
    },
    /// Look this object up and serve it.
    Serve {
        /// The object's key.
        key: String,
    },
}

fn invalid(message: &str) -> S3Error {
    S3Error::with_message(ErrorCode::InvalidArgument, message)
}

fn text_of(el: &Element, name: &str) -> Result<Option<String>, S3Error> {
    Ok(el.child(name)?.map(|c| c.text.trim().to_owned()))
}

/// Parses and validates a PutBucketWebsite body as S3 does: structure errors and unknown
/// elements are `MalformedXML`; `RedirectAllRequestsTo` beside anything else, no
/// `IndexDocument` without it, an empty suffix or one with `/`, a redirect without any target,
/// both `ReplaceKeyWith` and `ReplaceKeyPrefixWith`, a status code out of its class, a bad
/// protocol or more than [`MAX_ROUTING_RULES`] rules are `InvalidArgument` (AWS's messages
/// where AWS documents them).
pub fn parse_website_configuration(body: &[u8]) -> Result<WebsiteConfiguration, S3Error> {
    let root = parse_document(body, MAX_WEBSITE_BODY)?;
    expect_root(&root, "WebsiteConfiguration")?;
    if root.children.iter().any(|c| !TOP_ELEMENTS.contains(&c.name.as_str())) {
        return Err(malformed());
    }
    if let Some(all) = root.child("RedirectAllRequestsTo")? {
        if root.children.len() > 1 {
            return Err(invalid(
                "RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules.",
            ));
        }
        if all.children.iter().any(|c| c.name != "HostName" && c.name != "Protocol") {
            return Err(malformed());
        }
        let host_name = text_of(all, "HostName")?
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("RedirectAllRequestsTo must have a HostName"))?;
        let protocol = text_of(all, "Protocol")?.map(|p| Protocol::parse(&p)).transpose()?;
        return Ok(WebsiteConfiguration::RedirectAll(RedirectAll { host_name, protocol }));
    }
    let index = root.child("IndexDocument")?.ok_or_else(|| {
        invalid(
            "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty",
        )
    })?;
    if index.children.iter().any(|c| c.name != "Suffix") {
        return Err(malformed());
    }
    let index_suffix = text_of(index, "Suffix")?.unwrap_or_default();
    if index_suffix.is_empty() || index_suffix.contains('/') {
        return Err(invalid("The IndexDocument Suffix is not well formed"));
    }
    let error_key = match root.child("ErrorDocument")? {
        Some(e) => {
            if e.children.iter().any(|c| c.name != "Key") {
                return Err(malformed());
            }
            let key = text_of(e, "Key")?.unwrap_or_default();
            if key.is_empty() {
                return Err(invalid("The ErrorDocument Key is not well formed"));
            }
            Some(key)
        }
        None => None,
    };
    let rules = match root.child("RoutingRules")? {
        Some(rules) => {
            if rules.children.iter().any(|c| c.name != "RoutingRule") {
                return Err(malformed());
            }
            if rules.children.len() > MAX_ROUTING_RULES {
                return Err(invalid("The number of routing rules must not exceed 50"));
            }
            rules.children.iter().map(parse_rule).collect::<Result<Vec<_>, _>>()?
        }
        None => Vec::new(),
    };
    Ok(WebsiteConfiguration::Site { index_suffix, error_key, rules })
}

/// The redirect codes AWS accepts in `HttpRedirectCode` ("3XX except 300"; 306 is unused).
const REDIRECT_CODES: [u16; 7] = [301, 302, 303, 304, 305, 307, 308];

fn parse_redirect_code(text: &str) -> Result<u16, S3Error> {
    match text.parse::<u16>() {
        Ok(n) if REDIRECT_CODES.contains(&n) => Ok(n),
        _ => Err(invalid(&format!(
            "The provided HTTP redirect code ({text}) is not valid. Valid codes are 3XX except 300."
        ))),
    }
}

fn parse_rule(el: &Element) -> Result<RoutingRule, S3Error> {
    if el.children.iter().any(|c| c.name != "Condition" && c.name != "Redirect") {
        return Err(malformed());
    }
    let condition = match el.child("Condition")? {
        Some(c) => {
            if c.children.iter().any(|e| !CONDITION_ELEMENTS.contains(&e.name.as_str())) {
                return Err(malformed());
            }
            let key_prefix_equals = text_of(c, "KeyPrefixEquals")?;
            let code = text_of(c, "HttpErrorCodeReturnedEquals")?;
            let http_error_code_returned_equals = match code {
                Some(t) => match t.parse::<u16>() {
                    Ok(n) if (400..600).contains(&n) => Some(n),
                    _ => {
                        return Err(invalid(&format!(
                            "The provided HTTP error code ({t}) is not valid. Valid codes are 4XX or 5XX."
                        )));
                    }
                },
                None => None,
            };
            if key_prefix_equals.is_none() && http_error_code_returned_equals.is_none() {
                return Err(invalid(
                    "Condition cannot be empty. To redirect all requests without a condition, the condition element shouldn't be present.",
                ));
            }
            Some(Condition { key_prefix_equals, http_error_code_returned_equals })
        }
        None => None,
    };
    let r = el
        .child("Redirect")?
        .ok_or_else(|| invalid("Redirect must be provided in a RoutingRule"))?;
    if r.children.iter().any(|e| !REDIRECT_ELEMENTS.contains(&e.name.as_str())) {
        return Err(malformed());
    }
    if r.children.is_empty() {
        return Err(invalid(
            "Redirect must contain at least one of the following: HostName, HttpRedirectCode, Protocol, ReplaceKeyPrefixWith, ReplaceKeyWith",
        ));
    }
    let redirect = Redirect {
        host_name: text_of(r, "HostName")?,
        http_redirect_code: text_of(r, "HttpRedirectCode")?
            .map(|t| parse_redirect_code(&t))
            .transpose()?,
        protocol: text_of(r, "Protocol")?.map(|p| Protocol::parse(&p)).transpose()?,
        replace_key_prefix_with: r.child("ReplaceKeyPrefixWith")?.map(|c| c.text.clone()),
        replace_key_with: r.child("ReplaceKeyWith")?.map(|c| c.text.clone()),
    };
    if redirect.replace_key_prefix_with.is_some() && redirect.replace_key_with.is_some() {
        return Err(invalid("You can only define ReplaceKeyPrefix or ReplaceKey but not both."));
    }
    Ok(RoutingRule { condition, redirect })
}

impl WebsiteConfiguration {
    /// The GetBucketWebsite body.
    pub fn to_xml(&self) -> String {
        let mut w = Writer::new("WebsiteConfiguration");
        match self {
            Self::RedirectAll(all) => {
                w.open("RedirectAllRequestsTo");
                w.elem("HostName", &all.host_name);
                w.opt("Protocol", all.protocol.map(Protocol::as_str));
                w.close("RedirectAllRequestsTo");
            }
            Self::Site { index_suffix, error_key, rules } => {
                w.open("IndexDocument");
                w.elem("Suffix", index_suffix);
                w.close("IndexDocument");
                if let Some(key) = error_key {
                    w.open("ErrorDocument");
                    w.elem("Key", key);
                    w.close("ErrorDocument");
                }
                if !rules.is_empty() {
                    w.open("RoutingRules");
                    for rule in rules {
                        w.open("RoutingRule");
                        if let Some(c) = &rule.condition {
                            w.open("Condition");
                            w.opt(
                                "HttpErrorCodeReturnedEquals",
                                c.http_error_code_returned_equals.map(|n| n.to_string()).as_deref(),
                            );
                            w.opt("KeyPrefixEquals", c.key_prefix_equals.as_deref());
                            w.close("Condition");
                        }
                        let r = &rule.redirect;
                        w.open("Redirect");
                        w.opt("HostName", r.host_name.as_deref());
                        w.opt(
                            "HttpRedirectCode",
                            r.http_redirect_code.map(|n| n.to_string()).as_deref(),
                        );
                        w.opt("Protocol", r.protocol.map(Protocol::as_str));
                        w.opt("ReplaceKeyPrefixWith", r.replace_key_prefix_with.as_deref());
                        w.opt("ReplaceKeyWith", r.replace_key_with.as_deref());
                        w.close("Redirect");
                        w.close("RoutingRule");
                    }
                    w.close("RoutingRules");
                }
            }
        }
        w.finish("WebsiteConfiguration")
    }

    /// The first step of a request: a redirect-all, a routing rule whose condition is only a
    /// key prefix, or the object to look up (the index document of a path ending in `/`).
    pub fn first_step(&self, req: &WebsiteRequest<'_>) -> Step {
        match self {
            Self::RedirectAll(all) => Step::Redirect {
                status: 301,
                location: location(all.protocol, Some(&all.host_name), req, req.key),
            },
            Self::Site { index_suffix, rules, .. } => {
                let before = rules.iter().find(|r| match &r.condition {
                    None => true,
                    Some(c) => {
                        c.http_error_code_returned_equals.is_none()
                            && c.key_prefix_equals
                                .as_deref()
                                .is_some_and(|p| req.key.starts_with(p))
                    }
                });
                if let Some(rule) = before {
                    return rule.redirect_of(req);
                }
                Step::Serve { key: index_key(req.key, index_suffix) }
            }
        }
    }

    /// The redirect a routing rule makes of a request whose lookup ended in `status` (a 4xx
    /// or 5xx), if one matches.
    pub fn after_error(&self, req: &WebsiteRequest<'_>, status: u16) -> Option<Step> {
        let Self::Site { rules, .. } = self else { return None };
        rules
            .iter()
            .find(|r| {
                r.condition.as_ref().is_some_and(|c| {
                    c.http_error_code_returned_equals == Some(status)
                        && c.key_prefix_equals.as_deref().is_none_or(|p| req.key.starts_with(p))
                })
            })
            .map(|r| r.redirect_of(req))
    }

    /// The error document's key, if the site has one.
    pub fn error_key(&self) -> Option<&str> {
        match self {
            Self::Site { error_key, .. } => error_key.as_deref(),
            Self::RedirectAll(_) => None,
        }
    }

    /// The index document's suffix, if the site has one.
    pub fn index_suffix(&self) -> Option<&str> {
        match self {
            Self::Site { index_suffix, .. } => Some(index_suffix),
            Self::RedirectAll(_) => None,
        }
    }
}

impl RoutingRule {
    fn redirect_of(&self, req: &WebsiteRequest<'_>) -> Step {
        let r = &self.redirect;
        let key = if let Some(k) = &r.replace_key_with {
            k.clone()
        } else if let Some(p) = &r.replace_key_prefix_with {
            let prefix = self.condition.as_ref().and_then(|c| c.key_prefix_equals.as_deref());
            let rest = prefix.and_then(|p| req.key.strip_prefix(p)).unwrap_or(req.key);
            format!("{p}{rest}")
        } else {
            req.key.to_owned()
        };
        Step::Redirect {
            status: r.http_redirect_code.unwrap_or(301),
            location: location(r.protocol, r.host_name.as_deref(), req, &key),
        }
    }
}

/// The key a path names: the index document of the root and of a path ending in `/`.
pub fn index_key(key: &str, suffix: &str) -> String {
    if key.is_empty() || key.ends_with('/') { format!("{key}{suffix}") } else { key.to_owned() }
}

fn location(
    protocol: Option<Protocol>,
    host: Option<&str>,
    req: &WebsiteRequest<'_>,
    key: &str,
) -> String {
    let scheme = protocol.map_or(if req.https { "https" } else { "http" }, Protocol::as_str);
    let host = host.unwrap_or(req.host);
    format!("{scheme}://{host}/{}", url_encode(key))
}

/// The bucket a website Host names: `<bucket>.<domain>[:port]` for one of `domains`, compared
/// case-insensitively (host names are).
pub fn website_bucket(host: Option<&str>, domains: &[String]) -> Option<String> {
    let host = host?;
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.to_ascii_lowercase();
    domains.iter().find_map(|d| {
        let d = d.to_ascii_lowercase();
        let bucket = name.strip_suffix(&d)?.strip_suffix('.')?;
        (!bucket.is_empty()).then(|| bucket.to_owned())
    })
}

/// A website error page: the HTML body AWS's website endpoints answer errors with.
pub fn error_page(
    status: u16,
    reason: &str,
    code: &str,
    message: &str,
    request_id: &str,
) -> String {
    use crate::xml::escape;
    format!(
        "<html>\n<head><title>{status} {reason}</title></head>\n<body>\n<h1>{status} {reason}</h1>\n<ul>\n<li>Code: {}</li>\n<li>Message: {}</li>\n<li>RequestId: {}</li>\n</ul>\n<hr/>\n</body>\n</html>\n",
        escape(code),
        escape(message),
        escape(request_id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(rules: &str) -> WebsiteConfiguration {
        let doc = format!(
            "<WebsiteConfiguration><IndexDocument><Suffix>index.html</Suffix></IndexDocument>\
             <ErrorDocument><Key>error.html</Key></ErrorDocument>{rules}</WebsiteConfiguration>"
        );
        parse_website_configuration(doc.as_bytes()).unwrap()
    }

    fn req(key: &str) -> WebsiteRequest<'_> {
        WebsiteRequest { key, host: "b.web.test:8080", https: false }
    }

    fn redirect(status: u16, location: &str) -> Step {
        Step::Redirect { status, location: location.to_owned() }
    }

    #[test]
    fn parse_errors_as_aws() {
        let cases: &[(&str, ErrorCode)] = &[
            ("<WebsiteConfiguration/>", ErrorCode::InvalidArgument),
            ("<Other/>", ErrorCode::MalformedXML),
            (
                "<WebsiteConfiguration><IndexDocument><Suffix></Suffix></IndexDocument></WebsiteConfiguration>",
                ErrorCode::InvalidArgument,
            ),
            (
                "<WebsiteConfiguration><IndexDocument><Suffix>a/b</Suffix></IndexDocument></WebsiteConfiguration>",
                ErrorCode::InvalidArgument,
            ),
            (
                "<WebsiteConfiguration><IndexDocument><Suffix>i</Suffix></IndexDocument><Bogus/></WebsiteConfiguration>",
                ErrorCode::MalformedXML,
            ),
            (
                "<WebsiteConfiguration><IndexDocument><Suffix>i</Suffix></IndexDocument><IndexDocument><Suffix>i</Suffix></IndexDocument></WebsiteConfiguration>",
                ErrorCode::MalformedXML,
            ),
            (
                "<WebsiteConfiguration><RedirectAllRequestsTo><HostName>x</HostName></RedirectAllRequestsTo><IndexDocument><Suffix>i</Suffix></IndexDocument></WebsiteConfiguration>",
                ErrorCode::InvalidArgument,
            ),
            (
                "<WebsiteConfiguration><RedirectAllRequestsTo><Protocol>http</Protocol></RedirectAllRequestsTo></WebsiteConfiguration>",
                ErrorCode::InvalidArgument,
            ),
            (
                "<WebsiteConfiguration><RedirectAllRequestsTo><HostName>x</HostName><Protocol>ftp</Protocol></RedirectAllRequestsTo></WebsiteConfiguration>",
                ErrorCode::InvalidArgument,
            ),
            (
                "<WebsiteConfiguration><IndexDocument><Suffix>i</Suffix></IndexDocument><RoutingRules><RoutingRule><Redirect/></RoutingRule></RoutingRules></WebsiteConfiguration>",
                ErrorCode::InvalidArgument,
            ),
            (
                "<WebsiteConfiguration><IndexDocument><Suffix>i</Suffix></IndexDocument><RoutingRules><RoutingRule><Condition/><Redirect><HostName>h</HostName></Redirect></RoutingRule></RoutingRules></WebsiteConfiguration>",
                ErrorCode::InvalidArgument,
            ),
            (
                "<WebsiteConfiguration><IndexDocument><Suffix>i</Suffix></IndexDocument><RoutingRules><RoutingRule><Redirect><ReplaceKeyWith>a</ReplaceKeyWith><ReplaceKeyPrefixWith>b</ReplaceKeyPrefixWith></Redirect></RoutingRule></RoutingRules></WebsiteConfiguration>",
                ErrorCode::InvalidArgument,
            ),
            (
                "<WebsiteConfiguration><IndexDocument><Suffix>i</Suffix></IndexDocument><RoutingRules><RoutingRule><Redirect><HttpRedirectCode>200</HttpRedirectCode></Redirect></RoutingRule></RoutingRules></WebsiteConfiguration>",
                ErrorCode::InvalidArgument,
            ),
            (
                "<WebsiteConfiguration><IndexDocument><Suffix>i</Suffix></IndexDocument><RoutingRules><RoutingRule><Redirect><HttpRedirectCode>300</HttpRedirectCode></Redirect></RoutingRule></RoutingRules></WebsiteConfiguration>",
                ErrorCode::InvalidArgument,
            ),
            (
                "<WebsiteConfiguration><IndexDocument><Suffix>i</Suffix></IndexDocument><RoutingRules><RoutingRule><Condition><HttpErrorCodeReturnedEquals>302</HttpErrorCodeReturnedEquals></Condition><Redirect><HostName>h</HostName></Redirect></RoutingRule></RoutingRules></WebsiteConfiguration>",
                ErrorCode::InvalidArgument,
            ),
        ];
        for (doc, code) in cases {
            let err = parse_website_configuration(doc.as_bytes()).unwrap_err();
            assert_eq!(err.code, *code, "{doc}: {err:?}");
        }
        let many =
            "<RoutingRule><Redirect><HostName>h</HostName></Redirect></RoutingRule>".repeat(51);
        let doc = format!(
            "<WebsiteConfiguration><IndexDocument><Suffix>i</Suffix></IndexDocument><RoutingRules>{many}</RoutingRules></WebsiteConfiguration>"
        );
        assert_eq!(
            parse_website_configuration(doc.as_bytes()).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn documents_round_trip() {
        let rules = "<RoutingRules><RoutingRule><Condition><HttpErrorCodeReturnedEquals>404</HttpErrorCodeReturnedEquals><KeyPrefixEquals>a/</KeyPrefixEquals></Condition>\
             <Redirect><HostName>h.test</HostName><HttpRedirectCode>302</HttpRedirectCode><Protocol>https</Protocol><ReplaceKeyWith>x</ReplaceKeyWith></Redirect></RoutingRule></RoutingRules>";
        for config in [
            site(""),
            site(rules),
            parse_website_configuration(b"<WebsiteConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><RedirectAllRequestsTo><HostName>example.com</HostName><Protocol>https</Protocol></RedirectAllRequestsTo></WebsiteConfiguration>").unwrap(),
        ] {
            let again = parse_website_configuration(config.to_xml().as_bytes()).unwrap();
            assert_eq!(again, config);
        }
    }

    #[test]
    fn requests_as_a_table() {
        let rules = "<RoutingRules>\
            <RoutingRule><Condition><KeyPrefixEquals>docs/</KeyPrefixEquals></Condition><Redirect><ReplaceKeyPrefixWith>documents/</ReplaceKeyPrefixWith></Redirect></RoutingRule>\
            <RoutingRule><Condition><KeyPrefixEquals>gone</KeyPrefixEquals></Condition><Redirect><HostName>elsewhere.test</HostName><Protocol>https</Protocol><HttpRedirectCode>302</HttpRedirectCode><ReplaceKeyWith>moved here.html</ReplaceKeyWith></Redirect></RoutingRule>\
            <RoutingRule><Condition><HttpErrorCodeReturnedEquals>404</HttpErrorCodeReturnedEquals><KeyPrefixEquals>img/</KeyPrefixEquals></Condition><Redirect><ReplaceKeyWith>img/missing.png</ReplaceKeyWith></Redirect></RoutingRule>\
            </RoutingRules>";
        let c = site(rules);
        let serve = |k: &str| Step::Serve { key: k.to_owned() };
        let first: &[(&str, Step)] = &[
            ("", serve("index.html")),
            ("a/", serve("a/index.html")),
            ("a", serve("a")),
            ("a b/c.txt", serve("a b/c.txt")),
            ("docs/x/y.html", redirect(301, "http://b.web.test:8080/documents/x/y.html")),
            ("docs", serve("docs")),
            ("gone/deep", redirect(302, "https://elsewhere.test/moved%20here.html")),
            ("img/a.png", serve("img/a.png")),
        ];
        for (key, want) in first {
            assert_eq!(&c.first_step(&req(key)), want, "{key:?}");
        }
        assert_eq!(
            c.after_error(&req("img/a.png"), 404),
            Some(redirect(301, "http://b.web.test:8080/img/missing.png"))
        );
        assert_eq!(c.after_error(&req("img/a.png"), 403), None);
        assert_eq!(c.after_error(&req("a.png"), 404), None);
        assert_eq!(c.error_key(), Some("error.html"));

        let all = parse_website_configuration(b"<WebsiteConfiguration><RedirectAllRequestsTo><HostName>new.test</HostName></RedirectAllRequestsTo></WebsiteConfiguration>").unwrap();
        assert_eq!(
            all.first_step(&WebsiteRequest { key: "p/q", host: "h", https: true }),
            redirect(301, "https://new.test/p/q")
        );
        assert_eq!(all.error_key(), None);

        // A rule without a condition redirects everything; a prefix replacement without a
        // prefix condition prefixes the key.
        let c = site(
            "<RoutingRules><RoutingRule><Redirect><ReplaceKeyPrefixWith>v2/</ReplaceKeyPrefixWith></Redirect></RoutingRule></RoutingRules>",
        );
        assert_eq!(c.first_step(&req("a.html")), redirect(301, "http://b.web.test:8080/v2/a.html"));
    }

    #[test]
    fn website_hosts() {
        let domains = vec!["web.test".to_owned(), "s3-website.example.com".to_owned()];
        let cases: &[(Option<&str>, Option<&str>)] = &[
            (Some("site.web.test"), Some("site")),
            (Some("Site.Web.Test:8080"), Some("site")),
            (Some("my.site.s3-website.example.com"), Some("my.site")),
            (Some("web.test"), None),
            (Some(".web.test"), None),
            (Some("site.xweb.test"), None),
            (Some("site.other.test"), None),
            (None, None),
        ];
        for (host, want) in cases {
            assert_eq!(website_bucket(*host, &domains).as_deref(), *want, "{host:?}");
        }
    }
}
