//! S3 XML bodies: request parsers (size-limited, namespace-agnostic, never panic)
//! and response writers (AWS element names and order, S3 namespace on the root).

use std::fmt::Write as _;
use std::time::SystemTime;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use quick_xml::Reader;
use quick_xml::events::Event;

use crate::checksum::{ChecksumAlgorithm, ChecksumType};
use crate::error::{ErrorCode, S3Error};
use crate::names::ETag;
use crate::time::format_iso8601;

/// The XML prolog S3 puts before every body, with its trailing newline.
pub const PROLOG: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
/// The S3 namespace of success bodies.
pub const S3_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
/// Largest CompleteMultipartUpload body accepted (10000 parts fit easily).
pub const MAX_COMPLETE_BODY: usize = 1024 * 1024;
/// Largest DeleteObjects body accepted (1000 keys of 1024 bytes fit).
pub const MAX_DELETE_BODY: usize = 2 * 1024 * 1024;
/// Largest CreateBucketConfiguration body accepted.
pub const MAX_CREATE_BUCKET_BODY: usize = 64 * 1024;
/// Largest Tagging body accepted (10 tags of 128 + 256 characters fit many times over).
pub const MAX_TAGGING_BODY: usize = 64 * 1024;
/// Most objects a DeleteObjects request may name.
pub const MAX_DELETE_OBJECTS: usize = 1000;
/// Deepest element nesting accepted in a request body.
const MAX_DEPTH: usize = 16;

/// Escapes text for element content or attribute values.
///
/// Control characters that XML 1.0 cannot carry literally are written as
/// numeric references (as S3 does); clients wanting exact keys use
/// `encoding-type=url`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => {
                let _ = write!(out, "&#x{:X};", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Everything but unreserved characters and `/`.
const URL_ENCODE_SET: &AsciiSet =
    &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'/');

/// `encoding-type=url` form of a key or prefix: UTF-8 percent-encoding of every byte
/// except `A-Z a-z 0-9 - . _ ~ /` (so space is `%20`, `+` is `%2B`).
pub fn url_encode(text: &str) -> String {
    utf8_percent_encode(text, URL_ENCODE_SET).to_string()
}

// ---------------------------------------------------------------------------
// Request parsing: a tiny DOM over quick-xml events.

#[derive(Debug, Default)]
pub(crate) struct Element {
    pub(crate) name: String,
    /// Attributes by local name (`xsi:type` is `type`), namespace declarations left out.
    pub(crate) attrs: Vec<(String, String)>,
    pub(crate) text: String,
    pub(crate) children: Vec<Element>,
}

impl Element {
    /// The one child called `name`, if any. A child that occurs twice is `MalformedXML`: a
    /// parser that let the first (or the last) win would read a document otherwise than
    /// another parser on the way (a proxy, a policy checker) reads it.
    pub(crate) fn child(&self, name: &str) -> Result<Option<&Element>, S3Error> {
        let mut found = self.children.iter().filter(|c| c.name == name);
        let first = found.next();
        if found.next().is_some() {
            return Err(malformed());
        }
        Ok(first)
    }

    /// The attribute of local name `name`.
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Like [`Element::child`], and absent is `MalformedXML` too.
    fn required(&self, name: &str) -> Result<&Element, S3Error> {
        self.child(name)?.ok_or_else(malformed)
    }

    pub(crate) fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

pub(crate) fn malformed() -> S3Error {
    S3Error::new(ErrorCode::MalformedXML)
}

/// The attributes of a start tag, by local name; `xmlns` declarations are left out.
fn attributes(e: &quick_xml::events::BytesStart<'_>) -> Result<Vec<(String, String)>, S3Error> {
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|_| malformed())?;
        let key = a.key.as_ref();
        if key == b"xmlns" || key.starts_with(b"xmlns:") {
            continue;
        }
        let value = a.unescape_value().map_err(|_| malformed())?.into_owned();
        out.push((local(a.key.local_name().as_ref())?, value));
    }
    Ok(out)
}

fn local(name: &[u8]) -> Result<String, S3Error> {
    let name = std::str::from_utf8(name).map_err(|_| malformed())?;
    Ok(name.rsplit(':').next().unwrap_or(name).to_owned())
}

/// Parses a whole document into its root element.
pub(crate) fn parse_document(body: &[u8], limit: usize) -> Result<Element, S3Error> {
    if body.len() > limit {
        return Err(S3Error::with_message(
            ErrorCode::MalformedXML,
            format!("The XML you provided was larger than the maximum of {limit} bytes allowed."),
        ));
    }
    let mut reader = Reader::from_reader(body);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader.read_event().map_err(|_| malformed())?;
        match event {
            Event::Start(e) => {
                if root.is_some() || stack.len() >= MAX_DEPTH {
                    return Err(malformed());
                }
                stack.push(Element {
                    name: local(e.name().as_ref())?,
                    attrs: attributes(&e)?,
                    ..Element::default()
                });
            }
            Event::Empty(e) => {
                let el = Element {
                    name: local(e.name().as_ref())?,
                    attrs: attributes(&e)?,
                    ..Element::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err(malformed()),
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(malformed)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let text = t.decode().map_err(|_| malformed())?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err(malformed()),
                }
            }
            Event::CData(t) => {
                let text = t.decode().map_err(|_| malformed())?;
                stack.last_mut().ok_or_else(malformed)?.text.push_str(&text);
            }
            Event::GeneralRef(r) => {
                let c = if r.is_char_ref() {
                    r.resolve_char_ref().map_err(|_| malformed())?.ok_or_else(malformed)?
                } else {
                    match r.decode().map_err(|_| malformed())?.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        _ => return Err(malformed()),
                    }
                };
                stack.last_mut().ok_or_else(malformed)?.text.push(c);
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            // Entity declarations are refused outright: no expansion games.
            Event::DocType(_) => return Err(malformed()),
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(malformed());
    }
    root.ok_or_else(malformed)
}

pub(crate) fn expect_root(root: &Element, name: &str) -> Result<(), S3Error> {
    if root.name == name { Ok(()) } else { Err(malformed()) }
}

/// One `<Part>` of a CompleteMultipartUpload request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// `PartNumber` as sent (the engine validates range and order).
    pub part_number: u32,
    /// `ETag` as sent (possibly quoted).
    pub etag: String,
    /// Any `ChecksumCRC32`... elements, in document order.
    pub checksums: Vec<(ChecksumAlgorithm, String)>,
}

/// Parses a CompleteMultipartUpload body; no parts is `MalformedXML`.
pub fn parse_complete_multipart_upload(body: &[u8]) -> Result<Vec<CompletedPart>, S3Error> {
    let root = parse_document(body, MAX_COMPLETE_BODY)?;
    expect_root(&root, "CompleteMultipartUpload")?;
    let mut parts = Vec::new();
    for part in root.children("Part") {
        let number = part.required("PartNumber")?.text.trim();
        // Out of range (0, 10001) and not a number at all (-1, "a") are the same answer on
        // S3: InvalidArgument, not MalformedXML; the caller checks the range.
        let part_number = number.parse::<u32>().map_err(|_| {
            S3Error::with_message(
                ErrorCode::InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        })?;
        let etag = part.required("ETag")?.text.trim().to_owned();
        let mut checksums: Vec<(ChecksumAlgorithm, String)> = Vec::new();
        for c in &part.children {
            if let Some(algorithm) = ChecksumAlgorithm::from_xml_element(&c.name) {
                if checksums.iter().any(|(a, _)| *a == algorithm) {
                    return Err(malformed());
                }
                checksums.push((algorithm, c.text.trim().to_owned()));
            }
        }
        parts.push(CompletedPart { part_number, etag, checksums });
    }
    if parts.is_empty() {
        return Err(malformed());
    }
    Ok(parts)
}

/// One `<Object>` of a DeleteObjects request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectIdentifier {
    /// The key, exactly as sent (whitespace is significant).
    pub key: String,
    /// `VersionId`, if sent.
    pub version_id: Option<String>,
    /// `ETag`, `Size` and `LastModifiedTime`: the entry is deleted only if they hold.
    pub conditions: crate::DeleteConditions,
}

/// A parsed DeleteObjects request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    /// `<Quiet>true</Quiet>`: report only errors.
    pub quiet: bool,
    /// The objects to delete (1..=1000).
    pub objects: Vec<ObjectIdentifier>,
}

/// Parses a DeleteObjects body; 0 or more than 1000 objects is `MalformedXML`.
pub fn parse_delete(body: &[u8]) -> Result<DeleteRequest, S3Error> {
    let root = parse_document(body, MAX_DELETE_BODY)?;
    expect_root(&root, "Delete")?;
    let quiet = match root.child("Quiet")?.map(|q| q.text.trim()) {
        None => false,
        Some(q) if q.eq_ignore_ascii_case("true") => true,
        Some(q) if q.eq_ignore_ascii_case("false") => false,
        Some(_) => return Err(malformed()),
    };
    let mut objects = Vec::new();
    for obj in root.children("Object") {
        let key = obj.required("Key")?.text.clone();
        let text = |name: &str| -> Result<Option<String>, S3Error> {
            Ok(obj.child(name)?.map(|v| v.text.trim().to_owned()).filter(|v| !v.is_empty()))
        };
        let version_id = text("VersionId")?;
        let conditions = crate::DeleteConditions {
            if_match: text("ETag")?,
            size: match text("Size")? {
                None => None,
                Some(s) => Some(s.parse::<u64>().map_err(|_| malformed())?),
            },
            last_modified: match text("LastModifiedTime")? {
                None => None,
                // The SDKs write it as an HTTP date (smithy's format for this member);
                // ISO 8601 is accepted too.
                Some(t) => Some(
                    crate::time::parse_http_date(&t)
                        .or_else(|| crate::time::parse_iso8601(&t))
                        .ok_or_else(malformed)?,
                ),
            },
        };
        objects.push(ObjectIdentifier { key, version_id, conditions });
        if objects.len() > MAX_DELETE_OBJECTS {
            return Err(malformed());
        }
    }
    if objects.is_empty() {
        return Err(malformed());
    }
    Ok(DeleteRequest { quiet, objects })
}

/// Parses a CreateBucket body: an empty body or no/empty `LocationConstraint` is `None`.
pub fn parse_create_bucket_configuration(body: &[u8]) -> Result<Option<String>, S3Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let root = parse_document(body, MAX_CREATE_BUCKET_BODY)?;
    expect_root(&root, "CreateBucketConfiguration")?;
    Ok(root
        .child("LocationConstraint")?
        .map(|l| l.text.trim().to_owned())
        .filter(|l| !l.is_empty()))
}

/// Largest `<Error>` body accepted by [`parse_error_body`].
pub const MAX_ERROR_BODY: usize = 64 * 1024;

/// An `<Error>` body received from an S3 server (e.g. the upstream of a proxy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    /// `<Code>` text (may be a code this crate does not know).
    pub code: String,
    /// `<Message>` text (empty if absent).
    pub message: String,
    /// Every other child element with text, in order (`Resource`, `RequestId`...).
    pub elements: Vec<(String, String)>,
}

impl ErrorBody {
    /// The known [`ErrorCode`], if any.
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::parse(&self.code)
    }
}

/// Parses an S3 `<Error>` body; anything else is `MalformedXML`.
pub fn parse_error_body(body: &[u8]) -> Result<ErrorBody, S3Error> {
    let root = parse_document(body, MAX_ERROR_BODY)?;
    expect_root(&root, "Error")?;
    let code = root.required("Code")?.text.trim().to_owned();
    let message = root.child("Message")?.map(|m| m.text.clone()).unwrap_or_default();
    let elements = root
        .children
        .iter()
        .filter(|c| c.name != "Code" && c.name != "Message" && c.children.is_empty())
        .map(|c| (c.name.clone(), c.text.clone()))
        .collect();
    Ok(ErrorBody { code, message, elements })
}

// ---------------------------------------------------------------------------
// Response writing.

/// Parses a PutObjectTagging body, `<Tagging><TagSet><Tag><Key/><Value/></Tag>...</TagSet>
/// </Tagging>`, in document order. Structure errors are `MalformedXML`; the tag limits are
/// checked by [`crate::tagging::check_tag_set`].
pub fn parse_tagging(body: &[u8]) -> Result<Vec<(String, String)>, S3Error> {
    let root = parse_document(body, MAX_TAGGING_BODY)?;
    expect_root(&root, "Tagging")?;
    let set = root.required("TagSet")?;
    let mut tags = Vec::new();
    for tag in set.children("Tag") {
        let key = tag.required("Key")?.text.clone();
        let value = tag.required("Value")?.text.clone();
        tags.push((key, value));
    }
    if set.children.iter().any(|c| c.name != "Tag") {
        return Err(malformed());
    }
    Ok(tags)
}

/// A bucket's `PublicAccessBlockConfiguration` (Block Public Access): the four settings, each
/// `false` when absent, as AWS reads them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools, reason = "the four flags are the S3 API")]
pub struct PublicAccessBlockConfiguration {
    /// `BlockPublicAcls`.
    pub block_public_acls: bool,
    /// `IgnorePublicAcls`.
    pub ignore_public_acls: bool,
    /// `BlockPublicPolicy`.
    pub block_public_policy: bool,
    /// `RestrictPublicBuckets`.
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlockConfiguration {
    /// Parses a PutPublicAccessBlock body: unknown, repeated or non-boolean elements are
    /// `MalformedXML`.
    pub fn parse(body: &[u8]) -> Result<Self, S3Error> {
        const NAMES: [&str; 4] =
            ["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"];
        let root = parse_document(body, MAX_TAGGING_BODY)?;
        expect_root(&root, "PublicAccessBlockConfiguration")?;
        if root.children.iter().any(|c| !NAMES.contains(&c.name.as_str())) {
            return Err(malformed());
        }
        let flag = |name: &str| -> Result<bool, S3Error> {
            match root.child(name)?.map(|c| c.text.trim()) {
                None | Some("false" | "FALSE" | "False") => Ok(false),
                Some("true" | "TRUE" | "True") => Ok(true),
                Some(_) => Err(malformed()),
            }
        };
        Ok(Self {
            block_public_acls: flag("BlockPublicAcls")?,
            ignore_public_acls: flag("IgnorePublicAcls")?,
            block_public_policy: flag("BlockPublicPolicy")?,
            restrict_public_buckets: flag("RestrictPublicBuckets")?,
        })
    }

    /// The GetPublicAccessBlock body.
    pub fn to_xml(&self) -> String {
        const ROOT: &str = "PublicAccessBlockConfiguration";
        let mut w = Writer::new(ROOT);
        w.bool("BlockPublicAcls", self.block_public_acls);
        w.bool("IgnorePublicAcls", self.ignore_public_acls);
        w.bool("BlockPublicPolicy", self.block_public_policy);
        w.bool("RestrictPublicBuckets", self.restrict_public_buckets);
        w.finish(ROOT)
    }
}

/// A bucket's default encryption rule as PutBucketEncryption sends it and GetBucketEncryption
/// answers it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncryptionRule {
    /// `ApplyServerSideEncryptionByDefault/SSEAlgorithm`: `AES256`, `aws:kms` or
    /// `aws:kms:dsse`; `None` for a rule that only sets `BlockedEncryptionTypes`.
    pub algorithm: Option<String>,
    /// `KMSMasterKeyID`, if given.
    pub kms_key_id: Option<String>,
    /// `BucketKeyEnabled`.
    pub bucket_key: bool,
    /// `BlockedEncryptionTypes`: `Some(true)` for `SSE-C`, `Some(false)` for `NONE`, `None`
    /// when the rule does not say.
    pub block_sse_c: Option<bool>,
}

/// Parses a PutBucketEncryption body: one rule with `ApplyServerSideEncryptionByDefault`
/// (`SSEAlgorithm`, optional `KMSMasterKeyID`), an optional `BucketKeyEnabled` and an optional
/// `BlockedEncryptionTypes` (`EncryptionType` `SSE-C` or `NONE`); a rule needs one of the first
/// and the last.
pub fn parse_bucket_encryption(body: &[u8]) -> Result<EncryptionRule, S3Error> {
    let root = parse_document(body, MAX_TAGGING_BODY)?;
    expect_root(&root, "ServerSideEncryptionConfiguration")?;
    let mut rules = root.children("Rule");
    let (Some(rule), None) = (rules.next(), rules.next()) else { return Err(malformed()) };
    let (mut algorithm, mut kms_key_id) = (None, None);
    if let Some(by_default) = rule.child("ApplyServerSideEncryptionByDefault")? {
        let alg = by_default.child("SSEAlgorithm")?.ok_or_else(malformed)?.text.trim().to_owned();
        if !matches!(alg.as_str(), "AES256" | "aws:kms" | "aws:kms:dsse") {
            return Err(malformed());
        }
        algorithm = Some(alg);
        kms_key_id = by_default.child("KMSMasterKeyID")?.map(|k| k.text.trim().to_owned());
    }
    let bucket_key = match rule.child("BucketKeyEnabled")?.map(|b| b.text.trim()) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(malformed()),
    };
    let block_sse_c = match rule.child("BlockedEncryptionTypes")? {
        None => None,
        Some(blocked) => {
            let types: Vec<&str> =
                blocked.children("EncryptionType").map(|t| t.text.trim()).collect();
            match types.as_slice() {
                ["SSE-C"] => Some(true),
                ["NONE"] => Some(false),
                _ => return Err(malformed()),
            }
        }
    };
    if algorithm.is_none() && block_sse_c.is_none() {
        return Err(malformed());
    }
    Ok(EncryptionRule { algorithm, kms_key_id, bucket_key, block_sse_c })
}

/// The GetBucketEncryption body for `rule`.
pub fn bucket_encryption_xml(rule: &EncryptionRule) -> String {
    let mut w = Writer::new("ServerSideEncryptionConfiguration");
    w.open("Rule");
    if let Some(algorithm) = &rule.algorithm {
        w.open("ApplyServerSideEncryptionByDefault");
        w.elem("SSEAlgorithm", algorithm);
        if let Some(id) = &rule.kms_key_id {
            w.elem("KMSMasterKeyID", id);
        }
        w.close("ApplyServerSideEncryptionByDefault");
        w.bool("BucketKeyEnabled", rule.bucket_key);
    }
    if let Some(block) = rule.block_sse_c {
        w.open("BlockedEncryptionTypes");
        w.elem("EncryptionType", if block { "SSE-C" } else { "NONE" });
        w.close("BlockedEncryptionTypes");
    }
    w.close("Rule");
    w.finish("ServerSideEncryptionConfiguration")
}

/// A small writer that keeps element order explicit.
pub(crate) struct Writer {
    pub(crate) out: String,
}

impl Writer {
    pub(crate) fn new(root: &str) -> Self {
        let mut out = String::with_capacity(512);
        out.push_str(PROLOG);
        out.push('<');
        out.push_str(root);
        out.push_str(" xmlns=\"");
        out.push_str(S3_NAMESPACE);
        out.push_str("\">");
        Self { out }
    }

    pub(crate) fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    pub(crate) fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    pub(crate) fn elem(&mut self, name: &str, text: &str) {
        self.open(name);
        self.out.push_str(&escape(text));
        self.close(name);
    }

    pub(crate) fn opt(&mut self, name: &str, text: Option<&str>) {
        if let Some(t) = text {
            self.elem(name, t);
        }
    }

    pub(crate) fn num(&mut self, name: &str, n: impl std::fmt::Display) {
        self.elem(name, &n.to_string());
    }

    fn bool(&mut self, name: &str, b: bool) {
        self.elem(name, if b { "true" } else { "false" });
    }

    fn time(&mut self, name: &str, t: SystemTime) {
        self.elem(name, &format_iso8601(t));
    }

    fn owner(&mut self, name: &str, owner: &Owner) {
        self.open(name);
        self.elem("ID", &owner.id);
        self.elem("DisplayName", &owner.display_name);
        self.close(name);
    }

    fn checksums(&mut self, checksums: &[(ChecksumAlgorithm, String)]) {
        for (alg, value) in checksums {
            self.elem(alg.xml_element(), value);
        }
    }

    fn common_prefixes(&mut self, prefixes: &[String], url: bool) {
        for p in prefixes {
            self.open("CommonPrefixes");
            self.elem("Prefix", &enc(p, url));
            self.close("CommonPrefixes");
        }
    }

    pub(crate) fn finish(mut self, root: &str) -> String {
        self.close(root);
        self.out
    }
}

fn enc(text: &str, url: bool) -> String {
    if url { url_encode(text) } else { text.to_owned() }
}

/// A bucket or object owner.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Owner {
    /// Canonical user id.
    pub id: String,
    /// Display name.
    pub display_name: String,
}

/// One bucket of ListBuckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketEntry {
    /// Bucket name.
    pub name: String,
    /// Creation time.
    pub creation_date: SystemTime,
}

/// ListBuckets response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListAllMyBucketsResult {
    /// The account.
    pub owner: Owner,
    /// Buckets, in name order.
    pub buckets: Vec<BucketEntry>,
    /// Where the next page starts, when this one was cut at `max-buckets`.
    pub continuation_token: Option<String>,
    /// The request's `prefix`, echoed.
    pub prefix: Option<String>,
}

impl ListAllMyBucketsResult {
    /// Renders the body.
    pub fn to_xml(&self) -> String {
        const ROOT: &str = "ListAllMyBucketsResult";
        let mut w = Writer::new(ROOT);
        w.owner("Owner", &self.owner);
        w.open("Buckets");
        for b in &self.buckets {
            w.open("Bucket");
            w.elem("Name", &b.name);
            w.time("CreationDate", b.creation_date);
            w.close("Bucket");
        }
        w.close("Buckets");
        w.opt("ContinuationToken", self.continuation_token.as_deref());
        w.opt("Prefix", self.prefix.as_deref());
        w.finish(ROOT)
    }
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEntry {
    /// Key (URL-encoded on output when the listing asks for it).
    pub key: String,
    /// Last modification time.
    pub last_modified: SystemTime,
    /// ETag (written quoted).
    pub etag: ETag,
    /// Size in bytes.
    pub size: u64,
    /// Storage class, normally `STANDARD`.
    pub storage_class: String,
    /// Owner, when the listing includes it.
    pub owner: Option<Owner>,
    /// Checksum algorithm stored with the object.
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
}

fn write_contents(w: &mut Writer, contents: &[ObjectEntry], url: bool) {
    for o in contents {
        w.open("Contents");
        w.elem("Key", &enc(&o.key, url));
        w.time("LastModified", o.last_modified);
        w.elem("ETag", &o.etag.quoted());
        if let Some(alg) = o.checksum_algorithm {
            w.elem("ChecksumAlgorithm", alg.as_str());
        }
        w.num("Size", o.size);
        w.elem("StorageClass", &o.storage_class);
        if let Some(owner) = &o.owner {
            w.owner("Owner", owner);
        }
        w.close("Contents");
    }
}

/// ListObjects (v1) response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListBucketResult {
    /// Bucket name.
    pub name: String,
    /// Prefix (echoed, possibly empty).
    pub prefix: String,
    /// Marker (echoed, possibly empty).
    pub marker: String,
    /// Echoed max-keys.
    pub max_keys: u32,
    /// Delimiter, if one was given.
    pub delimiter: Option<String>,
    /// Whether more results exist.
    pub is_truncated: bool,
    /// `NextMarker` (S3 sends it only with a delimiter and when truncated).
    pub next_marker: Option<String>,
    /// Objects.
    pub contents: Vec<ObjectEntry>,
    /// Common prefixes.
    pub common_prefixes: Vec<String>,
    /// Whether `encoding-type=url` was requested.
    pub encoding_type_url: bool,
}

impl ListBucketResult {
    /// Renders the body.
    pub fn to_xml(&self) -> String {
        const ROOT: &str = "ListBucketResult";
        let url = self.encoding_type_url;
        let mut w = Writer::new(ROOT);
        w.elem("Name", &self.name);
        w.elem("Prefix", &enc(&self.prefix, url));
        w.elem("Marker", &enc(&self.marker, url));
        w.opt("NextMarker", self.next_marker.as_deref().map(|m| enc(m, url)).as_deref());
        w.num("MaxKeys", self.max_keys);
        w.opt("Delimiter", self.delimiter.as_deref().map(|d| enc(d, url)).as_deref());
        if url {
            w.elem("EncodingType", "url");
        }
        w.bool("IsTruncated", self.is_truncated);
        write_contents(&mut w, &self.contents, url);
        w.common_prefixes(&self.common_prefixes, url);
        w.finish(ROOT)
    }
}

/// ListObjectsV2 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListBucketResultV2 {
    /// Bucket name.
    pub name: String,
    /// Prefix (echoed, possibly empty).
    pub prefix: String,
    /// Delimiter, if one was given.
    pub delimiter: Option<String>,
    /// Echoed max-keys.
    pub max_keys: u32,
    /// Keys plus common prefixes returned.
    pub key_count: u32,
    /// Whether more results exist.
    pub is_truncated: bool,
    /// Echo of the request's continuation token.
    pub continuation_token: Option<String>,
    /// Token for the next page (only when truncated).
    pub next_continuation_token: Option<String>,
    /// Echo of the request's start-after.
    pub start_after: Option<String>,
    /// Objects.
    pub contents: Vec<ObjectEntry>,
    /// Common prefixes.
    pub common_prefixes: Vec<String>,
    /// Whether `encoding-type=url` was requested.
    pub encoding_type_url: bool,
}

impl ListBucketResultV2 {
    /// Renders the body.
    pub fn to_xml(&self) -> String {
        const ROOT: &str = "ListBucketResult";
        let url = self.encoding_type_url;
        let mut w = Writer::new(ROOT);
        w.elem("Name", &self.name);
        w.elem("Prefix", &enc(&self.prefix, url));
        w.opt("ContinuationToken", self.continuation_token.as_deref());
        w.opt("NextContinuationToken", self.next_continuation_token.as_deref());
        w.num("KeyCount", self.key_count);
        w.num("MaxKeys", self.max_keys);
        w.opt("Delimiter", self.delimiter.as_deref().map(|d| enc(d, url)).as_deref());
        if url {
            w.elem("EncodingType", "url");
        }
        w.opt("StartAfter", self.start_after.as_deref().map(|s| enc(s, url)).as_deref());
        w.bool("IsTruncated", self.is_truncated);
        write_contents(&mut w, &self.contents, url);
        w.common_prefixes(&self.common_prefixes, url);
        w.finish(ROOT)
    }
}

/// CreateMultipartUpload response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiateMultipartUploadResult {
    /// Bucket name.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// The new upload id.
    pub upload_id: String,
}

impl InitiateMultipartUploadResult {
    /// Renders the body.
    pub fn to_xml(&self) -> String {
        const ROOT: &str = "InitiateMultipartUploadResult";
        let mut w = Writer::new(ROOT);
        w.elem("Bucket", &self.bucket);
        w.elem("Key", &self.key);
        w.elem("UploadId", &self.upload_id);
        w.finish(ROOT)
    }
}

/// CompleteMultipartUpload response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteMultipartUploadResult {
    /// URL of the new object.
    pub location: String,
    /// Bucket name.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// The multipart ETag (written quoted).
    pub etag: ETag,
    /// Object checksums (`<base64>-N` for composite).
    pub checksums: Vec<(ChecksumAlgorithm, String)>,
    /// Checksum type, sent when checksums are.
    pub checksum_type: Option<ChecksumType>,
}

impl CompleteMultipartUploadResult {
    /// Renders the body.
    pub fn to_xml(&self) -> String {
        const ROOT: &str = "CompleteMultipartUploadResult";
        let mut w = Writer::new(ROOT);
        w.elem("Location", &self.location);
        w.elem("Bucket", &self.bucket);
        w.elem("Key", &self.key);
        w.elem("ETag", &self.etag.quoted());
        w.checksums(&self.checksums);
        if let Some(t) = self.checksum_type {
            w.elem("ChecksumType", t.as_str());
        }
        w.finish(ROOT)
    }
}

/// CopyObject response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyObjectResult {
    /// ETag of the new object.
    pub etag: ETag,
    /// Modification time of the new object.
    pub last_modified: SystemTime,
}

impl CopyObjectResult {
    /// Renders the body.
    pub fn to_xml(&self) -> String {
        const ROOT: &str = "CopyObjectResult";
        let mut w = Writer::new(ROOT);
        w.elem("ETag", &self.etag.quoted());
        w.time("LastModified", self.last_modified);
        w.finish(ROOT)
    }
}

/// UploadPartCopy response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyPartResult {
    /// ETag of the new part.
    pub etag: ETag,
    /// Modification time of the new part.
    pub last_modified: SystemTime,
}

impl CopyPartResult {
    /// Renders the body.
    pub fn to_xml(&self) -> String {
        const ROOT: &str = "CopyPartResult";
        let mut w = Writer::new(ROOT);
        w.time("LastModified", self.last_modified);
        w.elem("ETag", &self.etag.quoted());
        w.finish(ROOT)
    }
}

/// One part of ListParts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartEntry {
    /// Part number.
    pub part_number: u16,
    /// Upload time.
    pub last_modified: SystemTime,
    /// Part ETag (written quoted).
    pub etag: ETag,
    /// Size in bytes.
    pub size: u64,
    /// Part checksums.
    pub checksums: Vec<(ChecksumAlgorithm, String)>,
}

/// ListParts response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPartsResult {
    /// Bucket name.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Upload id.
    pub upload_id: String,
    /// Who started the upload.
    pub initiator: Owner,
    /// Who will own the object (the bucket owner under BucketOwnerEnforced).
    pub owner: Owner,
    /// Storage class, normally `STANDARD`.
    pub storage_class: String,
    /// Echoed part-number-marker.
    pub part_number_marker: u32,
    /// Marker for the next page (last part listed).
    pub next_part_number_marker: u32,
    /// Echoed max-parts.
    pub max_parts: u32,
    /// Whether more parts exist.
    pub is_truncated: bool,
    /// Parts in ascending order.
    pub parts: Vec<PartEntry>,
}

impl ListPartsResult {
    /// Renders the body.
    pub fn to_xml(&self) -> String {
        const ROOT: &str = "ListPartsResult";
        let mut w = Writer::new(ROOT);
        w.elem("Bucket", &self.bucket);
        w.elem("Key", &self.key);
        w.elem("UploadId", &self.upload_id);
        w.owner("Initiator", &self.initiator);
        w.owner("Owner", &self.owner);
        w.elem("StorageClass", &self.storage_class);
        w.num("PartNumberMarker", self.part_number_marker);
        w.num("NextPartNumberMarker", self.next_part_number_marker);
        w.num("MaxParts", self.max_parts);
        w.bool("IsTruncated", self.is_truncated);
        for p in &self.parts {
            w.open("Part");
            w.num("PartNumber", p.part_number);
            w.time("LastModified", p.last_modified);
            w.elem("ETag", &p.etag.quoted());
            w.num("Size", p.size);
            w.checksums(&p.checksums);
            w.close("Part");
        }
        w.finish(ROOT)
    }
}

/// One upload of ListMultipartUploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadEntry {
    /// Object key.
    pub key: String,
    /// Upload id.
    pub upload_id: String,
    /// Creation time.
    pub initiated: SystemTime,
    /// Who started the upload.
    pub initiator: Owner,
    /// Who will own the object (the bucket owner under BucketOwnerEnforced).
    pub owner: Owner,
    /// Storage class, normally `STANDARD`.
    pub storage_class: String,
}

/// ListMultipartUploads response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListMultipartUploadsResult {
    /// Bucket name.
    pub bucket: String,
    /// Echoed key-marker (possibly empty).
    pub key_marker: String,
    /// Echoed upload-id-marker (possibly empty).
    pub upload_id_marker: String,
    /// Next key marker, when truncated.
    pub next_key_marker: Option<String>,
    /// Next upload id marker, when truncated.
    pub next_upload_id_marker: Option<String>,
    /// Prefix (echoed, possibly empty).
    pub prefix: String,
    /// Delimiter, if one was given.
    pub delimiter: Option<String>,
    /// Echoed max-uploads.
    pub max_uploads: u32,
    /// Whether more uploads exist.
    pub is_truncated: bool,
    /// Uploads in (key, initiation) order.
    pub uploads: Vec<UploadEntry>,
    /// Common prefixes.
    pub common_prefixes: Vec<String>,
    /// Whether `encoding-type=url` was requested.
    pub encoding_type_url: bool,
}

impl ListMultipartUploadsResult {
    /// Renders the body.
    pub fn to_xml(&self) -> String {
        const ROOT: &str = "ListMultipartUploadsResult";
        let url = self.encoding_type_url;
        let mut w = Writer::new(ROOT);
        w.elem("Bucket", &self.bucket);
        w.elem("KeyMarker", &enc(&self.key_marker, url));
        w.elem("UploadIdMarker", &self.upload_id_marker);
        w.opt("NextKeyMarker", self.next_key_marker.as_deref().map(|k| enc(k, url)).as_deref());
        w.opt("NextUploadIdMarker", self.next_upload_id_marker.as_deref());
        w.opt("Delimiter", self.delimiter.as_deref().map(|d| enc(d, url)).as_deref());
        w.elem("Prefix", &enc(&self.prefix, url));
        if url {
            w.elem("EncodingType", "url");
        }
        w.num("MaxUploads", self.max_uploads);
        w.bool("IsTruncated", self.is_truncated);
        for u in &self.uploads {
            w.open("Upload");
            w.elem("Key", &enc(&u.key, url));
            w.elem("UploadId", &u.upload_id);
            w.owner("Initiator", &u.initiator);
            w.owner("Owner", &u.owner);
            w.elem("StorageClass", &u.storage_class);
            w.time("Initiated", u.initiated);
            w.close("Upload");
        }
        w.common_prefixes(&self.common_prefixes, url);
        w.finish(ROOT)
    }
}

/// One successfully deleted object of DeleteObjects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedEntry {
    /// Key as requested.
    pub key: String,
    /// Version id, if one was requested.
    pub version_id: Option<String>,
    /// Whether a delete marker was involved (versioned buckets only).
    pub delete_marker: Option<bool>,
    /// Version id of the delete marker (versioned buckets only).
    pub delete_marker_version_id: Option<String>,
}

/// One failed object of DeleteObjects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteErrorEntry {
    /// Key as requested.
    pub key: String,
    /// Version id, if one was requested.
    pub version_id: Option<String>,
    /// Error code.
    pub code: ErrorCode,
    /// Error message.
    pub message: String,
}

/// DeleteObjects response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteResult {
    /// Deleted objects (empty in quiet mode).
    pub deleted: Vec<DeletedEntry>,
    /// Failures.
    pub errors: Vec<DeleteErrorEntry>,
}

impl DeleteResult {
    /// Renders the body.
    pub fn to_xml(&self) -> String {
        const ROOT: &str = "DeleteResult";
        let mut w = Writer::new(ROOT);
        for d in &self.deleted {
            w.open("Deleted");
            w.elem("Key", &d.key);
            w.opt("VersionId", d.version_id.as_deref());
            if let Some(m) = d.delete_marker {
                w.bool("DeleteMarker", m);
            }
            w.opt("DeleteMarkerVersionId", d.delete_marker_version_id.as_deref());
            w.close("Deleted");
        }
        for e in &self.errors {
            w.open("Error");
            w.elem("Key", &e.key);
            w.opt("VersionId", e.version_id.as_deref());
            w.elem("Code", e.code.as_str());
            w.elem("Message", &e.message);
            w.close("Error");
        }
        w.finish(ROOT)
    }
}

/// GetBucketLocation response; `None` and `us-east-1` render as an empty element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationConstraint(pub Option<String>);

impl LocationConstraint {
    /// Renders the body.
    pub fn to_xml(&self) -> String {
        match self.0.as_deref() {
            None | Some("" | "us-east-1") => {
                format!("{PROLOG}<LocationConstraint xmlns=\"{S3_NAMESPACE}\"/>")
            }
            Some(region) => format!(
                "{PROLOG}<LocationConstraint xmlns=\"{S3_NAMESPACE}\">{}</LocationConstraint>",
                escape(region)
            ),
        }
    }
}

/// GetBucketPolicyStatus response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyStatus {
    /// Whether the bucket policy makes the bucket public.
    pub is_public: bool,
}

impl PolicyStatus {
    /// Renders the body.
    pub fn to_xml(&self) -> String {
        format!(
            "{PROLOG}<PolicyStatus xmlns=\"{S3_NAMESPACE}\"><IsPublic>{}</IsPublic></PolicyStatus>",
            self.is_public
        )
    }
}

/// GetObjectTagging response: the tag set in stored order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tagging(pub Vec<(String, String)>);

impl Tagging {
    /// Renders the body.
    pub fn to_xml(&self) -> String {
        const ROOT: &str = "Tagging";
        let mut w = Writer::new(ROOT);
        w.open("TagSet");
        for (k, v) in &self.0 {
            w.open("Tag");
            w.elem("Key", k);
            w.elem("Value", v);
            w.close("Tag");
        }
        w.close("TagSet");
        w.finish(ROOT)
    }
}

/// One part in GetObjectAttributes' `ObjectParts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributesPart {
    /// Part number.
    pub part_number: u32,
    /// Size in bytes.
    pub size: u64,
    /// The part's checksum, if the object has one.
    pub checksums: Vec<(ChecksumAlgorithm, String)>,
}

/// GetObjectAttributes' `ObjectParts` (multipart objects only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributesParts {
    /// Total parts of the object.
    pub parts_count: u32,
    /// Echoed part-number marker.
    pub part_number_marker: u32,
    /// Marker for the next page (last part listed).
    pub next_part_number_marker: u32,
    /// Echoed max-parts.
    pub max_parts: u32,
    /// Whether more parts follow.
    pub is_truncated: bool,
    /// This page of parts.
    pub parts: Vec<AttributesPart>,
}

/// GetObjectAttributes response; each field is present only when requested (and known).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetObjectAttributesResult {
    /// The ETag, unquoted (S3 sends it without quotes here).
    pub etag: Option<String>,
    /// The object checksum and its type.
    pub checksum: Option<((ChecksumAlgorithm, String), Option<ChecksumType>)>,
    /// Parts of a multipart object.
    pub object_parts: Option<AttributesParts>,
    /// Storage class.
    pub storage_class: Option<String>,
    /// Size in bytes.
    pub object_size: Option<u64>,
}

impl GetObjectAttributesResult {
    /// Renders the body.
    pub fn to_xml(&self) -> String {
        const ROOT: &str = "GetObjectAttributesResponse";
        let mut w = Writer::new(ROOT);
        w.opt("ETag", self.etag.as_deref());
        if let Some(((alg, value), ty)) = &self.checksum {
            w.open("Checksum");
            w.elem(alg.xml_element(), value);
            if let Some(ty) = ty {
                w.elem("ChecksumType", ty.as_str());
            }
            w.close("Checksum");
        }
        if let Some(p) = &self.object_parts {
            w.open("ObjectParts");
            w.bool("IsTruncated", p.is_truncated);
            w.num("MaxParts", p.max_parts);
            w.num("NextPartNumberMarker", p.next_part_number_marker);
            w.num("PartNumberMarker", p.part_number_marker);
            for part in &p.parts {
                w.open("Part");
                w.checksums(&part.checksums);
                w.num("PartNumber", part.part_number);
                w.num("Size", part.size);
                w.close("Part");
            }
            w.num("PartsCount", p.parts_count);
            w.close("ObjectParts");
        }
        w.opt("StorageClass", self.storage_class.as_deref());
        if let Some(n) = self.object_size {
            w.num("ObjectSize", n);
        }
        w.finish(ROOT)
    }
}

/// Largest PutBucketVersioning body accepted.
pub const MAX_VERSIONING_BODY: usize = 4 * 1024;

/// A `VersioningConfiguration` (PutBucketVersioning body, GetBucketVersioning answer): `Status`
/// and `MfaDelete` as sent; both absent for a bucket never versioned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VersioningConfiguration {
    /// `Status` (`Enabled` or `Suspended` when valid).
    pub status: Option<String>,
    /// `MfaDelete` (`Enabled` or `Disabled` when valid).
    pub mfa_delete: Option<String>,
}

/// Parses a PutBucketVersioning body: [`ErrorCode::MalformedXML`] unless it is one
/// `VersioningConfiguration` with at most `Status` and `MfaDelete` children.
pub fn parse_versioning_configuration(body: &[u8]) -> Result<VersioningConfiguration, S3Error> {
    let root = parse_document(body, MAX_VERSIONING_BODY)?;
    expect_root(&root, "VersioningConfiguration")?;
    let mut config = VersioningConfiguration::default();
    for c in &root.children {
        let slot = match c.name.as_str() {
            "Status" => &mut config.status,
            "MfaDelete" => &mut config.mfa_delete,
            _ => return Err(malformed()),
        };
        if slot.replace(c.text.trim().to_owned()).is_some() || !c.children.is_empty() {
            return Err(malformed());
        }
    }
    Ok(config)
}

impl VersioningConfiguration {
    /// Renders the body (GetBucketVersioning): an empty element, as AWS sends it, for a
    /// bucket never versioned.
    pub fn to_xml(&self) -> String {
        const ROOT: &str = "VersioningConfiguration";
        if self.status.is_none() && self.mfa_delete.is_none() {
            return format!("{PROLOG}<{ROOT} xmlns=\"{S3_NAMESPACE}\"/>");
        }
        let mut w = Writer::new(ROOT);
        w.opt("Status", self.status.as_deref());
        w.opt("MfaDelete", self.mfa_delete.as_deref());
        w.finish(ROOT)
    }
}

/// One `Version` or `DeleteMarker` of ListObjectVersions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionEntry {
    /// Key (URL-encoded on output when the listing asks for it).
    pub key: String,
    /// Version id.
    pub version_id: String,
    /// Whether it is the key's latest version.
    pub is_latest: bool,
    /// Last modification time.
    pub last_modified: SystemTime,
    /// Owner.
    pub owner: Owner,
    /// `None` for a delete marker; else (ETag, size, storage class, checksum algorithm).
    pub object: Option<(ETag, u64, String, Option<ChecksumAlgorithm>)>,
}

/// ListObjectVersions response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListVersionsResult {
    /// Bucket name.
    pub name: String,
    /// Prefix (echoed, possibly empty).
    pub prefix: String,
    /// Echoed key-marker (possibly empty).
    pub key_marker: String,
    /// Echoed version-id-marker (possibly empty).
    pub version_id_marker: String,
    /// Where the next page starts, when truncated.
    pub next_key_marker: Option<String>,
    /// With `next_key_marker`, unless the page ended on a common prefix.
    pub next_version_id_marker: Option<String>,
    /// Echoed max-keys.
    pub max_keys: u32,
    /// Delimiter, if one was given.
    pub delimiter: Option<String>,
    /// Whether more results exist.
    pub is_truncated: bool,
    /// Versions and delete markers, keys ascending, each key's newest first.
    pub entries: Vec<VersionEntry>,
    /// Common prefixes.
    pub common_prefixes: Vec<String>,
    /// Whether `encoding-type=url` was requested.
    pub encoding_type_url: bool,
}

impl ListVersionsResult {
    /// Renders the body.
    pub fn to_xml(&self) -> String {
        const ROOT: &str = "ListVersionsResult";
        let url = self.encoding_type_url;
        let mut w = Writer::new(ROOT);
        w.elem("Name", &self.name);
        w.elem("Prefix", &enc(&self.prefix, url));
        w.elem("KeyMarker", &enc(&self.key_marker, url));
        w.elem("VersionIdMarker", &self.version_id_marker);
        w.opt("NextKeyMarker", self.next_key_marker.as_deref().map(|m| enc(m, url)).as_deref());
        w.opt("NextVersionIdMarker", self.next_version_id_marker.as_deref());
        w.num("MaxKeys", self.max_keys);
        w.opt("Delimiter", self.delimiter.as_deref().map(|d| enc(d, url)).as_deref());
        if url {
            w.elem("EncodingType", "url");
        }
        w.bool("IsTruncated", self.is_truncated);
        for e in &self.entries {
            let name = if e.object.is_some() { "Version" } else { "DeleteMarker" };
            w.open(name);
            w.elem("Key", &enc(&e.key, url));
            w.elem("VersionId", &e.version_id);
            w.bool("IsLatest", e.is_latest);
            w.time("LastModified", e.last_modified);
            if let Some((etag, size, class, alg)) = &e.object {
                w.elem("ETag", &etag.quoted());
                if let Some(alg) = alg {
                    w.elem("ChecksumAlgorithm", alg.as_str());
                }
                w.num("Size", size);
                w.elem("StorageClass", class);
            }
            w.owner("Owner", &e.owner);
            w.close(name);
        }
        w.common_prefixes(&self.common_prefixes, url);
        w.finish(ROOT)
    }
}

#[cfg(test)]
mod versioning_tests {
    use super::*;

    #[test]
    fn versioning_configuration_parses_and_renders() {
        let body = b"<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                     <Status>Enabled</Status><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>";
        let c = parse_versioning_configuration(body).unwrap();
        assert_eq!(
            (c.status.as_deref(), c.mfa_delete.as_deref()),
            (Some("Enabled"), Some("Disabled"))
        );
        for bad in [
            &b"<x/>"[..],
            b"<VersioningConfiguration><Status>A</Status><Status>B</Status></VersioningConfiguration>",
            b"<VersioningConfiguration><Other/></VersioningConfiguration>",
            b"<VersioningConfiguration>",
        ] {
            let e = parse_versioning_configuration(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::MalformedXML);
        }
        assert!(VersioningConfiguration::default().to_xml().ends_with(
            "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>"
        ));
        let on = VersioningConfiguration { status: Some("Suspended".into()), mfa_delete: None };
        assert!(on.to_xml().ends_with("><Status>Suspended</Status></VersioningConfiguration>"));
    }

    #[test]
    fn version_listing_renders_versions_markers_and_markers() {
        let owner = Owner { id: "o".into(), display_name: "o".into() };
        let r = ListVersionsResult {
            name: "b".into(),
            prefix: "a b".into(),
            key_marker: String::new(),
            version_id_marker: String::new(),
            next_key_marker: Some("a b/c".into()),
            next_version_id_marker: Some("v1".into()),
            max_keys: 2,
            delimiter: None,
            is_truncated: true,
            entries: vec![
                VersionEntry {
                    key: "a b/c".into(),
                    version_id: "v2".into(),
                    is_latest: true,
                    last_modified: SystemTime::UNIX_EPOCH,
                    owner: owner.clone(),
                    object: None,
                },
                VersionEntry {
                    key: "a b/c".into(),
                    version_id: "v1".into(),
                    is_latest: false,
                    last_modified: SystemTime::UNIX_EPOCH,
                    owner,
                    object: Some((ETag::parse_quoted_or_not("e"), 3, "STANDARD".into(), None)),
                },
            ],
            common_prefixes: vec![],
            encoding_type_url: true,
        };
        let xml = r.to_xml();
        assert!(xml.contains("<Prefix>a%20b</Prefix>"), "{xml}");
        assert!(xml.contains("<NextKeyMarker>a%20b/c</NextKeyMarker>"), "{xml}");
        assert!(xml.contains("<NextVersionIdMarker>v1</NextVersionIdMarker>"), "{xml}");
        assert!(
            xml.contains(
                "<DeleteMarker><Key>a%20b/c</Key><VersionId>v2</VersionId><IsLatest>true</IsLatest>"
            ),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<Version><Key>a%20b/c</Key><VersionId>v1</VersionId><IsLatest>false</IsLatest>"
            ),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<ETag>&quot;e&quot;</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass>"
            ),
            "{xml}"
        );
        assert!(xml.find("<DeleteMarker>") < xml.find("<Version>"), "listing order kept");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check_err<T: std::fmt::Debug>(result: Result<T, S3Error>) {
        assert_eq!(result.unwrap_err().code, ErrorCode::MalformedXML);
    }

    #[test]
    fn tagging_parses_and_round_trips() {
        let body = br#"<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>
            <Tag><Key>a b</Key><Value>x&amp;y</Value></Tag><Tag><Key>e</Key><Value/></Tag>
            </TagSet></Tagging>"#;
        let tags = parse_tagging(body).unwrap();
        assert_eq!(tags, vec![("a b".into(), "x&y".into()), ("e".into(), String::new())]);
        assert_eq!(parse_tagging(Tagging(tags.clone()).to_xml().as_bytes()).unwrap(), tags);
        assert!(parse_tagging(b"<Tagging><TagSet/></Tagging>").unwrap().is_empty());
        check_err(parse_tagging(b"<Tagging/>"));
        check_err(parse_tagging(b"<Tags><TagSet/></Tags>"));
        check_err(parse_tagging(b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>"));
        check_err(parse_tagging(b"<Tagging><TagSet><Bogus/></TagSet></Tagging>"));
        check_err(parse_tagging(&vec![b' '; MAX_TAGGING_BODY + 1]));
    }

    #[test]
    fn object_attributes_in_aws_order() {
        let result = GetObjectAttributesResult {
            etag: Some("abc-2".into()),
            checksum: Some((
                (ChecksumAlgorithm::Crc32, "AAAAAA==-2".into()),
                Some(ChecksumType::Composite),
            )),
            object_parts: Some(AttributesParts {
                parts_count: 2,
                part_number_marker: 0,
                next_part_number_marker: 1,
                max_parts: 1,
                is_truncated: true,
                parts: vec![AttributesPart {
                    part_number: 1,
                    size: 5,
                    checksums: vec![(ChecksumAlgorithm::Crc32, "AAAAAB==".into())],
                }],
            }),
            storage_class: Some("STANDARD".into()),
            object_size: Some(10),
        };
        let xml = result.to_xml();
        let order = [
            "<ETag>abc-2</ETag>",
            "<Checksum><ChecksumCRC32>AAAAAA==-2</ChecksumCRC32><ChecksumType>COMPOSITE",
            "<ObjectParts><IsTruncated>true</IsTruncated><MaxParts>1</MaxParts>",
            "<Part><ChecksumCRC32>AAAAAB==</ChecksumCRC32><PartNumber>1</PartNumber><Size>5",
            "<PartsCount>2</PartsCount></ObjectParts>",
            "<StorageClass>STANDARD</StorageClass><ObjectSize>10</ObjectSize>",
        ];
        let mut at = 0;
        for piece in order {
            let found = xml[at..].find(piece).unwrap_or_else(|| panic!("{piece} in {xml}"));
            at += found + piece.len();
        }
        let empty = GetObjectAttributesResult::default().to_xml();
        assert!(empty.ends_with("<GetObjectAttributesResponse xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></GetObjectAttributesResponse>"));
    }

    #[test]
    fn complete_parses_with_and_without_namespace() {
        let with_ns = br#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Part><PartNumber>1</PartNumber><ETag>"a"</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>
  <Part><ETag>&quot;b&quot;</ETag><PartNumber> 2 </PartNumber></Part>
</CompleteMultipartUpload>"#;
        let parts = parse_complete_multipart_upload(with_ns).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].etag, "\"a\"");
        assert_eq!(parts[0].checksums, vec![(ChecksumAlgorithm::Crc32, "AAAAAA==".to_owned())]);
        assert_eq!(
            parts[1],
            CompletedPart { part_number: 2, etag: "\"b\"".into(), checksums: vec![] }
        );
        let no_ns = b"<CompleteMultipartUpload><Part><PartNumber>3</PartNumber><ETag>c</ETag></Part></CompleteMultipartUpload>";
        assert_eq!(parse_complete_multipart_upload(no_ns).unwrap()[0].part_number, 3);
        let prefixed = b"<s3:CompleteMultipartUpload xmlns:s3=\"x\"><s3:Part><s3:PartNumber>3</s3:PartNumber><s3:ETag>c</s3:ETag></s3:Part></s3:CompleteMultipartUpload>";
        assert_eq!(parse_complete_multipart_upload(prefixed).unwrap()[0].etag, "c");
    }

    #[test]
    fn complete_rejects() {
        for body in [
            &b""[..],
            b"<CompleteMultipartUpload></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload/>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
            b"<Other><Part><PartNumber>1</PartNumber><ETag>a</ETag></Part></Other>",
            b"<CompleteMultipartUpload><Part>",
            b"<CompleteMultipartUpload></Wrong>",
            b"<!DOCTYPE x [<!ENTITY a \"b\">]><CompleteMultipartUpload/>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&bogus;</ETag></Part></CompleteMultipartUpload>",
            b"<A/><B/>",
            b"text<A/>",
        ] {
            check_err(parse_complete_multipart_upload(body));
        }
        let huge = vec![b' '; MAX_COMPLETE_BODY + 1];
        check_err(parse_complete_multipart_upload(&huge));
        // A part number that is no number is InvalidArgument, as 0 and 10001 are.
        for n in ["-1", "x", "", "1.5", "99999999999"] {
            let body = format!(
                "<CompleteMultipartUpload><Part><PartNumber>{n}</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>"
            );
            let e = parse_complete_multipart_upload(body.as_bytes()).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidArgument, "{n:?}");
        }
    }

    #[test]
    fn delete_parses() {
        let body = br#"<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>
<Object><Key> spaced key </Key></Object><Object><Key>a&amp;b</Key><VersionId>v1</VersionId></Object></Delete>"#;
        let req = parse_delete(body).unwrap();
        assert!(req.quiet);
        assert_eq!(
            req.objects[0],
            ObjectIdentifier {
                key: " spaced key ".into(),
                version_id: None,
                conditions: crate::DeleteConditions::default()
            }
        );
        assert_eq!(req.objects[1].key, "a&b");
        assert_eq!(req.objects[1].version_id.as_deref(), Some("v1"));
        let not_quiet = parse_delete(b"<Delete><Object><Key>k</Key></Object></Delete>").unwrap();
        assert!(!not_quiet.quiet);
        let conditional = parse_delete(
            b"<Delete><Object><Key>k</Key><ETag>\"e\"</ETag><Size>7</Size>\
              <LastModifiedTime>2025-01-02T03:04:05.000Z</LastModifiedTime></Object></Delete>",
        )
        .unwrap();
        let c = &conditional.objects[0].conditions;
        assert_eq!((c.if_match.as_deref(), c.size), (Some("\"e\""), Some(7)));
        assert_eq!(c.last_modified, crate::time::parse_iso8601("2025-01-02T03:04:05Z"));
        let http_date = parse_delete(
            b"<Delete><Object><Key>k</Key>\
              <LastModifiedTime>Thu, 02 Jan 2025 03:04:05 GMT</LastModifiedTime></Object></Delete>",
        )
        .unwrap();
        assert_eq!(http_date.objects[0].conditions.last_modified, c.last_modified);
        for bad in ["<Size>-1</Size>", "<LastModifiedTime>yesterday</LastModifiedTime>"] {
            let body = format!("<Delete><Object><Key>k</Key>{bad}</Object></Delete>");
            check_err(parse_delete(body.as_bytes()));
        }
    }

    #[test]
    fn delete_rejects() {
        check_err(parse_delete(b"<Delete></Delete>"));
        check_err(parse_delete(b"<Delete><Object></Object></Delete>"));
        check_err(parse_delete(
            b"<Delete><Quiet>maybe</Quiet><Object><Key>k</Key></Object></Delete>",
        ));
        let mut many = String::from("<Delete>");
        for i in 0..=MAX_DELETE_OBJECTS {
            let _ = write!(many, "<Object><Key>k{i}</Key></Object>");
        }
        many.push_str("</Delete>");
        check_err(parse_delete(many.as_bytes()));
        let exactly = many.replace("<Object><Key>k1000</Key></Object>", "");
        assert_eq!(parse_delete(exactly.as_bytes()).unwrap().objects.len(), 1000);
    }

    #[test]
    fn repeated_children_are_malformed() {
        let part = |inner: &str| {
            format!("<CompleteMultipartUpload><Part>{inner}</Part></CompleteMultipartUpload>")
        };
        for inner in [
            "<PartNumber>1</PartNumber><PartNumber>2</PartNumber><ETag>a</ETag>",
            "<PartNumber>1</PartNumber><ETag>a</ETag><ETag>b</ETag>",
            "<PartNumber>1</PartNumber><ETag>a</ETag><ChecksumCRC32>A</ChecksumCRC32>\
             <ChecksumCRC32>B</ChecksumCRC32>",
        ] {
            check_err(parse_complete_multipart_upload(part(inner).as_bytes()));
        }
        // Different checksum elements are not repeats (the engine judges them).
        let two = part(
            "<PartNumber>1</PartNumber><ETag>a</ETag><ChecksumCRC32>A</ChecksumCRC32>\
             <ChecksumSHA1>B</ChecksumSHA1>",
        );
        assert_eq!(parse_complete_multipart_upload(two.as_bytes()).unwrap()[0].checksums.len(), 2);
        let object = |inner: &str| format!("<Delete><Object>{inner}</Object></Delete>");
        for inner in [
            "<Key>a</Key><Key>b</Key>",
            "<Key>a</Key><VersionId>1</VersionId><VersionId>2</VersionId>",
            "<Key>a</Key><ETag>x</ETag><ETag>y</ETag>",
            "<Key>a</Key><Size>1</Size><Size>1</Size>",
        ] {
            check_err(parse_delete(object(inner).as_bytes()));
        }
        check_err(parse_delete(
            b"<Delete><Quiet>true</Quiet><Quiet>false</Quiet><Object><Key>k</Key></Object></Delete>",
        ));
        check_err(parse_tagging(
            b"<Tagging><TagSet><Tag><Key>k</Key><Key>j</Key><Value>v</Value></Tag></TagSet></Tagging>",
        ));
        check_err(parse_tagging(
            b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value><Value>w</Value></Tag></TagSet></Tagging>",
        ));
        check_err(parse_tagging(b"<Tagging><TagSet/><TagSet/></Tagging>"));
        check_err(parse_create_bucket_configuration(
            b"<CreateBucketConfiguration><LocationConstraint>a</LocationConstraint>\
              <LocationConstraint>b</LocationConstraint></CreateBucketConfiguration>",
        ));
        check_err(parse_error_body(b"<Error><Code>A</Code><Code>B</Code></Error>"));
    }

    #[test]
    fn create_bucket_configuration() {
        assert_eq!(parse_create_bucket_configuration(b"").unwrap(), None);
        assert_eq!(parse_create_bucket_configuration(b"  \n").unwrap(), None);
        let body = b"<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>";
        assert_eq!(parse_create_bucket_configuration(body).unwrap().as_deref(), Some("eu-west-1"));
        let empty = b"<CreateBucketConfiguration><LocationConstraint/></CreateBucketConfiguration>";
        assert_eq!(parse_create_bucket_configuration(empty).unwrap(), None);
        check_err(parse_create_bucket_configuration(b"<Nope/>"));
        check_err(parse_create_bucket_configuration(b"garbage"));
    }

    #[test]
    fn error_bodies_round_trip() {
        let err = S3Error::new(ErrorCode::NoSuchUpload).with_extra("UploadId", "u&1");
        let parsed = parse_error_body(err.to_xml("/b/k", "r1").as_bytes()).unwrap();
        assert_eq!(parsed.error_code(), Some(ErrorCode::NoSuchUpload));
        assert_eq!(parsed.message, ErrorCode::NoSuchUpload.default_message());
        assert_eq!(
            parsed.elements,
            [("UploadId", "u&1"), ("Resource", "/b/k"), ("RequestId", "r1")]
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        let odd = parse_error_body(b"<Error><Code>Weird</Code></Error>").unwrap();
        assert_eq!((odd.error_code(), odd.message.as_str()), (None, ""));
        check_err(parse_error_body(b"<Error><Message>m</Message></Error>"));
    }

    #[test]
    fn escapes() {
        assert_eq!(escape("a&<>\"'b"), "a&amp;&lt;&gt;&quot;&apos;b");
        assert_eq!(escape("a\u{1}\r\n\t"), "a&#x1;&#13;\n\t");
        assert_eq!(url_encode("a b+c/d~é"), "a%20b%2Bc/d~%C3%A9");
    }

    proptest! {
        #[test]
        fn parsers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_complete_multipart_upload(&body);
            let _ = parse_delete(&body);
            let _ = parse_create_bucket_configuration(&body);
            let _ = parse_tagging(&body);
        }

        #[test]
        fn parsers_never_panic_on_xmlish(body in "(<[A-Za-z:]{1,8}( x=\"y\")?/?>|</[A-Za-z:]{1,8}>|&[a-z#0-9]{0,5};|[a-z0-9 ]{0,5}|<!\\[CDATA\\[a\\]\\]>){0,20}") {
            let _ = parse_complete_multipart_upload(body.as_bytes());
            let _ = parse_delete(body.as_bytes());
        }

        #[test]
        fn keys_round_trip_through_delete(key in "\\PC{1,40}") {
            let body = format!("<Delete><Object><Key>{}</Key></Object></Delete>", escape(&key));
            let parsed = parse_delete(body.as_bytes()).unwrap();
            prop_assert_eq!(&parsed.objects[0].key, &key);
        }

        #[test]
        fn url_encoding_round_trips(key in "\\PC{0,40}") {
            let encoded = url_encode(&key);
            prop_assert!(!encoded.contains('+') && !encoded.contains(' '));
            let decoded = percent_encoding::percent_decode_str(&encoded).decode_utf8().unwrap();
            prop_assert_eq!(decoded, key);
        }
    }

    #[test]
    fn bucket_encryption_rules_with_kms_keys() {
        let body = br"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>testkey-1</KMSMasterKeyID></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>";
        let rule = parse_bucket_encryption(body).unwrap();
        let want = EncryptionRule {
            algorithm: Some("aws:kms".into()),
            kms_key_id: Some("testkey-1".into()),
            bucket_key: true,
            block_sse_c: None,
        };
        assert_eq!(rule, want);
        let xml = bucket_encryption_xml(&rule);
        assert!(xml.contains("<SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>testkey-1</KMSMasterKeyID></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled>"), "{xml}");
        let aes = br"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>";
        let rule = parse_bucket_encryption(aes).unwrap();
        assert_eq!(rule, EncryptionRule { algorithm: Some("AES256".into()), ..Default::default() });
        let bad = br"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>yes</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>";
        assert!(parse_bucket_encryption(bad).is_err());
    }

    #[test]
    fn blocked_encryption_types_parse_render_and_refuse() {
        let wrap = |rule: &str| {
            format!(
                "<ServerSideEncryptionConfiguration><Rule>{rule}</Rule></ServerSideEncryptionConfiguration>"
            )
        };
        let aes = "<ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault>";
        let block = "<BlockedEncryptionTypes><EncryptionType>SSE-C</EncryptionType></BlockedEncryptionTypes>";
        let none = "<BlockedEncryptionTypes><EncryptionType>NONE</EncryptionType></BlockedEncryptionTypes>";
        let rule = parse_bucket_encryption(wrap(&format!("{aes}{block}")).as_bytes()).unwrap();
        assert_eq!(rule.algorithm.as_deref(), Some("AES256"));
        assert_eq!(rule.block_sse_c, Some(true));
        let xml = bucket_encryption_xml(&rule);
        assert!(
            xml.contains(&format!("<BucketKeyEnabled>false</BucketKeyEnabled>{block}")),
            "{xml}"
        );
        // Only the block: no default algorithm, and none rendered.
        let rule = parse_bucket_encryption(wrap(none).as_bytes()).unwrap();
        assert_eq!(rule, EncryptionRule { block_sse_c: Some(false), ..Default::default() });
        let xml = bucket_encryption_xml(&rule);
        assert!(!xml.contains("ApplyServerSideEncryptionByDefault") && xml.contains(none), "{xml}");
        // Refused: an empty rule, an unknown type, both types, no type.
        for bad in [
            String::new(),
            "<BlockedEncryptionTypes><EncryptionType>SSE-S3</EncryptionType></BlockedEncryptionTypes>".to_owned(),
            "<BlockedEncryptionTypes><EncryptionType>SSE-C</EncryptionType><EncryptionType>NONE</EncryptionType></BlockedEncryptionTypes>".to_owned(),
            "<BlockedEncryptionTypes></BlockedEncryptionTypes>".to_owned(),
        ] {
            assert!(parse_bucket_encryption(wrap(&bad).as_bytes()).is_err(), "{bad}");
        }
    }
}
