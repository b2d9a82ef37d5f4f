//! The package format: sizes, the nonce and AAD of each package, the per-part key, and the
//! mapping of plaintext ranges to sealed ranges.

use std::fmt;
use std::ops::Range;

use bytes::BytesMut;
use ring::aead;

use crate::CryptoError;
use crate::keys::{DataKey, FormatVersion, ObjectId, PartSalt, hkdf_aead_key};

/// Plaintext bytes per package (format version 1). Every package but a part's last holds
/// exactly this many.
pub const PACKAGE_SIZE: usize = 64 * 1024;

/// Length of the AES-256-GCM tag appended to each package.
pub const TAG_LEN: usize = 16;

/// Stored bytes of a full package: its plaintext plus the tag.
pub const SEALED_PACKAGE_SIZE: usize = PACKAGE_SIZE + TAG_LEN;

/// Packages a part may have (a 96-bit nonce would allow more; 2^32 packages are 256 TiB,
/// far above S3's 5 GiB part and 5 TiB object).
pub const MAX_PACKAGES: u64 = 1 << 32;

const PACKAGE: u64 = PACKAGE_SIZE as u64;
const SEALED_PACKAGE: u64 = SEALED_PACKAGE_SIZE as u64;
const TAG: u64 = TAG_LEN as u64;

/// Domain label at the head of every package's AAD (format version 1).
const AAD_LABEL: &[u8; 12] = b"s3gate/pkg/1";
/// HKDF info label of the per-part key (format version 1).
const PART_KEY_LABEL: &[u8] = b"s3gate/part-key/1";
const AAD_LEN: usize = AAD_LABEL.len() + 16 + 4 + 8 + 1;

/// Packages in a part of `plaintext_len` bytes: at least one, since even an empty part ends
/// with a (tag-only) final package, so that cutting a part to nothing is detected.
pub const fn package_count(plaintext_len: u64) -> u64 {
    if plaintext_len == 0 { 1 } else { plaintext_len.div_ceil(PACKAGE) }
}

/// Stored (sealed) size of a part of `plaintext_len` bytes: the plaintext plus 16 bytes per
/// package. An object's sealed size is the sum over its parts.
pub const fn sealed_len(plaintext_len: u64) -> u64 {
    plaintext_len + package_count(plaintext_len) * TAG
}

/// The plaintext size of a part whose sealed size is `sealed_len`; an error if no plaintext
/// size seals to exactly that many bytes.
pub fn plaintext_len(sealed: u64) -> Result<u64, CryptoError> {
    let packages = sealed.div_ceil(SEALED_PACKAGE);
    match sealed.checked_sub(packages.max(1) * TAG) {
        Some(plain) if self::sealed_len(plain) == sealed => Ok(plain),
        _ => Err(CryptoError::Malformed("sealed length")),
    }
}

/// Where a plaintext range of a part lies in the part's sealed bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedRange {
    /// The sealed bytes to fetch from the part's blob: whole packages, from the first package
    /// the range touches to the last.
    pub sealed: Range<u64>,
    /// Index of the first package fetched.
    pub first_package: u64,
    /// Plaintext bytes to drop from the start of the first decrypted package.
    pub skip: u64,
    /// Plaintext bytes of the range.
    pub len: u64,
}

/// Maps the plaintext range `range` (non-empty, inside a part of `plaintext_len` bytes) to the
/// sealed bytes that hold it. A ranged read decrypts only these packages: at most one package
/// before the range's first byte and one after its last are opened in vain.
pub fn sealed_range(plaintext_len: u64, range: Range<u64>) -> Result<SealedRange, CryptoError> {
    if range.start >= range.end || range.end > plaintext_len {
        return Err(CryptoError::InvalidRange {
            start: range.start,
            end: range.end,
            len: plaintext_len,
        });
    }
    let first = range.start / PACKAGE;
    let end_package = (range.end - 1) / PACKAGE + 1;
    let sealed_end = if end_package == package_count(plaintext_len) {
        sealed_len(plaintext_len)
    } else {
        end_package * SEALED_PACKAGE
    };
    Ok(SealedRange {
        sealed: first * SEALED_PACKAGE..sealed_end,
        first_package: first,
        skip: range.start - first * PACKAGE,
        len: range.end - range.start,
    })
}

/// The AEAD key and identity of one part: seals and opens its packages.
///
/// Derived per part: `key = HKDF-SHA256(salt = part salt, ikm = data key, info =
/// "s3gate/part-key/1" ‖ object id ‖ part number)`. Each package `i` is sealed with
/// AES-256-GCM under that key with `nonce = part number (u32 BE) ‖ i (u64 BE)` and
/// `AAD = "s3gate/pkg/1" ‖ object id ‖ part number (u32 BE) ‖ i (u64 BE) ‖ final (1 byte, 1 on
/// the part's last package, else 0)`.
#[derive(Clone)]
pub struct PartCipher {
    key: aead::LessSafeKey,
    object: ObjectId,
    part_number: u32,
}

impl PartCipher {
    /// The cipher of part `part_number` (a single PUT's body is part 1) of the object
    /// `object`, whose data key is `key`, sealed with the part's own `salt`.
    pub fn new(
        version: FormatVersion,
        key: &DataKey,
        object: &ObjectId,
        part_number: u32,
        salt: &PartSalt,
    ) -> Self {
        match version {
            FormatVersion::V1 => {}
        }
        let part = part_number.to_be_bytes();
        let key = hkdf_aead_key(
            salt.as_bytes(),
            key.expose(),
            &[PART_KEY_LABEL, object.as_bytes(), &part],
        );
        Self { key, object: *object, part_number }
    }

    /// The part number this cipher seals.
    pub const fn part_number(&self) -> u32 {
        self.part_number
    }

    /// The object id this cipher binds.
    pub const fn object_id(&self) -> &ObjectId {
        &self.object
    }

    fn nonce(&self, package: u64) -> aead::Nonce {
        let mut nonce = [0; aead::NONCE_LEN];
        nonce[..4].copy_from_slice(&self.part_number.to_be_bytes());
        nonce[4..].copy_from_slice(&package.to_be_bytes());
        aead::Nonce::assume_unique_for_key(nonce)
    }

    fn aad(&self, package: u64, last: bool) -> [u8; AAD_LEN] {
        let mut aad = [0; AAD_LEN];
        let (label, rest) = aad.split_at_mut(AAD_LABEL.len());
        label.copy_from_slice(AAD_LABEL);
        rest[..16].copy_from_slice(self.object.as_bytes());
        rest[16..20].copy_from_slice(&self.part_number.to_be_bytes());
        rest[20..28].copy_from_slice(&package.to_be_bytes());
        rest[28] = u8::from(last);
        aad
    }

    /// Seals `buf` (one package of plaintext) in place and appends the tag.
    pub(crate) fn seal(
        &self,
        package: u64,
        last: bool,
        buf: &mut BytesMut,
    ) -> Result<(), CryptoError> {
        if package >= MAX_PACKAGES {
            return Err(CryptoError::PartTooLarge);
        }
        let aad = self.aad(package, last);
        let tag = self
            .key
            .seal_in_place_separate_tag(self.nonce(package), aead::Aad::from(&aad), &mut buf[..])
            // ring refuses only inputs above GCM's 64 GiB limit; a package is 64 KiB.
            .map_err(|_| CryptoError::PartTooLarge)?;
        buf.extend_from_slice(tag.as_ref());
        Ok(())
    }

    /// Opens `buf` (one sealed package) in place and removes the tag.
    pub(crate) fn open(
        &self,
        package: u64,
        last: bool,
        buf: &mut BytesMut,
    ) -> Result<(), CryptoError> {
        let rejected = CryptoError::PackageRejected { part_number: self.part_number, package };
        if package >= MAX_PACKAGES {
            return Err(rejected);
        }
        let aad = self.aad(package, last);
        let plain_len = self
            .key
            .open_in_place(self.nonce(package), aead::Aad::from(&aad), &mut buf[..])
            .map_err(|_| rejected)?
            .len();
        buf.truncate(plain_len);
        Ok(())
    }
}

impl fmt::Debug for PartCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartCipher")
            .field("object", &self.object)
            .field("part_number", &self.part_number)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = PACKAGE;
    const S: u64 = SEALED_PACKAGE;

    #[test]
    fn sizes_around_package_borders() {
        for (plain, sealed) in [
            (0, 16),
            (1, 17),
            (P - 1, P + 15),
            (P, S),
            (P + 1, S + 17),
            (2 * P, 2 * S),
            (5 << 30, (5 << 30) + 16 * ((5 << 30) / P)),
        ] {
            assert_eq!(sealed_len(plain), sealed, "sealed_len({plain})");
            assert_eq!(plaintext_len(sealed).unwrap(), plain, "plaintext_len({sealed})");
        }
    }

    #[test]
    fn impossible_sealed_lengths_are_refused() {
        for sealed in [0, 1, 15, S + 1, S + 16, 2 * S + 3] {
            assert!(plaintext_len(sealed).is_err(), "{sealed}");
        }
    }

    fn check(len: u64, range: Range<u64>, sealed: Range<u64>, first: u64, skip: u64) {
        let got = sealed_range(len, range.clone()).unwrap();
        let want = SealedRange { sealed, first_package: first, skip, len: range.end - range.start };
        assert_eq!(got, want, "len {len} range {range:?}");
    }

    #[test]
    fn ranges_map_to_whole_packages() {
        check(1, 0..1, 0..17, 0, 0);
        check(P, 0..P, 0..S, 0, 0);
        check(P, 10..20, 0..S, 0, 10);
        check(P + 1, P..P + 1, S..S + 17, 1, 0);
        check(P + 1, P - 1..P + 1, 0..S + 17, 0, P - 1);
        check(3 * P, P..2 * P, S..2 * S, 1, 0);
        check(3 * P, P + 5..2 * P + 1, S..3 * S, 1, 5);
        // 1 MiB from the middle of 1 GiB: 16 packages, aligned, nothing opened in vain.
        let gib = 1 << 30;
        let mid = gib / 2;
        check(gib, mid..mid + (1 << 20), mid / P * S..(mid + (1 << 20)) / P * S, mid / P, 0);
    }

    #[test]
    #[allow(clippy::reversed_empty_ranges, reason = "a reversed range is one of the cases")]
    fn empty_or_outside_ranges_are_refused() {
        for (len, range) in [(0, 0..0), (0, 0..1), (10, 5..5), (10, 6..5), (10, 0..11)] {
            assert!(matches!(sealed_range(len, range), Err(CryptoError::InvalidRange { .. })));
        }
    }
}
