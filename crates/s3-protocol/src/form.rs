//! A sans-I/O, streaming `multipart/form-data` parser for browser uploads (POST Object).
//!
//! Fed the body in pieces of any size, [`FormParser::parse`] yields the form fields before
//! the file ([`FormEvent::Field`], each value kept in memory up to a cap), then the file
//! part's headers ([`FormEvent::FileStart`]), its content as it arrives
//! ([`FormEvent::FileData`], zero-copy slices of the input; the file is never held whole)
//! and [`FormEvent::FileEnd`]. S3 requires the file to be the last field and ignores what
//! follows it, so after the file the parser discards the rest of the body.
//!
//! ```
//! use bytes::Bytes;
//! use s3gate_protocol::form::{FormEvent, FormLimits, FormParser};
//!
//! let mut parser = FormParser::from_content_type(
//!     "multipart/form-data; boundary=XyZ",
//!     FormLimits::default(),
//! )?;
//! let body = "--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nuploads/${filename}\r\n\
//!             --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\
//!             Content-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n";
//! let mut events = Vec::new();
//! for piece in body.as_bytes().chunks(7) {
//!     let mut input = Bytes::copy_from_slice(piece);
//!     while let Some(event) = parser.parse(&mut input)? {
//!         events.push(event);
//!     }
//! }
//! parser.finish()?;
//! let FormEvent::Field(key) = &events[0] else { panic!() };
//! assert_eq!((key.name.as_str(), key.value_str()), ("key", Some("uploads/${filename}")));
//! let FormEvent::FileStart(file) = &events[1] else { panic!() };
//! assert_eq!(file.filename.as_deref(), Some("a.txt"));
//! let data: Vec<u8> = events.iter().filter_map(|e| match e {
//!     FormEvent::FileData(d) => Some(d.to_vec()),
//!     _ => None,
//! }).flatten().collect();
//! assert_eq!(data, b"hello");
//! assert!(matches!(events.last(), Some(FormEvent::FileEnd)));
//! # Ok::<(), s3gate_protocol::form::FormError>(())
//! ```

use bytes::{Buf, Bytes};

/// Why a form was refused. Each variant names the S3 error code the server answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// The Content-Type is not `multipart/form-data` (`PreconditionFailed`, with the
    /// condition "Bucket POST must be of the enclosure-type multipart/form-data").
    #[error("bucket POST must be of the enclosure-type multipart/form-data")]
    NotMultipart,
    /// The `boundary` parameter is missing or not a valid boundary (`MalformedPOSTRequest`).
    #[error("the multipart/form-data boundary is missing or invalid")]
    InvalidBoundary,
    /// The body is not well-formed multipart/form-data (`MalformedPOSTRequest`, "The body of
    /// your POST request is not well-formed multipart/form-data.").
    #[error("the body is not well-formed multipart/form-data: {0}")]
    Malformed(&'static str),
    /// A part's header block exceeds [`FormLimits::max_part_header_bytes`]
    /// (`MalformedPOSTRequest`).
    #[error("a form part's headers are too large")]
    PartHeaderTooLarge,
    /// More fields before the file than [`FormLimits::max_fields`]
    /// (`MaxPostPreDataLengthExceeded`).
    #[error("too many form fields precede the file")]
    TooManyFields,
    /// A field's value exceeds [`FormLimits::max_field_bytes`] (`MaxPostPreDataLengthExceeded`).
    #[error("the form field {name} is too large")]
    FieldTooLarge {
        /// The field.
        name: String,
    },
    /// Everything before the file exceeds [`FormLimits::max_pre_file_bytes`]
    /// (`MaxPostPreDataLengthExceeded`, "Your POST request fields preceding the upload file
    /// were too large.").
    #[error("the form fields preceding the file are too large")]
    PreFileDataTooLarge,
    /// The form ended without a part named `file` (`IncorrectNumberOfFilesInPostRequest`,
    /// "POST requires exactly one file upload per request.").
    #[error("POST requires exactly one file upload per request")]
    MissingFile,
    /// The body ended inside the form, before the file's closing boundary
    /// (`MalformedPOSTRequest`; `IncompleteBody` when fewer bytes than Content-Length came).
    #[error("the body ended before the end of the file part")]
    Incomplete,
}

/// Bounds on what the parser holds in memory before the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormLimits {
    /// Largest header block of one part (default 8 KiB).
    pub max_part_header_bytes: usize,
    /// Most fields before the file (default 100).
    pub max_fields: usize,
    /// Largest value of one field (default 64 KiB: a policy document fits many times).
    pub max_field_bytes: usize,
    /// Largest total of preamble, part headers and field values before the file (default
    /// 256 KiB).
    pub max_pre_file_bytes: usize,
}

impl Default for FormLimits {
    fn default() -> Self {
        Self {
            max_part_header_bytes: 8 * 1024,
            max_fields: 100,
            max_field_bytes: 64 * 1024,
            max_pre_file_bytes: 256 * 1024,
        }
    }
}

/// A form field before the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormField {
    /// The field name as sent (S3 compares names case-insensitively).
    pub name: String,
    /// The part's `filename`, if it had one.
    pub filename: Option<String>,
    /// The part's `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The value's bytes.
    pub value: Vec<u8>,
}

impl FormField {
    /// The value as UTF-8, `None` if it is not.
    pub fn value_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }
}

/// The headers of the file part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStart {
    /// The field name as sent (`file` in any case).
    pub name: String,
    /// The `filename` the browser sent (substituted for `${filename}` in the key).
    pub filename: Option<String>,
    /// The part's `Content-Type` header, if any.
    pub content_type: Option<String>,
}

/// What the parser found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormEvent {
    /// A complete field before the file.
    Field(FormField),
    /// The file part begins.
    FileStart(FileStart),
    /// The next bytes of the file (never empty).
    FileData(Bytes),
    /// The file part ended; the rest of the body is ignored.
    FileEnd,
}

/// The boundary of a `multipart/form-data` Content-Type value (quoted or not).
pub fn boundary_from_content_type(content_type: &str) -> Result<String, FormError> {
    let (media, params) = content_type.split_once(';').unwrap_or((content_type, ""));
    if !media.trim().eq_ignore_ascii_case("multipart/form-data") {
        return Err(FormError::NotMultipart);
    }
    let boundary = parse_params(params.as_bytes())
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(b"boundary"))
        .map(|(_, v)| v)
        .ok_or(FormError::InvalidBoundary)?;
    let boundary = String::from_utf8(boundary).map_err(|_| FormError::InvalidBoundary)?;
    valid_boundary(&boundary)?;
    Ok(boundary)
}

/// RFC 2046: 1 to 70 characters, not ending in a space; any printable ASCII is accepted.
fn valid_boundary(b: &str) -> Result<(), FormError> {
    if b.is_empty()
        || b.len() > 70
        || b.ends_with(' ')
        || !b.bytes().all(|c| (0x20..0x7f).contains(&c))
    {
        return Err(FormError::InvalidBoundary);
    }
    Ok(())
}

/// `; name=value; name="quoted \" value"` parameters (names lowercased by the caller).
/// Inside quotes, `\"` and `\\` are escapes (curl); any other backslash is literal (old
/// browsers send Windows paths as filenames).
fn parse_params(s: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        while i < s.len() && matches!(s[i], b' ' | b'\t' | b';') {
            i += 1;
        }
        let start = i;
        while i < s.len() && !matches!(s[i], b'=' | b';') {
            i += 1;
        }
        let name = s[start..i].trim_ascii().to_vec();
        if i >= s.len() || s[i] == b';' {
            if !name.is_empty() {
                out.push((name, Vec::new()));
            }
            continue;
        }
        i += 1; // '='
        while i < s.len() && matches!(s[i], b' ' | b'\t') {
            i += 1;
        }
        let mut value = Vec::new();
        if s.get(i) == Some(&b'"') {
            i += 1;
            while i < s.len() && s[i] != b'"' {
                if s[i] == b'\\' && matches!(s.get(i + 1), Some(b'"' | b'\\')) {
                    i += 1;
                }
                value.push(s[i]);
                i += 1;
            }
            i += 1; // closing quote
            while i < s.len() && s[i] != b';' {
                i += 1;
            }
        } else {
            let start = i;
            while i < s.len() && s[i] != b';' {
                i += 1;
            }
            value = s[start..i].trim_ascii().to_vec();
        }
        out.push((name, value));
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Before the first boundary: discarded.
    Preamble,
    /// Just after a boundary: `--` (the end) or optional padding and CRLF.
    AfterBoundary,
    /// A part's header lines.
    Headers,
    /// A field's value.
    Field { name: String, filename: Option<String>, content_type: Option<String>, value: Vec<u8> },
    /// The file's content.
    File,
    /// The file ended or the form closed: the rest is ignored.
    Done,
}

/// What a body scan found.
enum Scan {
    /// Body bytes before any boundary (possibly empty).
    Data(Bytes),
    /// The boundary, consumed.
    Boundary,
    /// The input is used up.
    NeedMore,
}

/// Sans-I/O incremental `multipart/form-data` parser; see the module documentation.
#[derive(Debug, Clone)]
pub struct FormParser {
    limits: FormLimits,
    /// `CRLF--boundary`.
    delimiter: Vec<u8>,
    /// KMP failure function of `delimiter`.
    fail: Vec<usize>,
    /// Boyer-Moore-Horspool shifts of `delimiter`.
    shift: Box<[usize; 256]>,
    state: State,
    /// Bytes of `delimiter` matched at the end of the input seen so far (held back: they
    /// are a prefix of the delimiter, so they need not be stored).
    matched: usize,
    /// A scan found the boundary right after the data it returned.
    boundary_next: bool,
    /// Header or boundary-line bytes being collected.
    line: Vec<u8>,
    /// Header lines of the current part.
    headers: Vec<Vec<u8>>,
    header_bytes: usize,
    fields: usize,
    pre_file_bytes: usize,
    file_seen: bool,
    file_bytes: u64,
}

impl FormParser {
    /// A parser for parts separated by `boundary`.
    pub fn new(boundary: &str, limits: FormLimits) -> Result<Self, FormError> {
        valid_boundary(boundary)?;
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        let n = delimiter.len();
        let mut fail = vec![0; n];
        let mut k = 0;
        for i in 1..n {
            while k > 0 && delimiter[i] != delimiter[k] {
                k = fail[k - 1];
            }
            if delimiter[i] == delimiter[k] {
                k += 1;
            }
            fail[i] = k;
        }
        let mut shift = Box::new([n; 256]);
        for (i, &b) in delimiter[..n - 1].iter().enumerate() {
            shift[usize::from(b)] = n - 1 - i;
        }
        Ok(Self {
            limits,
            delimiter,
            fail,
            shift,
            state: State::Preamble,
            // The body may start with the first boundary without a CRLF before it: parse as
            // if a CRLF preceded the body (it is preamble, which is discarded).
            matched: 2,
            boundary_next: false,
            line: Vec::new(),
            headers: Vec::new(),
            header_bytes: 0,
            fields: 0,
            pre_file_bytes: 0,
            file_seen: false,
            file_bytes: 0,
        })
    }

    /// A parser for a request whose Content-Type is `content_type`.
    pub fn from_content_type(content_type: &str, limits: FormLimits) -> Result<Self, FormError> {
        Self::new(&boundary_from_content_type(content_type)?, limits)
    }

    /// File bytes returned so far.
    pub fn file_bytes(&self) -> u64 {
        self.file_bytes
    }

    /// Consumes bytes from the front of `input` and returns the next event, or `Ok(None)`
    /// when it needs more input (then `input` has been fully consumed). Call repeatedly
    /// until it returns `Ok(None)`. At most a delimiter's length of file bytes is held back
    /// between calls (it may be the start of the boundary); they are returned once decided.
    pub fn parse(&mut self, input: &mut Bytes) -> Result<Option<FormEvent>, FormError> {
        loop {
            match &mut self.state {
                State::Done => {
                    input.clear();
                    return Ok(None);
                }
                State::Preamble => match self.scan(input) {
                    Scan::Data(d) => self.count_pre_file(d.len())?,
                    Scan::Boundary => self.state = State::AfterBoundary,
                    Scan::NeedMore => return Ok(None),
                },
                State::AfterBoundary => {
                    if !self.after_boundary(input)? {
                        return Ok(None);
                    }
                }
                State::Headers => {
                    if let Some(event) = self.read_headers(input)? {
                        return Ok(Some(event));
                    }
                    if self.state == State::Headers {
                        return Ok(None);
                    }
                }
                State::Field { .. } => match self.scan(input) {
                    Scan::Data(d) => {
                        self.count_pre_file(d.len())?;
                        let max = self.limits.max_field_bytes;
                        if let State::Field { name, value, .. } = &mut self.state {
                            if value.len() + d.len() > max {
                                return Err(FormError::FieldTooLarge { name: name.clone() });
                            }
                            value.extend_from_slice(&d);
                        }
                    }
                    Scan::Boundary => {
                        let State::Field { name, filename, content_type, value } =
                            std::mem::replace(&mut self.state, State::AfterBoundary)
                        else {
                            unreachable!("in the Field state")
                        };
                        return Ok(Some(FormEvent::Field(FormField {
                            name,
                            filename,
                            content_type,
                            value,
                        })));
                    }
                    Scan::NeedMore => return Ok(None),
                },
                State::File => match self.scan(input) {
                    Scan::Data(d) if d.is_empty() => {}
                    Scan::Data(d) => {
                        self.file_bytes += d.len() as u64;
                        return Ok(Some(FormEvent::FileData(d)));
                    }
                    Scan::Boundary => {
                        self.state = State::Done;
                        input.clear();
                        return Ok(Some(FormEvent::FileEnd));
                    }
                    Scan::NeedMore => return Ok(None),
                },
            }
        }
    }

    /// At the end of the body: the file must have ended.
    pub fn finish(&self) -> Result<(), FormError> {
        match self.state {
            State::Done if self.file_seen => Ok(()),
            State::File => Err(FormError::Incomplete),
            _ if self.file_seen => Err(FormError::Incomplete),
            _ => Err(FormError::MissingFile),
        }
    }

    fn count_pre_file(&mut self, n: usize) -> Result<(), FormError> {
        self.pre_file_bytes += n;
        if self.pre_file_bytes > self.limits.max_pre_file_bytes {
            return Err(FormError::PreFileDataTooLarge);
        }
        Ok(())
    }

    /// Finds the delimiter with Boyer-Moore-Horspool.
    fn find(&self, hay: &[u8]) -> Option<usize> {
        let n = self.delimiter.len();
        let last = self.delimiter[n - 1];
        let mut i = 0;
        while i + n <= hay.len() {
            let b = hay[i + n - 1];
            if b == last && hay[i..i + n - 1] == self.delimiter[..n - 1] {
                return Some(i);
            }
            i += self.shift[usize::from(b)];
        }
        None
    }

    /// Scans body bytes for the delimiter; see [`Scan`].
    fn scan(&mut self, input: &mut Bytes) -> Scan {
        if std::mem::take(&mut self.boundary_next) {
            return Scan::Boundary;
        }
        let n = self.delimiter.len();
        if self.matched > 0 {
            // Continue the partial match held back at the end of the previous input.
            let held = self.matched;
            let mut m = held;
            for (i, &b) in input.iter().enumerate() {
                while m > 0 && self.delimiter[m] != b {
                    m = self.fail[m - 1];
                }
                if self.delimiter[m] == b {
                    m += 1;
                }
                let seen = i + 1;
                if m == n {
                    let start = held + seen - n;
                    if start < held {
                        // The delimiter began in the held-back bytes.
                        input.advance(seen);
                        self.matched = 0;
                        self.boundary_next = start > 0;
                        return if start > 0 {
                            Scan::Data(Bytes::copy_from_slice(&self.delimiter[..start]))
                        } else {
                            Scan::Boundary
                        };
                    }
                    break;
                }
                if m <= seen {
                    break;
                }
                if seen == input.len() {
                    // Input used up while the match still reaches into the held bytes.
                    let safe = held + seen - m;
                    input.clear();
                    self.matched = m;
                    return Scan::Data(Bytes::copy_from_slice(&self.delimiter[..safe]));
                }
            }
            if input.is_empty() {
                return Scan::NeedMore;
            }
            // The held bytes are data; the input is scanned afresh on the next call.
            self.matched = 0;
            return Scan::Data(Bytes::copy_from_slice(&self.delimiter[..held]));
        }
        if input.is_empty() {
            return Scan::NeedMore;
        }
        if let Some(pos) = self.find(input) {
            let data = input.split_to(pos);
            input.advance(n);
            if data.is_empty() {
                return Scan::Boundary;
            }
            self.boundary_next = true;
            return Scan::Data(data);
        }
        // Hold back the longest tail that may begin the delimiter.
        let len = input.len();
        let keep = (1..n.min(len + 1))
            .rev()
            .find(|&k| input[len - k..] == self.delimiter[..k])
            .unwrap_or(0);
        let data = input.split_to(len - keep);
        input.clear();
        self.matched = keep;
        Scan::Data(data)
    }

    /// After a boundary: `--` ends the form; otherwise optional padding then CRLF starts a
    /// part. Returns whether it decided.
    fn after_boundary(&mut self, input: &mut Bytes) -> Result<bool, FormError> {
        while !input.is_empty() {
            let b = input[0];
            input.advance(1);
            self.line.push(b);
            if self.line == b"--" {
                self.line.clear();
                if self.file_seen {
                    self.state = State::Done;
                    return Ok(true);
                }
                return Err(FormError::MissingFile);
            }
            if b == b'\n' {
                let line = std::mem::take(&mut self.line);
                let body = line.strip_suffix(b"\r\n").unwrap_or(&line[..line.len() - 1]);
                if !body.iter().all(|c| matches!(c, b' ' | b'\t')) {
                    return Err(FormError::Malformed("unexpected bytes after a boundary"));
                }
                self.state = State::Headers;
                self.header_bytes = 0;
                self.headers.clear();
                return Ok(true);
            }
            if self.line.len() > 256 {
                return Err(FormError::Malformed("unexpected bytes after a boundary"));
            }
        }
        Ok(false)
    }

    /// Reads header lines; at the blank line, starts the part (a `FileStart` event for the
    /// file).
    fn read_headers(&mut self, input: &mut Bytes) -> Result<Option<FormEvent>, FormError> {
        while !input.is_empty() {
            let (take, end) = match input.iter().position(|&b| b == b'\n') {
                Some(p) => (p + 1, true),
                None => (input.len(), false),
            };
            self.header_bytes += take;
            if self.header_bytes > self.limits.max_part_header_bytes {
                return Err(FormError::PartHeaderTooLarge);
            }
            self.count_pre_file(take)?;
            self.line.extend_from_slice(&input[..take]);
            input.advance(take);
            if !end {
                return Ok(None);
            }
            let mut line = std::mem::take(&mut self.line);
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if !line.is_empty() {
                if line[0] == b' ' || line[0] == b'\t' {
                    let last = self
                        .headers
                        .last_mut()
                        .ok_or(FormError::Malformed("continuation before any header"))?;
                    last.push(b' ');
                    last.extend_from_slice(line.trim_ascii());
                } else {
                    self.headers.push(line);
                }
                continue;
            }
            return self.start_part();
        }
        Ok(None)
    }

    /// Interprets the headers of a part and enters its state: a `FileStart` event for the
    /// file, nothing for a field.
    fn start_part(&mut self) -> Result<Option<FormEvent>, FormError> {
        let mut disposition = None;
        let mut content_type = None;
        for h in &self.headers {
            let colon = h
                .iter()
                .position(|&b| b == b':')
                .ok_or(FormError::Malformed("header line without ':'"))?;
            let (name, value) = (h[..colon].trim_ascii(), h[colon + 1..].trim_ascii());
            if name.eq_ignore_ascii_case(b"content-disposition") {
                disposition = Some(value.to_vec());
            } else if name.eq_ignore_ascii_case(b"content-type") {
                content_type = Some(utf8(value.to_vec())?);
            }
        }
        let disposition =
            disposition.ok_or(FormError::Malformed("part without Content-Disposition"))?;
        let (kind, params) = match disposition.iter().position(|&b| b == b';') {
            Some(p) => (&disposition[..p], &disposition[p + 1..]),
            None => (&disposition[..], &b""[..]),
        };
        if !kind.trim_ascii().eq_ignore_ascii_case(b"form-data") {
            return Err(FormError::Malformed("part is not form-data"));
        }
        let params = parse_params(params);
        let param = |n: &[u8]| {
            params.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone())
        };
        let name = utf8(param(b"name").ok_or(FormError::Malformed("part without a name"))?)?;
        let filename = param(b"filename").map(utf8).transpose()?;
        if name.eq_ignore_ascii_case("file") {
            self.file_seen = true;
            self.state = State::File;
            return Ok(Some(FormEvent::FileStart(FileStart { name, filename, content_type })));
        }
        self.fields += 1;
        if self.fields > self.limits.max_fields {
            return Err(FormError::TooManyFields);
        }
        self.state = State::Field { name, filename, content_type, value: Vec::new() };
        Ok(None)
    }
}

fn utf8(bytes: Vec<u8>) -> Result<String, FormError> {
    String::from_utf8(bytes).map_err(|_| FormError::Malformed("a part header is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use proptest::prelude::*;

    use super::*;

    /// Parses `body` fed in pieces of the given sizes (cycled); file data is coalesced so
    /// that events do not depend on the split.
    fn parse_split(
        boundary: &str,
        limits: FormLimits,
        body: &[u8],
        sizes: &[usize],
    ) -> Result<Vec<FormEvent>, FormError> {
        let mut p = FormParser::new(boundary, limits)?;
        let mut events: Vec<FormEvent> = Vec::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < body.len() {
            let n = sizes[i % sizes.len()].max(1).min(body.len() - pos);
            i += 1;
            let mut input = Bytes::copy_from_slice(&body[pos..pos + n]);
            pos += n;
            while let Some(ev) = p.parse(&mut input)? {
                if let (FormEvent::FileData(d), Some(FormEvent::FileData(last))) =
                    (&ev, events.last_mut())
                {
                    let mut joined = last.to_vec();
                    joined.extend_from_slice(d);
                    *last = Bytes::from(joined);
                    continue;
                }
                assert!(!matches!(&ev, FormEvent::FileData(d) if d.is_empty()));
                events.push(ev);
            }
            assert!(input.is_empty(), "parse returned None with input left");
        }
        p.finish()?;
        let data: u64 = events
            .iter()
            .map(|e| if let FormEvent::FileData(d) = e { d.len() as u64 } else { 0 })
            .sum();
        assert_eq!(p.file_bytes(), data);
        Ok(events)
    }

    fn parse(body: &str) -> Result<Vec<FormEvent>, FormError> {
        parse_split("B0undary", FormLimits::default(), body.as_bytes(), &[body.len().max(1)])
    }

    fn field(name: &str, value: &str) -> FormEvent {
        FormEvent::Field(FormField {
            name: name.into(),
            filename: None,
            content_type: None,
            value: value.into(),
        })
    }

    fn file(filename: Option<&str>, content_type: Option<&str>, data: &str) -> Vec<FormEvent> {
        let mut v = vec![FormEvent::FileStart(FileStart {
            name: "file".into(),
            filename: filename.map(Into::into),
            content_type: content_type.map(Into::into),
        })];
        if !data.is_empty() {
            v.push(FormEvent::FileData(Bytes::copy_from_slice(data.as_bytes())));
        }
        v.push(FormEvent::FileEnd);
        v
    }

    #[test]
    fn boundaries() {
        let check = |ct: &str, expected: Result<&str, FormError>| {
            assert_eq!(boundary_from_content_type(ct).as_deref(), expected.as_deref(), "{ct}");
        };
        check("multipart/form-data; boundary=abc", Ok("abc"));
        check("Multipart/Form-Data;BOUNDARY=\"a b;c\"", Ok("a b;c"));
        check(
            "multipart/form-data; charset=utf-8; boundary=----WebKitFormBoundaryX",
            Ok("----WebKitFormBoundaryX"),
        );
        check("multipart/form-data", Err(FormError::InvalidBoundary));
        check("multipart/form-data; boundary=", Err(FormError::InvalidBoundary));
        check("multipart/form-data; boundary=\"a \"", Err(FormError::InvalidBoundary));
        check(
            &format!("multipart/form-data; boundary={}", "x".repeat(71)),
            Err(FormError::InvalidBoundary),
        );
        check(&format!("multipart/form-data; boundary={}", "x".repeat(70)), Ok(&"x".repeat(70)));
        check("multipart/mixed; boundary=abc", Err(FormError::NotMultipart));
        check("application/x-www-form-urlencoded", Err(FormError::NotMultipart));
        check("", Err(FormError::NotMultipart));
    }

    #[test]
    #[allow(clippy::too_many_lines, reason = "one table of cases")]
    fn forms() {
        let d = "Content-Disposition: form-data";
        let ok = |body: String, expected: Vec<FormEvent>| {
            assert_eq!(parse(&body), Ok(expected), "{body:?}");
        };
        let bad = |body: String, expected: FormError| {
            assert_eq!(parse(&body), Err(expected), "{body:?}");
        };
        let file_part = format!(
            "--B0undary\r\n{d}; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhi\r\n--B0undary--\r\n"
        );
        let mut expected = vec![field("key", "k")];
        expected.extend(file(Some("a.txt"), Some("text/plain"), "hi"));
        ok(format!("--B0undary\r\n{d}; name=\"key\"\r\n\r\nk\r\n{file_part}"), expected.clone());
        // Preamble and epilogue are ignored; so is everything after the file.
        ok(
            format!("preamble\r\n\r\n--B0undary\r\n{d}; name=key\r\n\r\nk\r\n{file_part}epilogue"),
            expected.clone(),
        );
        ok(
            format!("\r\n--B0undary  \t\r\n{d}; name=\"key\"\r\n\r\nk\r\n{file_part}"),
            expected.clone(),
        );
        ok(
            format!(
                "--B0undary\r\n{d}; name=\"key\"\r\n\r\nk\r\n{}\r\n--B0undary\r\n{d}; name=\"submit\"\r\n\r\nx\r\n--B0undary--",
                file_part.trim_end_matches("--\r\n")
            ),
            expected.clone(),
        );
        // Bare LF line ends in headers, folded headers, case-insensitive names.
        ok(
            format!(
                "--B0undary\ncontent-disposition: FORM-DATA;\n name=\"key\"\n\nk\r\n--B0undary\r\n{d}; name=\"File\"\r\n\r\n\r\n--B0undary--"
            ),
            vec![
                field("key", "k"),
                FormEvent::FileStart(FileStart {
                    name: "File".into(),
                    filename: None,
                    content_type: None,
                }),
                FormEvent::FileEnd,
            ],
        );
        // A value that contains boundary-like text but not the delimiter.
        ok(
            format!(
                "--B0undary\r\n{d}; name=\"x\"\r\n\r\n--B0undary\r\n-\r\n--B0undar\r\n--B0undary\r\n{d}; name=\"file\"\r\n\r\n\r\n\r\n--B0undar\r\n--B0undary--"
            ),
            {
                let mut v = vec![field("x", "--B0undary\r\n-\r\n--B0undar")];
                v.extend(file(None, None, "\r\n\r\n--B0undar"));
                v
            },
        );
        // Quoted names with escapes and Windows paths.
        ok(
            format!(
                "--B0undary\r\n{d}; name=\"a\\\"b\"; filename=\"C:\\dir\\x.txt\"\r\n\r\nv\r\n--B0undary\r\n{d}; name=\"file\"; filename=\"q\\\\.txt\"\r\n\r\n\r\n--B0undary--"
            ),
            vec![
                FormEvent::Field(FormField {
                    name: "a\"b".into(),
                    filename: Some("C:\\dir\\x.txt".into()),
                    content_type: None,
                    value: b"v".to_vec(),
                }),
                FormEvent::FileStart(FileStart {
                    name: "file".into(),
                    filename: Some("q\\.txt".into()),
                    content_type: None,
                }),
                FormEvent::FileEnd,
            ],
        );
        bad(
            format!("--B0undary\r\n{d}; name=\"key\"\r\n\r\nk\r\n--B0undary--\r\n"),
            FormError::MissingFile,
        );
        bad(String::new(), FormError::MissingFile);
        bad("no boundary at all".into(), FormError::MissingFile);
        bad(format!("--B0undary\r\n{d}; name=\"file\"\r\n\r\ntruncated"), FormError::Incomplete);
        bad(format!("--B0undary\r\n{d}; name=\"key\"\r\n\r\nk"), FormError::MissingFile);
        bad(
            format!("--B0undaryX\r\n{d}; name=\"file\"\r\n\r\n\r\n--B0undary--"),
            FormError::Malformed("unexpected bytes after a boundary"),
        );
        bad(
            "--B0undary\r\nContent-Type: text/plain\r\n\r\n\r\n--B0undary--".to_owned(),
            FormError::Malformed("part without Content-Disposition"),
        );
        bad(
            "--B0undary\r\nContent-Disposition: attachment; name=\"file\"\r\n\r\n\r\n--B0undary--"
                .to_owned(),
            FormError::Malformed("part is not form-data"),
        );
        bad(
            format!("--B0undary\r\n{d}; filename=\"x\"\r\n\r\n\r\n--B0undary--"),
            FormError::Malformed("part without a name"),
        );
        bad(
            "--B0undary\r\nno colon\r\n\r\n\r\n--B0undary--".to_owned(),
            FormError::Malformed("header line without ':'"),
        );
        bad(
            "--B0undary\r\n folded first\r\n\r\n\r\n--B0undary--".to_owned(),
            FormError::Malformed("continuation before any header"),
        );
    }

    #[test]
    fn non_utf8_names_are_refused_and_values_kept() {
        let mut body =
            b"--B0undary\r\nContent-Disposition: form-data; name=\"k\"\r\n\r\n\xff\xfe\r\n"
                .to_vec();
        body.extend_from_slice(b"--B0undary\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\x00\xff\r\n--B0undary--");
        let events = parse_split("B0undary", FormLimits::default(), &body, &[3]).unwrap();
        let FormEvent::Field(f) = &events[0] else { panic!("{events:?}") };
        assert_eq!((f.value.as_slice(), f.value_str()), (&b"\xff\xfe"[..], None));
        assert_eq!(events[2], FormEvent::FileData(Bytes::from_static(b"\x00\xff")));
        let bad =
            b"--B0undary\r\nContent-Disposition: form-data; name=\"\xff\"\r\n\r\n\r\n--B0undary--";
        assert_eq!(
            parse_split("B0undary", FormLimits::default(), bad, &[100]),
            Err(FormError::Malformed("a part header is not UTF-8"))
        );
    }

    #[test]
    fn limits() {
        let d = "Content-Disposition: form-data";
        let limits = FormLimits {
            max_part_header_bytes: 64,
            max_fields: 2,
            max_field_bytes: 8,
            max_pre_file_bytes: 200,
        };
        let run = |body: String| parse_split("B0undary", limits, body.as_bytes(), &[5, 1, 13]);
        let fields = |n: usize, value: &str| -> String {
            let mut out = String::new();
            for i in 0..n {
                let _ = write!(out, "--B0undary\r\n{d}; name=\"f{i}\"\r\n\r\n{value}\r\n");
            }
            out
        };
        let tail =
            format!("--B0undary\r\n{d}; name=\"file\"\r\n\r\n{}\r\n--B0undary--", "x".repeat(1000));
        assert!(
            run(format!("{}{tail}", fields(2, "12345678"))).is_ok(),
            "at every limit; the file is not limited"
        );
        assert_eq!(run(format!("{}{tail}", fields(3, "1"))), Err(FormError::TooManyFields));
        assert_eq!(
            run(format!("{}{tail}", fields(1, "123456789"))),
            Err(FormError::FieldTooLarge { name: "f0".into() })
        );
        assert_eq!(
            run(format!(
                "--B0undary\r\n{d}; name=\"f\"; filename=\"{}\"\r\n\r\n\r\n{tail}",
                "n".repeat(40)
            )),
            Err(FormError::PartHeaderTooLarge)
        );
        assert_eq!(
            run(format!("{}{}{tail}", "p".repeat(300), fields(1, "1"))),
            Err(FormError::PreFileDataTooLarge)
        );
    }

    /// A body whose values are made of the characters that begin the delimiter, so that
    /// partial matches happen everywhere, but never the delimiter itself.
    fn tricky() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop::sample::select(vec![b'\r', b'\n', b'-', b'B', b'0', b'u', b'x']),
            0..60,
        )
    }

    fn body_of(fields: &[(String, Vec<u8>)], file: &[u8], epilogue: &[u8]) -> Vec<u8> {
        let mut b = b"preamble --B0undar\r\n".to_vec();
        for (n, v) in fields {
            b.extend_from_slice(
                format!("\r\n--B0undary\r\nContent-Disposition: form-data; name=\"{n}\"\r\n\r\n")
                    .as_bytes(),
            );
            b.extend_from_slice(v);
        }
        b.extend_from_slice(b"\r\n--B0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n");
        b.extend_from_slice(file);
        b.extend_from_slice(b"\r\n--B0undary--");
        b.extend_from_slice(epilogue);
        b
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_events(
            fields in prop::collection::vec(("[a-z]{1,8}", tricky()), 0..4),
            file in tricky(),
            big in prop::collection::vec(any::<u8>(), 0..3000),
            epilogue in prop::collection::vec(any::<u8>(), 0..50),
            sizes in prop::collection::vec(1usize..80, 1..8),
        ) {
            let mut file = file;
            file.extend_from_slice(&big);
            let delim = b"\r\n--B0undary";
            prop_assume!(!fields.iter().any(|(_, v)| contains(&[v.as_slice(), b"\r\n"].concat(), delim)));
            prop_assume!(!contains(&[file.as_slice(), b"\r\n"].concat(), delim));
            let body = body_of(&fields, &file, &epilogue);
            let whole = parse_split("B0undary", FormLimits::default(), &body, &[body.len()]).unwrap();
            let split = parse_split("B0undary", FormLimits::default(), &body, &sizes).unwrap();
            prop_assert_eq!(&whole, &split);
            let mut expected: Vec<FormEvent> = fields.iter().map(|(n, v)| FormEvent::Field(FormField {
                name: n.clone(), filename: None, content_type: None, value: v.clone(),
            })).collect();
            expected.push(FormEvent::FileStart(FileStart { name: "file".into(), filename: Some("f".into()), content_type: None }));
            if !file.is_empty() {
                expected.push(FormEvent::FileData(Bytes::from(file.clone())));
            }
            expected.push(FormEvent::FileEnd);
            prop_assert_eq!(whole, expected);
        }

        #[test]
        fn never_panics(
            body in prop::collection::vec(prop::sample::select(vec![b'\r', b'\n', b'-', b'B', b'0', b'u', b'n', b'd', b'a', b'r', b'y', b'"', b';', b':', b'=', b' ', b'x', 0xff]), 0..400),
            sizes in prop::collection::vec(1usize..40, 1..6),
        ) {
            let limits = FormLimits { max_part_header_bytes: 64, max_fields: 3, max_field_bytes: 32, max_pre_file_bytes: 256 };
            let whole = parse_split("B0undary", limits, &body, &[body.len().max(1)]);
            let split = parse_split("B0undary", limits, &body, &sizes);
            prop_assert_eq!(whole, split);
        }
    }
}
