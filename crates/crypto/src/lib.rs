//! Server-side encryption for s3gate: the encrypted-object format, streaming encryption and
//! ranged decryption, master keys with rotation, the KMS key store, and SSE-C key checks.
//!
//! An object's content is sealed part by part (a single PUT's body is part 1). A part's
//! plaintext is cut into packages of 64 KiB ([`PACKAGE_SIZE`]); each package is sealed on its
//! own with AES-256-GCM (ring) and stored as ciphertext ‖ 16-byte tag, so a ranged read opens
//! only the packages it touches and every package is authenticated before a byte of it is
//! served. The nonce and AAD bind the object id, the part number, the package index and a
//! final-package flag; the key of each part is derived from the object's data key and a
//! per-part salt. docs/ARCHITECTURE.md ("Encrypted objects") has the format, the key
//! hierarchy and the threat model.
//!
//! ```
//! use s3gate_crypto::{
//!     DataKey, Decryptor, Encryptor, FormatVersion, MasterKeyId, MasterKeys, ObjectId,
//!     PartCipher, PartSalt, sealed_len,
//! };
//!
//! // PUT (SSE-S3): a random data key, wrapped under the active master key for the metadata.
//! let masters = MasterKeys::generate(MasterKeyId::new("2026-07")?)?;
//! let (object, salt) = (ObjectId::generate()?, PartSalt::generate()?);
//! let data_key = DataKey::generate()?;
//! let wrapped = masters.wrap(&data_key, object.as_bytes())?;
//!
//! let plaintext = vec![7u8; 200_000];
//! let cipher = PartCipher::new(FormatVersion::V1, &data_key, &object, 1, &salt);
//! let mut enc = Encryptor::new(cipher);
//! let mut sealed = Vec::new();
//! for chunk in plaintext.chunks(8192) {
//!     enc.push(chunk)?.iter().for_each(|p| sealed.extend_from_slice(p));
//! }
//! sealed.extend_from_slice(&enc.finish()?);
//! assert_eq!(sealed.len() as u64, sealed_len(200_000));
//!
//! // Ranged GET: unwrap the data key, fetch only the packages of the range, decrypt them.
//! let data_key = masters.unwrap(&wrapped, object.as_bytes())?;
//! let cipher = PartCipher::new(FormatVersion::V1, &data_key, &object, 1, &salt);
//! let (mut dec, fetch) = Decryptor::for_range(cipher, 200_000, 70_000..70_100)?;
//! let fetch = fetch.start as usize..fetch.end as usize;
//! let out: Vec<u8> = dec.push(&sealed[fetch])?.concat();
//! dec.finish()?;
//! assert_eq!(out, plaintext[70_000..70_100]);
//! # Ok::<(), s3gate_crypto::CryptoError>(())
//! ```
//!
//! Principal types: [`PartCipher`] (a part's key and identity), [`Encryptor`] and
//! [`Decryptor`] (sans-I/O, one package of memory each), [`sealed_range`] and [`sealed_len`]
//! (size and range mapping), [`MasterKeys`] and [`WrappedKey`] (key ring, file format,
//! rotation), [`KeyStore`] with [`BuiltinKms`] over [`KeyRecords`] (SSE-KMS),
//! [`CustomerKey`] and [`KeyCheck`] (SSE-C), and [`CryptoError`].
//!
//! Deliberately not done here: any I/O (the binary reads the key file and the environment;
//! key records are stored through [`KeyRecords`]), reading a clock, S3 headers beyond the
//! values of the SSE-C ones, and the choice of S3 error codes (each [`CryptoError`] variant
//! names the AWS answer; the server maps it). The only outside input is the operating
//! system's random generator (through ring), for keys, ids and salts.

mod error;
mod format;
mod keys;
mod kms;
mod master;
mod ssec;
mod stream;

pub use error::CryptoError;
pub use format::{
    MAX_PACKAGES, PACKAGE_SIZE, PartCipher, SEALED_PACKAGE_SIZE, SealedRange, TAG_LEN,
    package_count, plaintext_len, sealed_len, sealed_range,
};
pub use keys::{DataKey, FormatVersion, KEY_LEN, ObjectId, PartSalt};
pub use kms::{
    BuiltinKms, EncryptionContext, GeneratedDataKey, KeyMetadata, KeyRecord, KeyRecords, KeyStore,
    KmsWrappedKey, MemKeyRecords, NewKey,
};
pub use master::{MasterKey, MasterKeyId, MasterKeys, WrappedKey};
pub use ssec::{CustomerKey, KeyCheck, SSE_C_ALGORITHM};
pub use stream::{Decryptor, Encryptor};
