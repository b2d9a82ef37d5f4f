//! SSE-C: the customer key of a request (its three headers checked as S3 checks them), the
//! per-object key derived from it, and the key check record that lets a later request prove
//! it holds the same key without the gateway ever storing the key.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest as _, Md5};
use ring::hmac;
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::keys::{DataKey, KEY_LEN, ObjectId, fill_random, hkdf_key};

/// The only SSE-C algorithm S3 accepts.
pub const SSE_C_ALGORITHM: &str = "AES256";

/// HKDF info label of the object key derived from a customer key.
const OBJECT_KEY_LABEL: &[u8] = b"s3gate/sse-c-object-key/1";
/// HMAC message label of the key check record.
const KEY_CHECK_LABEL: &[u8] = b"s3gate/sse-c-key-check/1";
const KEY_CHECK_VERSION: u8 = 1;
const KEY_CHECK_LEN: usize = 1 + 16 + 32;

/// A customer-provided key (SSE-C), checked against its MD5. Zeroed on drop, never printed,
/// never stored: the gateway keeps only a [`KeyCheck`] and the keys derived per object.
pub struct CustomerKey {
    key: Zeroizing<[u8; KEY_LEN]>,
    md5: [u8; 16],
}

impl CustomerKey {
    /// The customer key of a request from the values of its three headers
    /// (`x-amz-server-side-encryption-customer-algorithm`, `-customer-key`,
    /// `-customer-key-MD5`, or their `x-amz-copy-source-` forms), checked in S3's order:
    /// `Ok(None)` when none is present, else the algorithm must be `AES256`, the key standard
    /// base64 of 32 bytes, and the MD5 the base64 MD5 of those bytes.
    pub fn from_headers(
        algorithm: Option<&str>,
        key: Option<&str>,
        key_md5: Option<&str>,
    ) -> Result<Option<Self>, CryptoError> {
        let Some(algorithm) = algorithm else {
            return if key.is_none() && key_md5.is_none() {
                Ok(None)
            } else {
                Err(CryptoError::SseCustomerAlgorithmMissing)
            };
        };
        if algorithm != SSE_C_ALGORITHM {
            return Err(CryptoError::SseCustomerAlgorithmUnsupported);
        }
        let key = key.ok_or(CryptoError::SseCustomerKeyMissing)?;
        let key_md5 = key_md5.ok_or(CryptoError::SseCustomerKeyMd5Missing)?;
        let decoded =
            Zeroizing::new(STANDARD.decode(key).map_err(|_| CryptoError::SseCustomerKeyInvalid)?);
        if decoded.len() != KEY_LEN {
            return Err(CryptoError::SseCustomerKeyInvalid);
        }
        let mut bytes = Zeroizing::new([0; KEY_LEN]);
        bytes.copy_from_slice(&decoded);
        let customer = Self::from_zeroizing(bytes);
        match STANDARD.decode(key_md5) {
            Ok(md5) if md5 == customer.md5 => Ok(Some(customer)),
            _ => Err(CryptoError::SseCustomerKeyMd5Mismatch),
        }
    }

    /// A customer key from its 32 bytes (tests, benchmarks).
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        Self::from_zeroizing(Zeroizing::new(*bytes))
    }

    fn from_zeroizing(key: Zeroizing<[u8; KEY_LEN]>) -> Self {
        let md5 = Md5::digest(&key[..]).into();
        Self { key, md5 }
    }

    /// The key's MD5, base64: S3 echoes it in `x-amz-server-side-encryption-customer-key-MD5`.
    pub fn key_md5_base64(&self) -> String {
        STANDARD.encode(self.md5)
    }

    /// The data key of the object `object`: `HKDF-SHA256(salt = object id, ikm = customer
    /// key, info = "s3gate/sse-c-object-key/1")`. One customer key used for many objects
    /// yields unrelated data keys, so packages never move between them.
    pub fn object_key(&self, object: &ObjectId) -> DataKey {
        DataKey::from_zeroizing(hkdf_key(object.as_bytes(), &self.key[..], &[OBJECT_KEY_LABEL]))
    }

    /// A fresh key check record of this key, to store with the object (or upload).
    pub fn key_check(&self) -> Result<KeyCheck, CryptoError> {
        let mut salt = [0; 16];
        fill_random(&mut salt)?;
        let tag = hmac::sign(&self.hmac_key(), &KeyCheck::message(&salt));
        let mac = tag.as_ref().try_into().expect("HMAC-SHA256 tags are 32 bytes");
        Ok(KeyCheck { salt, mac })
    }

    /// Whether this is the key `check` was made from, compared in constant time.
    pub fn verify(&self, check: &KeyCheck) -> Result<(), CryptoError> {
        hmac::verify(&self.hmac_key(), &KeyCheck::message(&check.salt), &check.mac)
            .map_err(|_| CryptoError::SseCustomerKeyMismatch)
    }

    fn hmac_key(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, &self.key[..])
    }
}

impl fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomerKey").field("md5", &self.key_md5_base64()).finish_non_exhaustive()
    }
}

/// The stored proof of an SSE-C key: `HMAC-SHA256(customer key, "s3gate/sse-c-key-check/1" ‖
/// salt)` with 128 random bits of salt. It tells a later request's key right from wrong
/// without the key; it reveals nothing a guess of a 256-bit key could use.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyCheck {
    salt: [u8; 16],
    mac: [u8; 32],
}

impl KeyCheck {
    fn message(salt: &[u8; 16]) -> Vec<u8> {
        [KEY_CHECK_LABEL, salt].concat()
    }

    /// The stored form: `1 ‖ salt (16) ‖ HMAC (32)`, 49 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(KEY_CHECK_LEN);
        out.push(KEY_CHECK_VERSION);
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&self.mac);
        out
    }

    /// Parses the stored form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let malformed = || CryptoError::Malformed("sse-c key check");
        match bytes {
            [KEY_CHECK_VERSION, rest @ ..] if bytes.len() == KEY_CHECK_LEN => {
                let (salt, mac) = rest.split_at(16);
                Ok(Self {
                    salt: salt.try_into().map_err(|_| malformed())?,
                    mac: mac.try_into().map_err(|_| malformed())?,
                })
            }
            _ => Err(malformed()),
        }
    }
}

impl fmt::Debug for KeyCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyCheck(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The customer keys of ceph/s3-tests' SSE-C cases, with their MD5s.
    const KEY_A: &str = "pO3upElrwuEXSoFwCfnZPdSsmt/xWeFa0N9KgDijwVs=";
    const MD5_A: &str = "DWygnHRtgiJ77HCm+1rvHw==";
    const KEY_B: &str = "6b+WOZ1T3cqZMxgThRcXAQBrS5mXKdDUphvpxptl9/4=";
    const MD5_B: &str = "arxBvwY2V4SiOne6yppVPQ==";

    /// Parses the three header values and compares the outcome with `want` (`None`: a key).
    fn check(alg: Option<&str>, key: Option<&str>, md5: Option<&str>, want: Option<&CryptoError>) {
        let got = CustomerKey::from_headers(alg, key, md5);
        match (&got, want) {
            (Ok(_), None) => {}
            (Err(e), Some(w)) if std::mem::discriminant(e) == std::mem::discriminant(w) => {}
            _ => panic!("{alg:?} {key:?} {md5:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn headers_are_checked_in_s3_order() {
        use CryptoError as E;
        let aes = Some("AES256");
        check(None, None, None, None);
        check(aes, Some(KEY_A), Some(MD5_A), None);
        check(None, Some(KEY_A), Some(MD5_A), Some(&E::SseCustomerAlgorithmMissing));
        check(None, None, Some(MD5_A), Some(&E::SseCustomerAlgorithmMissing));
        check(Some("aws:kms"), Some(KEY_A), Some(MD5_A), Some(&E::SseCustomerAlgorithmUnsupported));
        check(Some("aes256"), Some(KEY_A), Some(MD5_A), Some(&E::SseCustomerAlgorithmUnsupported));
        check(aes, None, Some(MD5_A), Some(&E::SseCustomerKeyMissing));
        check(aes, None, None, Some(&E::SseCustomerKeyMissing));
        check(aes, Some(KEY_A), None, Some(&E::SseCustomerKeyMd5Missing));
        check(aes, Some("c2hvcnQ="), Some(MD5_A), Some(&E::SseCustomerKeyInvalid));
        check(aes, Some("not base64!"), Some(MD5_A), Some(&E::SseCustomerKeyInvalid));
        check(
            aes,
            Some(KEY_A),
            Some("AAAAAAAAAAAAAAAAAAAAAA=="),
            Some(&E::SseCustomerKeyMd5Mismatch),
        );
        check(aes, Some(KEY_A), Some(MD5_B), Some(&E::SseCustomerKeyMd5Mismatch));
        check(aes, Some(KEY_A), Some("%%%"), Some(&E::SseCustomerKeyMd5Mismatch));
        check(aes, Some(KEY_B), Some(MD5_B), None);
    }

    #[test]
    fn md5_is_echoed_and_never_the_key() {
        let key =
            CustomerKey::from_headers(Some("AES256"), Some(KEY_A), Some(MD5_A)).unwrap().unwrap();
        assert_eq!(key.key_md5_base64(), MD5_A);
        assert!(!format!("{key:?}").contains(KEY_A));
    }

    #[test]
    fn key_check_accepts_the_key_and_refuses_another() {
        let a =
            CustomerKey::from_headers(Some("AES256"), Some(KEY_A), Some(MD5_A)).unwrap().unwrap();
        let b =
            CustomerKey::from_headers(Some("AES256"), Some(KEY_B), Some(MD5_B)).unwrap().unwrap();
        let check = a.key_check().unwrap();
        let stored = KeyCheck::from_bytes(&check.to_bytes()).unwrap();
        assert_eq!(stored, check);
        a.verify(&stored).unwrap();
        assert!(matches!(b.verify(&stored), Err(CryptoError::SseCustomerKeyMismatch)));
        // Salted: two checks of one key differ; the record never holds the key.
        let again = a.key_check().unwrap();
        assert_ne!(again.to_bytes(), check.to_bytes());
        let raw = STANDARD.decode(KEY_A).unwrap();
        assert!(!check.to_bytes().windows(8).any(|w| raw.windows(8).any(|r| r == w)));
        assert!(KeyCheck::from_bytes(&check.to_bytes()[..48]).is_err());
    }

    #[test]
    fn object_keys_differ_per_object() {
        let a = CustomerKey::from_bytes(&[1; 32]);
        let k1 = a.object_key(&ObjectId::from_bytes([1; 16]));
        let k2 = a.object_key(&ObjectId::from_bytes([2; 16]));
        assert_ne!(k1.expose(), k2.expose());
        assert_ne!(k1.expose(), &[1; 32]);
    }
}
