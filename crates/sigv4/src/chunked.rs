//! Sans-I/O decoder of aws-chunked bodies (signed chunks, signed or unsigned trailers).

use std::fmt::Write as _;

use bytes::{Buf, Bytes};
use sha2::{Digest, Sha256};

use crate::crypto::constant_time_eq;
use crate::sign::SigningContext;

/// Longest chunk header or trailer line accepted (without CRLF).
pub const MAX_LINE: usize = 4096;
/// Most trailer lines accepted.
const MAX_TRAILERS: usize = 16;
/// S3's minimum size of every chunk but the last.
pub const MIN_CHUNK_SIZE: u64 = 8192;

/// Why an aws-chunked body was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkedError {
    /// Framing is broken: bad hex size, missing CRLF, bad chunk extension, data after the end (`IncompleteBody`/`InvalidRequest`).
    #[error("malformed aws-chunked framing: {0}")]
    MalformedFraming(&'static str),
    /// A chunk other than the last is smaller than 8192 bytes (`InvalidChunkSizeError`).
    #[error("chunk {chunk} has {size} bytes; only the last chunk may be smaller than 8192 bytes")]
    ChunkTooSmall {
        /// Zero-based index of the offending chunk.
        chunk: u64,
        /// Its size.
        size: u64,
    },
    /// A chunk signature is wrong (`SignatureDoesNotMatch`).
    #[error("chunk signature does not match")]
    ChunkSignatureMismatch,
    /// The trailer signature is wrong or missing (`SignatureDoesNotMatch`).
    #[error("trailer signature does not match")]
    TrailerSignatureMismatch,
    /// The body ended before the final chunk and trailers (`IncompleteBody`).
    #[error("aws-chunked body is incomplete")]
    Incomplete,
    /// Decoded bytes differ from `x-amz-decoded-content-length` (`IncompleteBody` when short, else `InvalidRequest`).
    #[error("decoded length {actual} does not match x-amz-decoded-content-length {expected}")]
    DecodedLengthMismatch {
        /// Declared decoded length.
        expected: u64,
        /// Length seen (so far, when detected early).
        actual: u64,
    },
    /// A chunk header or trailer line is longer than [`MAX_LINE`] (`InvalidRequest`).
    #[error("aws-chunked header line too long")]
    ChunkHeaderTooLong,
    /// A trailer declared by `x-amz-trailer` is absent (`InvalidRequest`).
    #[error("declared trailer {0} is missing")]
    TrailerMissing(String),
    /// A trailer not declared by `x-amz-trailer`, or trailers where the mode allows none (`InvalidRequest`).
    #[error("unexpected trailer {0}")]
    UnexpectedTrailer(String),
}

/// Which aws-chunked variant to decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkedMode {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`.
    Signed {
        /// Key, timestamp and scope of the request.
        signing: SigningContext,
        /// The request (seed) signature.
        seed_signature: String,
        /// Whether signed trailers follow.
        trailer: bool,
    },
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`.
    UnsignedTrailer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Data { remaining: u64 },
    DataEnd,
    Trailers,
    Done,
}

/// Sans-I/O incremental aws-chunked decoder. Build it with
/// [`Verified::chunked_decoder`](crate::Verified::chunked_decoder).
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    mode: ChunkedMode,
    state: State,
    line: Vec<u8>,
    previous_signature: String,
    chunk_signature: String,
    hasher: Sha256,
    decoded_length: Option<u64>,
    /// Payload bytes returned so far.
    produced: u64,
    /// Payload bytes announced by the chunk headers read so far (the decoded-length check
    /// uses it to refuse a chunk that would overrun the declared length before its data).
    announced: u64,
    chunk_index: u64,
    last_chunk_size: Option<u64>,
    min_chunk_size: u64,
    declared_trailers: Vec<String>,
    trailers: Vec<(String, String)>,
    trailer_signature: Option<String>,
}

fn parse_hex_size(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 16 || !s.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(s).ok()?, 16).ok()
}

impl ChunkedDecoder {
    /// A decoder for `mode`; `decoded_length` is `x-amz-decoded-content-length` when known;
    /// `declared_trailers` are the lowercase names from `x-amz-trailer`.
    pub fn new(
        mode: ChunkedMode,
        decoded_length: Option<u64>,
        declared_trailers: Vec<String>,
    ) -> Self {
        let previous_signature = match &mode {
            ChunkedMode::Signed { seed_signature, .. } => seed_signature.clone(),
            ChunkedMode::UnsignedTrailer => String::new(),
        };
        Self {
            mode,
            state: State::Header,
            line: Vec::new(),
            previous_signature,
            chunk_signature: String::new(),
            hasher: Sha256::new(),
            decoded_length,
            produced: 0,
            announced: 0,
            chunk_index: 0,
            last_chunk_size: None,
            min_chunk_size: MIN_CHUNK_SIZE,
            declared_trailers,
            trailers: Vec::new(),
            trailer_signature: None,
        }
    }

    /// Overrides the minimum size of non-final chunks (default 8192, as S3 enforces).
    /// botocore sends 7000-byte chunks for unseekable streams; a gateway that wants to
    /// accept those can lower this.
    #[must_use]
    pub fn with_min_chunk_size(mut self, min: u64) -> Self {
        self.min_chunk_size = min;
        self
    }

    /// Decoded payload bytes returned so far.
    pub fn decoded_so_far(&self) -> u64 {
        self.produced
    }

    /// True once the final chunk and trailers (if any) have been fully read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes bytes from the front of `input` and returns the next piece of payload (a
    /// zero-copy slice of `input`) or `Ok(None)` when it needs more input (then `input`
    /// has been fully consumed; header bytes are buffered internally, never more than one
    /// line of at most [`MAX_LINE`] bytes). Call repeatedly until it returns `Ok(None)`.
    /// A chunk's signature is checked when its data ends, so payload bytes of a chunk may
    /// be returned before it is verified: commit nothing before [`finish`](Self::finish) succeeds.
    pub fn decode(&mut self, input: &mut Bytes) -> Result<Option<Bytes>, ChunkedError> {
        loop {
            match self.state {
                State::Header => match self.read_line(input)? {
                    Some(line) => self.on_chunk_header(&line)?,
                    None => return Ok(None),
                },
                State::Data { remaining } => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let n = usize::try_from(remaining).unwrap_or(usize::MAX).min(input.len());
                    let piece = input.split_to(n);
                    self.hasher.update(&piece);
                    self.produced += n as u64;
                    let remaining = remaining - n as u64;
                    self.state = State::Data { remaining };
                    if remaining == 0 {
                        self.end_of_chunk_data()?;
                    }
                    return Ok(Some(piece));
                }
                State::DataEnd => {
                    while self.line.len() < 2 {
                        if input.is_empty() {
                            return Ok(None);
                        }
                        self.line.push(input[0]);
                        input.advance(1);
                    }
                    if self.line != b"\r\n" {
                        return Err(ChunkedError::MalformedFraming(
                            "chunk data not followed by CRLF",
                        ));
                    }
                    self.line.clear();
                    self.state = State::Header;
                }
                State::Trailers => match self.read_line(input)? {
                    Some(line) if line.is_empty() => self.end_of_trailers()?,
                    Some(line) => self.on_trailer_line(&line)?,
                    None => return Ok(None),
                },
                State::Done => {
                    return if input.is_empty() {
                        Ok(None)
                    } else {
                        Err(ChunkedError::MalformedFraming(
                            "data after the end of the aws-chunked body",
                        ))
                    };
                }
            }
        }
    }

    /// At end of input: checks completeness and decoded length (chunk and trailer
    /// signatures were checked as they arrived); returns the trailers (lowercase names).
    pub fn finish(self) -> Result<Vec<(String, String)>, ChunkedError> {
        if self.state != State::Done {
            return Err(ChunkedError::Incomplete);
        }
        if let Some(expected) = self.decoded_length
            && expected != self.produced
        {
            return Err(ChunkedError::DecodedLengthMismatch { expected, actual: self.produced });
        }
        Ok(self.trailers)
    }

    /// Reads one CRLF-terminated line (returned without CRLF), buffering partial lines.
    fn read_line(&mut self, input: &mut Bytes) -> Result<Option<Vec<u8>>, ChunkedError> {
        let Some(pos) = input.iter().position(|&b| b == b'\n') else {
            if self.line.len() + input.len() > MAX_LINE + 1 {
                return Err(ChunkedError::ChunkHeaderTooLong);
            }
            self.line.extend_from_slice(input);
            input.clear();
            return Ok(None);
        };
        if self.line.len() + pos > MAX_LINE + 1 {
            return Err(ChunkedError::ChunkHeaderTooLong);
        }
        self.line.extend_from_slice(&input[..pos]);
        input.advance(pos + 1);
        let mut line = std::mem::take(&mut self.line);
        if line.pop() != Some(b'\r') {
            return Err(ChunkedError::MalformedFraming("line not terminated by CRLF"));
        }
        Ok(Some(line))
    }

    fn on_chunk_header(&mut self, line: &[u8]) -> Result<(), ChunkedError> {
        let (size_hex, signature) = match &self.mode {
            ChunkedMode::Signed { .. } => {
                let Some(semi) = line.iter().position(|&b| b == b';') else {
                    return Err(ChunkedError::MalformedFraming(
                        "chunk header without chunk-signature",
                    ));
                };
                let sig = line[semi + 1..]
                    .strip_prefix(b"chunk-signature=")
                    .filter(|s| {
                        s.len() == 64
                            && s.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
                    })
                    .ok_or(ChunkedError::MalformedFraming("bad chunk-signature extension"))?;
                (&line[..semi], String::from_utf8_lossy(sig).into_owned())
            }
            ChunkedMode::UnsignedTrailer => (line, String::new()),
        };
        let size =
            parse_hex_size(size_hex).ok_or(ChunkedError::MalformedFraming("bad chunk size"))?;
        if size > 0
            && let Some(last) = self.last_chunk_size
            && last < self.min_chunk_size
        {
            return Err(ChunkedError::ChunkTooSmall { chunk: self.chunk_index - 1, size: last });
        }
        let total = self.announced.saturating_add(size);
        if let Some(expected) = self.decoded_length
            && (total > expected || (size == 0 && total != expected))
        {
            return Err(ChunkedError::DecodedLengthMismatch { expected, actual: total });
        }
        self.chunk_signature = signature;
        self.last_chunk_size = Some(size);
        self.chunk_index += 1;
        self.hasher = Sha256::new();
        if size == 0 {
            self.verify_chunk_signature()?;
            self.state = State::Trailers;
        } else {
            self.announced = total;
            self.state = State::Data { remaining: size };
        }
        Ok(())
    }

    fn end_of_chunk_data(&mut self) -> Result<(), ChunkedError> {
        self.verify_chunk_signature()?;
        self.state = State::DataEnd;
        Ok(())
    }

    fn verify_chunk_signature(&mut self) -> Result<(), ChunkedError> {
        let ChunkedMode::Signed { signing, .. } = &self.mode else { return Ok(()) };
        let hash = std::mem::take(&mut self.hasher).finalize();
        let expected = signing.sign_chunk(&self.previous_signature, &hex::encode(hash));
        if !constant_time_eq(expected.as_bytes(), self.chunk_signature.as_bytes()) {
            return Err(ChunkedError::ChunkSignatureMismatch);
        }
        self.previous_signature = expected;
        Ok(())
    }

    fn on_trailer_line(&mut self, line: &[u8]) -> Result<(), ChunkedError> {
        let line = std::str::from_utf8(line)
            .map_err(|_| ChunkedError::MalformedFraming("trailer is not UTF-8"))?;
        let (name, value) = line
            .split_once(':')
            .ok_or(ChunkedError::MalformedFraming("trailer line without ':'"))?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim().to_owned();
        if self.trailer_signature.is_some() {
            return Err(ChunkedError::MalformedFraming("line after x-amz-trailer-signature"));
        }
        let (signed_trailer, allows_trailers) = match &self.mode {
            ChunkedMode::Signed { trailer, .. } => (*trailer, *trailer),
            ChunkedMode::UnsignedTrailer => (false, true),
        };
        if name == "x-amz-trailer-signature" && signed_trailer {
            self.trailer_signature = Some(value);
            return Ok(());
        }
        if !allows_trailers || !self.declared_trailers.contains(&name) {
            return Err(ChunkedError::UnexpectedTrailer(name));
        }
        if self.trailers.len() >= MAX_TRAILERS || self.trailers.iter().any(|(n, _)| *n == name) {
            return Err(ChunkedError::MalformedFraming("repeated or too many trailers"));
        }
        self.trailers.push((name, value));
        Ok(())
    }

    fn end_of_trailers(&mut self) -> Result<(), ChunkedError> {
        if let ChunkedMode::Signed { signing, trailer: true, .. } = &self.mode
            && !(self.trailers.is_empty() && self.trailer_signature.is_none())
        {
            let mut canonical = String::new();
            for (n, v) in &self.trailers {
                let _ = writeln!(canonical, "{n}:{v}");
            }
            let expected = signing.sign_trailer(&self.previous_signature, &canonical);
            let given = self.trailer_signature.as_deref().unwrap_or("");
            if !constant_time_eq(expected.as_bytes(), given.as_bytes()) {
                return Err(ChunkedError::TrailerSignatureMismatch);
            }
        }
        if let Some(missing) =
            self.declared_trailers.iter().find(|d| !self.trailers.iter().any(|(n, _)| n == *d))
        {
            return Err(ChunkedError::TrailerMissing(missing.clone()));
        }
        self.state = State::Done;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_sizes() {
        let check = |s: &str, expected: Option<u64>| {
            assert_eq!(parse_hex_size(s.as_bytes()), expected, "{s:?}");
        };
        check("0", Some(0));
        check("2000", Some(8192));
        check("1909C", Some(0x1909c));
        check("000000000000000a", Some(10));
        check("ffffffffffffffff", Some(u64::MAX));
        check("", None);
        check("+1", None);
        check("-1", None);
        check(" 1", None);
        check("1 ", None);
        check("0x10", None);
        check("10000000000000000", None);
    }

    #[test]
    fn unsigned_trailer_body_in_one_piece() {
        let mut dec = ChunkedDecoder::new(
            ChunkedMode::UnsignedTrailer,
            Some(3),
            vec!["x-amz-checksum-crc32".into()],
        );
        let mut input =
            Bytes::from_static(b"3\r\nabc\r\n0\r\nX-Amz-Checksum-CRC32: AAAAAA== \r\n\r\n");
        assert_eq!(dec.decode(&mut input), Ok(Some(Bytes::from_static(b"abc"))));
        assert_eq!(dec.decode(&mut input), Ok(None));
        assert!(dec.is_done());
        assert_eq!(dec.decoded_so_far(), 3);
        assert_eq!(
            dec.finish(),
            Ok(vec![("x-amz-checksum-crc32".to_owned(), "AAAAAA==".to_owned())])
        );
    }

    #[test]
    fn line_cap_holds_across_pieces() {
        let mut dec = ChunkedDecoder::new(ChunkedMode::UnsignedTrailer, None, Vec::new());
        let mut first = Bytes::from(vec![b'0'; MAX_LINE]);
        assert_eq!(dec.decode(&mut first), Ok(None));
        let mut second = Bytes::from_static(b"00");
        assert_eq!(dec.decode(&mut second), Err(ChunkedError::ChunkHeaderTooLong));
    }
}
