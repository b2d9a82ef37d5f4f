//! Sans-I/O streaming: the [`Encryptor`] turns a part's plaintext into sealed packages and the
//! [`Decryptor`] turns a part's sealed bytes (all of them, or the packages of a range) back
//! into plaintext. Memory is bounded by one package each, whatever the part's size.

use std::ops::Range;

use bytes::{Buf as _, Bytes, BytesMut};

use crate::CryptoError;
use crate::format::{
    PACKAGE_SIZE, PartCipher, SEALED_PACKAGE_SIZE, TAG_LEN, package_count, sealed_len, sealed_range,
};

/// Seals one part's plaintext, package by package.
///
/// Push the plaintext in chunks of any size with [`Encryptor::push`], which returns the
/// packages those bytes completed, then call [`Encryptor::finish`] for the last one. A full
/// package is held back until the next byte arrives or `finish` is called, because only then
/// is it known whether it is the part's final package. The concatenation of everything
/// returned is the part's sealed bytes, [`crate::sealed_len`] of the plaintext size long.
#[derive(Debug)]
pub struct Encryptor {
    cipher: PartCipher,
    next: u64,
    buf: BytesMut,
    plaintext_len: u64,
}

impl Encryptor {
    /// An encryptor for the part of `cipher`.
    pub fn new(cipher: PartCipher) -> Self {
        Self { cipher, next: 0, buf: BytesMut::new(), plaintext_len: 0 }
    }

    /// Plaintext bytes pushed so far.
    pub const fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    /// Adds plaintext; returns the sealed packages it completed (each 64 KiB + 16 bytes).
    pub fn push(&mut self, mut plaintext: &[u8]) -> Result<Vec<Bytes>, CryptoError> {
        let mut out = Vec::new();
        while !plaintext.is_empty() {
            if self.buf.len() == PACKAGE_SIZE {
                out.push(self.seal_buffered(false)?);
            }
            if self.buf.capacity() == 0 {
                self.buf.reserve(SEALED_PACKAGE_SIZE);
            }
            let take = (PACKAGE_SIZE - self.buf.len()).min(plaintext.len());
            let (head, rest) = plaintext.split_at(take);
            self.buf.extend_from_slice(head);
            self.plaintext_len += take as u64;
            plaintext = rest;
        }
        Ok(out)
    }

    /// Seals the final package (tag-only for an empty part) and ends the part.
    pub fn finish(mut self) -> Result<Bytes, CryptoError> {
        self.seal_buffered(true)
    }

    fn seal_buffered(&mut self, last: bool) -> Result<Bytes, CryptoError> {
        let mut package = std::mem::take(&mut self.buf);
        self.cipher.seal(self.next, last, &mut package)?;
        self.next += 1;
        Ok(package.freeze())
    }
}

/// Opens one part's sealed bytes, or the packages of a plaintext range of it, and yields
/// exactly the requested plaintext.
///
/// The part's plaintext size (from the metadata) fixes where each package ends and which one
/// is final, so a package is opened as soon as its last byte arrives and nothing the metadata
/// says is trusted: a wrong size makes a package fail to authenticate. Push sealed bytes in
/// chunks of any size with [`Decryptor::push`], then call [`Decryptor::finish`], which fails
/// if the stream ended early. Bytes beyond the expected end are an error, never ignored.
/// After an error the decryptor refuses everything; drop it and cut the response.
#[derive(Debug)]
pub struct Decryptor {
    cipher: PartCipher,
    /// Index of the package being filled.
    next: u64,
    /// One past the last package to open.
    end: u64,
    /// Index of the part's final package.
    last: u64,
    /// Plaintext bytes of the part's final package.
    last_len: usize,
    buf: BytesMut,
    /// Plaintext bytes still to drop from the first opened package.
    skip: u64,
    /// Plaintext bytes still to yield.
    remaining: u64,
    received: u64,
    expected: u64,
    failed: bool,
}

impl Decryptor {
    /// A decryptor of a whole part of `plaintext_len` bytes: feed it all the part's sealed
    /// bytes ([`crate::sealed_len`] of them).
    pub fn new(cipher: PartCipher, plaintext_len: u64) -> Self {
        let mut d = Self::with_packages(cipher, plaintext_len, 0, package_count(plaintext_len));
        d.remaining = plaintext_len;
        d.expected = sealed_len(plaintext_len);
        d
    }

    /// A decryptor of the plaintext `range` (non-empty, inside a part of `plaintext_len`
    /// bytes), and the sealed byte range of the part to fetch and feed it.
    pub fn for_range(
        cipher: PartCipher,
        plaintext_len: u64,
        range: Range<u64>,
    ) -> Result<(Self, Range<u64>), CryptoError> {
        let r = sealed_range(plaintext_len, range)?;
        let end =
            r.first_package + (r.sealed.end - r.sealed.start).div_ceil(SEALED_PACKAGE_SIZE as u64);
        let mut d = Self::with_packages(cipher, plaintext_len, r.first_package, end);
        d.skip = r.skip;
        d.remaining = r.len;
        d.expected = r.sealed.end - r.sealed.start;
        Ok((d, r.sealed))
    }

    fn with_packages(cipher: PartCipher, plaintext_len: u64, first: u64, end: u64) -> Self {
        let last = package_count(plaintext_len) - 1;
        // The final package holds what the full ones before it leave (all of an empty part).
        let last_len = usize::try_from(plaintext_len - last * PACKAGE_SIZE as u64)
            .expect("a package is at most 64 KiB");
        Self {
            cipher,
            next: first,
            end,
            last,
            last_len,
            buf: BytesMut::new(),
            skip: 0,
            remaining: 0,
            received: 0,
            expected: 0,
            failed: false,
        }
    }

    fn sealed_size(&self, package: u64) -> usize {
        if package == self.last { self.last_len + TAG_LEN } else { SEALED_PACKAGE_SIZE }
    }

    fn poisoned(&self) -> CryptoError {
        CryptoError::PackageRejected { part_number: self.cipher.part_number(), package: self.next }
    }

    /// Adds sealed bytes; returns the plaintext of the packages they completed, trimmed to
    /// the requested range (possibly nothing).
    pub fn push(&mut self, mut sealed: &[u8]) -> Result<Vec<Bytes>, CryptoError> {
        if self.failed {
            return Err(self.poisoned());
        }
        let mut out = Vec::new();
        while !sealed.is_empty() {
            if self.next == self.end {
                self.failed = true;
                return Err(CryptoError::TrailingBytes);
            }
            let want = self.sealed_size(self.next);
            if self.buf.capacity() == 0 {
                self.buf.reserve(want);
            }
            let take = (want - self.buf.len()).min(sealed.len());
            let (head, rest) = sealed.split_at(take);
            self.buf.extend_from_slice(head);
            self.received += take as u64;
            sealed = rest;
            if self.buf.len() == want {
                let mut package = std::mem::take(&mut self.buf);
                if let Err(e) = self.cipher.open(self.next, self.next == self.last, &mut package) {
                    self.failed = true;
                    return Err(e);
                }
                self.next += 1;
                // Only the first package can start before the range, and `skip` < 64 KiB.
                let skip = usize::try_from(std::mem::take(&mut self.skip))
                    .expect("skip is less than a package");
                package.advance(skip);
                if package.len() as u64 > self.remaining {
                    package.truncate(usize::try_from(self.remaining).expect("less than a package"));
                }
                self.remaining -= package.len() as u64;
                if !package.is_empty() {
                    out.push(package.freeze());
                }
            }
        }
        Ok(out)
    }

    /// Ends the stream: an error unless every expected package arrived and authenticated.
    pub fn finish(self) -> Result<(), CryptoError> {
        if self.failed {
            return Err(self.poisoned());
        }
        if self.next != self.end {
            return Err(CryptoError::Truncated {
                expected: self.expected,
                received: self.received,
            });
        }
        Ok(())
    }
}
