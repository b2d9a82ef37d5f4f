//! Key material and the public ids that go with it: data keys, object ids, part salts, and the
//! derivations (HKDF-SHA256) that turn them into per-part AEAD keys.

use std::fmt;

use ring::{aead, hkdf, rand::SecureRandom as _};
use zeroize::Zeroizing;

use crate::CryptoError;

/// Length of every symmetric key of the format (AES-256).
pub const KEY_LEN: usize = 32;

/// Fills `out` from the operating system's random generator.
pub(crate) fn fill_random(out: &mut [u8]) -> Result<(), CryptoError> {
    ring::rand::SystemRandom::new().fill(out).map_err(|_| CryptoError::Random)
}

/// An HKDF output length for [`hkdf::Prk::expand`].
struct OkmLen(usize);

impl hkdf::KeyType for OkmLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA256 (RFC 5869) of `ikm` with `salt`, expanded over the concatenation of `info` to
/// 32 bytes.
pub(crate) fn hkdf_key(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> Zeroizing<[u8; KEY_LEN]> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let mut out = Zeroizing::new([0; KEY_LEN]);
    prk.expand(info, OkmLen(KEY_LEN))
        .and_then(|okm| okm.fill(&mut out[..]))
        // HKDF-SHA256 refuses only lengths above 255 * 32 bytes.
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

/// An AES-256-GCM key derived with HKDF-SHA256, never held as plain bytes by this crate.
pub(crate) fn hkdf_aead_key(salt: &[u8], ikm: &[u8], info: &[&[u8]]) -> aead::LessSafeKey {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let okm = prk
        .expand(info, &aead::AES_256_GCM)
        // The AES-256-GCM key length (32) is far below HKDF-SHA256's limit.
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    aead::LessSafeKey::new(aead::UnboundKey::from(okm))
}

/// A 256-bit data key: the key of one object's content (SSE-S3 and SSE-KMS: random per object;
/// SSE-C: derived from the customer key and the object id).
///
/// The bytes are zeroed on drop and never printed. Persist a data key only wrapped
/// ([`crate::MasterKeys::wrap`], [`crate::KeyStore::generate_data_key`]).
pub struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl DataKey {
    /// A fresh random data key.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut key = Zeroizing::new([0; KEY_LEN]);
        fill_random(&mut key[..])?;
        Ok(Self(key))
    }

    /// A data key from its bytes (an external KMS's plaintext data key, or a test vector).
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        Self(Zeroizing::new(*bytes))
    }

    pub(crate) fn from_zeroizing(bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
        Self(bytes)
    }

    pub(crate) fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

macro_rules! public_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; 16]);

        impl $name {
            /// A fresh random value (128 bits from the operating system).
            pub fn generate() -> Result<Self, CryptoError> {
                let mut bytes = [0; 16];
                fill_random(&mut bytes)?;
                Ok(Self(bytes))
            }

            /// The value from its 16 bytes.
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }

            /// The value from stored bytes, which must be exactly 16.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
                <[u8; 16]>::try_from(bytes).map(Self).map_err(|_| CryptoError::Malformed($what))
            }

            /// The value's 16 bytes, as stored.
            pub const fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            /// Lowercase hex, 32 characters.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }
    };
}

public_id!(
    /// The identity of one encrypted object content: 128 random bits chosen when the object
    /// (or multipart upload) is encrypted, stored in its metadata, and bound into every
    /// package (AAD), the per-part keys and the wrapped data key. A zero-copy copy keeps it,
    /// since the copy names the same sealed blobs. Not secret.
    ObjectId,
    "object id"
);

public_id!(
    /// 128 random bits chosen for each sealed part (a single PUT's body is part 1; each
    /// UploadPart, retries included, draws a new one), stored with the part. They make every
    /// part key unique even when a client uploads the same part number twice under one data
    /// key, so a nonce is never used twice with one key, and an old upload of a part does not
    /// open in place of the new one. Not secret.
    PartSalt,
    "part salt"
);

/// The version of the encrypted-object format, stored in the object's metadata (not in the
/// blob): a reader refuses a version it does not know instead of guessing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FormatVersion {
    /// AES-256-GCM packages of 64 KiB plaintext (see the crate documentation).
    V1,
}

impl FormatVersion {
    /// The version this build writes.
    pub const CURRENT: Self = Self::V1;

    /// The stored code.
    pub const fn as_u8(self) -> u8 {
        match self {
            Self::V1 => 1,
        }
    }

    /// The version of a stored code.
    pub const fn from_u8(code: u8) -> Result<Self, CryptoError> {
        match code {
            1 => Ok(Self::V1),
            other => Err(CryptoError::UnknownFormatVersion(other)),
        }
    }
}
