//! Master keys: the key ring (its file format and key list), and data keys wrapped under it,
//! with rotation (re-wrap without touching data) and retirement.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::aead;
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::format::TAG_LEN;
use crate::keys::{DataKey, KEY_LEN, fill_random, hkdf_aead_key};

/// Length of a sealed key: the 32 key bytes and the tag.
const SEALED_KEY_LEN: usize = KEY_LEN + TAG_LEN;
/// Random salt of each wrap: the wrapping key is derived from it, so each derived key seals
/// exactly one key (with the all-zero nonce) and random nonces never collide.
const WRAP_SALT_LEN: usize = 16;
/// Version byte at the head of the stored forms of wrapped keys.
const WRAP_VERSION: u8 = 1;
/// HKDF info label of a master-key wrap.
const MASTER_WRAP_LABEL: &[u8] = b"s3gate/master-wrap/1";
/// Header line of the master key file.
const FILE_HEADER: &str = "s3gate-master-keys 1";

/// Seals the 32 bytes `key` under a key derived from `kek` and `salt`, binding `aad`.
pub(crate) fn seal_key(
    kek: &[u8; KEY_LEN],
    label: &[u8],
    salt: &[u8; WRAP_SALT_LEN],
    aad: &[u8],
    key: &[u8; KEY_LEN],
) -> [u8; SEALED_KEY_LEN] {
    let wrapping = hkdf_aead_key(salt, kek, &[label]);
    let mut out = [0; SEALED_KEY_LEN];
    let (body, tag_out) = out.split_at_mut(KEY_LEN);
    body.copy_from_slice(key);
    let tag = wrapping
        .seal_in_place_separate_tag(
            aead::Nonce::assume_unique_for_key([0; aead::NONCE_LEN]),
            aead::Aad::from(aad),
            body,
        )
        // ring refuses only inputs above GCM's 64 GiB limit.
        .expect("a 32-byte key is within AES-GCM's input limit");
    tag_out.copy_from_slice(tag.as_ref());
    out
}

/// Opens what [`seal_key`] sealed; `None` if the bytes, the key or the AAD differ.
pub(crate) fn open_key(
    kek: &[u8; KEY_LEN],
    label: &[u8],
    salt: &[u8; WRAP_SALT_LEN],
    aad: &[u8],
    sealed: &[u8; SEALED_KEY_LEN],
) -> Option<Zeroizing<[u8; KEY_LEN]>> {
    let wrapping = hkdf_aead_key(salt, kek, &[label]);
    let mut buf = Zeroizing::new(*sealed);
    let plain = wrapping
        .open_in_place(
            aead::Nonce::assume_unique_for_key([0; aead::NONCE_LEN]),
            aead::Aad::from(aad),
            &mut buf[..],
        )
        .ok()?;
    let mut key = Zeroizing::new([0; KEY_LEN]);
    key.copy_from_slice(plain);
    Some(key)
}

/// The stored form shared by master-wrapped and KMS-wrapped keys:
/// `version (1) ‖ id length (1) ‖ id ‖ salt (16) ‖ sealed key (48)`.
pub(crate) fn encode_wrapped(id: &str, salt: &[u8; 16], sealed: &[u8; SEALED_KEY_LEN]) -> Vec<u8> {
    let id_len = u8::try_from(id.len()).expect("key ids are validated to at most 250 bytes");
    let mut out = Vec::with_capacity(2 + id.len() + WRAP_SALT_LEN + SEALED_KEY_LEN);
    out.push(WRAP_VERSION);
    out.push(id_len);
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(salt);
    out.extend_from_slice(sealed);
    out
}

/// Parses [`encode_wrapped`]'s output into (id, salt, sealed key).
pub(crate) fn decode_wrapped<'a>(
    bytes: &'a [u8],
    what: &'static str,
) -> Result<(&'a str, [u8; WRAP_SALT_LEN], [u8; SEALED_KEY_LEN]), CryptoError> {
    let malformed = || CryptoError::Malformed(what);
    let [version, id_len, rest @ ..] = bytes else { return Err(malformed()) };
    if *version != WRAP_VERSION
        || rest.len() != usize::from(*id_len) + WRAP_SALT_LEN + SEALED_KEY_LEN
    {
        return Err(malformed());
    }
    let (id, rest) = rest.split_at(usize::from(*id_len));
    let (salt, sealed) = rest.split_at(WRAP_SALT_LEN);
    let id = std::str::from_utf8(id).map_err(|_| malformed())?;
    Ok((id, salt.try_into().map_err(|_| malformed())?, sealed.try_into().map_err(|_| malformed())?))
}

/// The id of a master key: 1 to 64 characters of `[A-Za-z0-9._-]`, chosen by the operator
/// (a date such as `2026-07` reads well). It is stored beside every key it wraps.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MasterKeyId(String);

impl MasterKeyId {
    /// Validates an id.
    pub fn new(id: &str) -> Result<Self, CryptoError> {
        let valid = (1..=64).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if valid { Ok(Self(id.to_owned())) } else { Err(CryptoError::InvalidMasterKeyId) }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MasterKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MasterKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKeyId({:?})", self.0)
    }
}

/// A 256-bit master key and its id. The bytes are zeroed on drop and never printed.
pub struct MasterKey {
    id: MasterKeyId,
    secret: Zeroizing<[u8; KEY_LEN]>,
}

impl MasterKey {
    /// A fresh random master key.
    pub fn generate(id: MasterKeyId) -> Result<Self, CryptoError> {
        let mut secret = Zeroizing::new([0; KEY_LEN]);
        fill_random(&mut secret[..])?;
        Ok(Self { id, secret })
    }

    /// A master key from its 32 bytes.
    pub fn from_bytes(id: MasterKeyId, bytes: &[u8; KEY_LEN]) -> Self {
        Self { id, secret: Zeroizing::new(*bytes) }
    }

    /// A master key from the standard base64 of its 32 bytes (as in the key file).
    pub fn from_base64(id: MasterKeyId, text: &str) -> Result<Self, CryptoError> {
        let bytes =
            Zeroizing::new(STANDARD.decode(text.trim()).map_err(|_| CryptoError::KeyFile {
                line: 0,
                reason: "a key is not valid base64",
            })?);
        if bytes.len() != KEY_LEN {
            return Err(CryptoError::KeyFile {
                line: 0,
                reason: "a key is not 32 bytes (256 bits)",
            });
        }
        let mut secret = Zeroizing::new([0; KEY_LEN]);
        secret.copy_from_slice(&bytes);
        Ok(Self { id, secret })
    }

    /// The key's id.
    pub fn id(&self) -> &MasterKeyId {
        &self.id
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).finish_non_exhaustive()
    }
}

/// A data key wrapped (AES-256-GCM) under a master key, with the id of that master key.
///
/// Stored in the object's metadata as [`WrappedKey::to_bytes`] (66 bytes plus the id). Its
/// AAD binds the master key id and the caller's context (the object id for SSE-S3), so a
/// wrapped key moved to another object, or relabelled with another master key id, does not
/// open.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    master: MasterKeyId,
    salt: [u8; WRAP_SALT_LEN],
    sealed: [u8; SEALED_KEY_LEN],
}

impl WrappedKey {
    /// Which master key wraps this key: ask it of every stored wrapped key before retiring a
    /// master key.
    pub fn master_key_id(&self) -> &MasterKeyId {
        &self.master
    }

    /// The stored form: `1 ‖ id length ‖ id ‖ salt (16) ‖ sealed key (48)`.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode_wrapped(self.master.as_str(), &self.salt, &self.sealed)
    }

    /// Parses the stored form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let (id, salt, sealed) = decode_wrapped(bytes, "wrapped key")?;
        let master = MasterKeyId::new(id).map_err(|_| CryptoError::Malformed("wrapped key"))?;
        Ok(Self { master, salt, sealed })
    }
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedKey").field("master", &self.master).finish_non_exhaustive()
    }
}

/// The master keys of a gateway: one active key that wraps new data keys, and older keys that
/// still unwrap until they are retired.
///
/// Its text form ([`MasterKeys::parse_file`], [`MasterKeys::to_file_text`]) is the master key
/// file; the binary reads and writes that file (mode 0600, refusing one that group or others
/// can read) and passes its text here. [`MasterKeys::parse_list`] reads the compact form
/// given by environment.
pub struct MasterKeys {
    keys: Vec<MasterKey>,
    active: usize,
}

impl MasterKeys {
    /// A key ring of `keys` in which `active` wraps new keys.
    pub fn new(keys: Vec<MasterKey>, active: &MasterKeyId) -> Result<Self, CryptoError> {
        for (i, key) in keys.iter().enumerate() {
            if keys[..i].iter().any(|k| k.id == key.id) {
                return Err(CryptoError::DuplicateMasterKey(key.id.0.clone()));
            }
        }
        let active = keys
            .iter()
            .position(|k| &k.id == active)
            .ok_or_else(|| CryptoError::UnknownMasterKey(active.0.clone()))?;
        Ok(Self { keys, active })
    }

    /// A key ring of one fresh random key.
    pub fn generate(id: MasterKeyId) -> Result<Self, CryptoError> {
        Ok(Self { keys: vec![MasterKey::generate(id)?], active: 0 })
    }

    /// Parses the master key file:
    ///
    /// ```text
    /// # comments and blank lines are ignored
    /// s3gate-master-keys 1
    /// key 2026-01 <base64 of 32 bytes>
    /// key 2026-07 <base64 of 32 bytes>
    /// active 2026-07
    /// ```
    ///
    /// The header line comes first; each `key` line adds a key; exactly one `active` line
    /// names the key that wraps new data keys.
    pub fn parse_file(text: &str) -> Result<Self, CryptoError> {
        let mut header = false;
        let mut keys = Vec::new();
        let mut active: Option<(usize, MasterKeyId)> = None;
        for (n, line) in text.lines().enumerate() {
            let line_no = n + 1;
            let err = |reason| CryptoError::KeyFile { line: line_no, reason };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if !header {
                if line != FILE_HEADER {
                    return Err(err("expected the header `s3gate-master-keys 1`"));
                }
                header = true;
                continue;
            }
            let mut words = line.split_ascii_whitespace();
            match (words.next(), words.next(), words.next(), words.next()) {
                (Some("key"), Some(id), Some(secret), None) => {
                    let id = MasterKeyId::new(id).map_err(|_| err("invalid key id"))?;
                    if keys.iter().any(|k: &MasterKey| k.id == id) {
                        return Err(err("duplicate key id"));
                    }
                    keys.push(MasterKey::from_base64(id, secret).map_err(|e| match e {
                        CryptoError::KeyFile { reason, .. } => err(reason),
                        other => other,
                    })?);
                }
                (Some("active"), Some(id), None, None) => {
                    if active.is_some() {
                        return Err(err("more than one `active` line"));
                    }
                    let id = MasterKeyId::new(id).map_err(|_| err("invalid key id"))?;
                    active = Some((line_no, id));
                }
                _ => return Err(err("expected `key <id> <base64>` or `active <id>`")),
            }
        }
        if !header {
            return Err(CryptoError::KeyFile { line: 0, reason: "the file is empty" });
        }
        let Some((line, active)) = active else {
            return Err(CryptoError::KeyFile { line: 0, reason: "no `active` line" });
        };
        let active = keys
            .iter()
            .position(|k| k.id == active)
            .ok_or(CryptoError::KeyFile { line, reason: "the active key is not in the file" })?;
        Ok(Self { keys, active })
    }

    /// The master key file text of this key ring (secret: zeroed on drop).
    pub fn to_file_text(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::new());
        out.push_str(
            "# s3gate master keys. Keep this file private (mode 0600) and backed up: without it\n\
             # no encrypted object can be read. `active` wraps new data keys; the other keys\n\
             # still unwrap the data keys they wrapped until they are retired.\n",
        );
        out.push_str(FILE_HEADER);
        out.push('\n');
        for key in &self.keys {
            let secret = Zeroizing::new(STANDARD.encode(&key.secret[..]));
            out.push_str("key ");
            out.push_str(key.id.as_str());
            out.push(' ');
            out.push_str(&secret);
            out.push('\n');
        }
        out.push_str("active ");
        out.push_str(self.active_id().as_str());
        out.push('\n');
        out
    }

    /// Parses the compact form `id:base64[,id:base64...]` (for the environment): the first
    /// key is active.
    pub fn parse_list(text: &str) -> Result<Self, CryptoError> {
        let mut keys: Vec<MasterKey> = Vec::new();
        for (n, entry) in text.split(',').enumerate() {
            let err = |reason| CryptoError::KeyFile { line: n + 1, reason };
            let (id, secret) = entry.trim().split_once(':').ok_or(err("expected `id:base64`"))?;
            let id = MasterKeyId::new(id).map_err(|_| err("invalid key id"))?;
            if keys.iter().any(|k| k.id == id) {
                return Err(err("duplicate key id"));
            }
            keys.push(MasterKey::from_base64(id, secret).map_err(|e| match e {
                CryptoError::KeyFile { reason, .. } => err(reason),
                other => other,
            })?);
        }
        Ok(Self { keys, active: 0 })
    }

    /// The id of the key that wraps new data keys.
    pub fn active_id(&self) -> &MasterKeyId {
        &self.keys[self.active].id
    }

    /// The ids of all keys, in file order.
    pub fn ids(&self) -> impl Iterator<Item = &MasterKeyId> {
        self.keys.iter().map(|k| &k.id)
    }

    /// Whether the key ring holds a key with this id.
    pub fn contains(&self, id: &MasterKeyId) -> bool {
        self.keys.iter().any(|k| &k.id == id)
    }

    /// Adds a key (not active).
    pub fn add(&mut self, key: MasterKey) -> Result<(), CryptoError> {
        if self.contains(&key.id) {
            return Err(CryptoError::DuplicateMasterKey(key.id.0));
        }
        self.keys.push(key);
        Ok(())
    }

    /// Makes the key `id` the one that wraps new data keys.
    pub fn set_active(&mut self, id: &MasterKeyId) -> Result<(), CryptoError> {
        self.active = self
            .keys
            .iter()
            .position(|k| &k.id == id)
            .ok_or_else(|| CryptoError::UnknownMasterKey(id.0.clone()))?;
        Ok(())
    }

    /// Rotation: adds a fresh random key `new_id` and makes it active. The old keys still
    /// unwrap; [`MasterKeys::rewrap`] moves each wrapped key to the new one without touching
    /// any data.
    pub fn rotate(&mut self, new_id: MasterKeyId) -> Result<(), CryptoError> {
        let key = MasterKey::generate(new_id)?;
        let id = key.id.clone();
        self.add(key)?;
        self.set_active(&id)
    }

    /// Removes the key `id`; refused for the active key. The caller must first make sure
    /// that no stored wrapped key still names it ([`WrappedKey::master_key_id`]): the data
    /// keys it wraps would be lost, and their objects with them.
    pub fn retire(&mut self, id: &MasterKeyId) -> Result<(), CryptoError> {
        let index = self
            .keys
            .iter()
            .position(|k| &k.id == id)
            .ok_or_else(|| CryptoError::UnknownMasterKey(id.0.clone()))?;
        if index == self.active {
            return Err(CryptoError::RetireActiveKey(id.0.clone()));
        }
        self.keys.remove(index);
        if index < self.active {
            self.active -= 1;
        }
        Ok(())
    }

    fn key(&self, id: &MasterKeyId) -> Result<&MasterKey, CryptoError> {
        self.keys
            .iter()
            .find(|k| &k.id == id)
            .ok_or_else(|| CryptoError::UnknownMasterKey(id.0.clone()))
    }

    fn aad(id: &MasterKeyId, context: &[u8]) -> Vec<u8> {
        let mut aad = Vec::with_capacity(1 + id.0.len() + context.len());
        aad.push(u8::try_from(id.0.len()).expect("ids are at most 64 bytes"));
        aad.extend_from_slice(id.0.as_bytes());
        aad.extend_from_slice(context);
        aad
    }

    pub(crate) fn wrap_secret(
        &self,
        secret: &[u8; KEY_LEN],
        context: &[u8],
    ) -> Result<WrappedKey, CryptoError> {
        let master = &self.keys[self.active];
        let mut salt = [0; WRAP_SALT_LEN];
        fill_random(&mut salt)?;
        let aad = Self::aad(&master.id, context);
        let sealed = seal_key(&master.secret, MASTER_WRAP_LABEL, &salt, &aad, secret);
        Ok(WrappedKey { master: master.id.clone(), salt, sealed })
    }

    pub(crate) fn unwrap_secret(
        &self,
        wrapped: &WrappedKey,
        context: &[u8],
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, CryptoError> {
        let master = self.key(&wrapped.master)?;
        let aad = Self::aad(&master.id, context);
        open_key(&master.secret, MASTER_WRAP_LABEL, &wrapped.salt, &aad, &wrapped.sealed)
            .ok_or(CryptoError::UnwrapFailed)
    }

    /// Wraps `key` under the active master key, bound to `context` (for SSE-S3 the object
    /// id's bytes; the same bytes must be given to unwrap it).
    pub fn wrap(&self, key: &DataKey, context: &[u8]) -> Result<WrappedKey, CryptoError> {
        self.wrap_secret(key.expose(), context)
    }

    /// Unwraps a key wrapped under any key of the ring with the same `context`.
    pub fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<DataKey, CryptoError> {
        self.unwrap_secret(wrapped, context).map(DataKey::from_zeroizing)
    }

    /// Re-wraps a wrapped key under the active master key (rotation): the data key, and so
    /// the object's sealed bytes, stay the same.
    pub fn rewrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<WrappedKey, CryptoError> {
        let secret = self.unwrap_secret(wrapped, context)?;
        self.wrap_secret(&secret, context)
    }

    /// Whether `wrapped` is already under the active master key (no re-wrap needed).
    pub fn is_current(&self, wrapped: &WrappedKey) -> bool {
        &wrapped.master == self.active_id()
    }
}

impl fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKeys")
            .field("ids", &self.keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>())
            .field("active", &self.active_id().as_str())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> MasterKeyId {
        MasterKeyId::new(s).unwrap()
    }

    fn ring(ids: &[(&str, u8)], active: &str) -> MasterKeys {
        let keys = ids.iter().map(|(i, b)| MasterKey::from_bytes(id(i), &[*b; 32])).collect();
        MasterKeys::new(keys, &id(active)).unwrap()
    }

    #[test]
    fn master_key_ids_are_validated() {
        for good in ["a", "2026-07", "key_1.v2", &"x".repeat(64)] {
            assert!(MasterKeyId::new(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "k/1", "é", &"x".repeat(65)] {
            assert!(MasterKeyId::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wrap_unwrap_and_context_binding() {
        let keys = ring(&[("one", 1)], "one");
        let data = DataKey::from_bytes(&[9; 32]);
        let wrapped = keys.wrap(&data, b"object-a").unwrap();
        assert_eq!(wrapped.master_key_id(), &id("one"));
        assert_eq!(keys.unwrap(&wrapped, b"object-a").unwrap().expose(), &[9; 32]);
        assert!(matches!(keys.unwrap(&wrapped, b"object-b"), Err(CryptoError::UnwrapFailed)));
        // Two wraps of the same key differ (random salt) and both open.
        let again = keys.wrap(&data, b"object-a").unwrap();
        assert_ne!(again, wrapped);
        assert_eq!(keys.unwrap(&again, b"object-a").unwrap().expose(), &[9; 32]);
    }

    #[test]
    fn stored_form_round_trips_and_tampering_fails() {
        let keys = ring(&[("one", 1)], "one");
        let wrapped = keys.wrap(&DataKey::from_bytes(&[7; 32]), b"ctx").unwrap();
        let bytes = wrapped.to_bytes();
        assert_eq!(bytes.len(), 2 + 3 + 16 + 48);
        assert_eq!(WrappedKey::from_bytes(&bytes).unwrap(), wrapped);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            let opened = WrappedKey::from_bytes(&bad).and_then(|w| keys.unwrap(&w, b"ctx"));
            assert!(opened.is_err(), "flipped byte {i} still opened");
        }
        for len in 0..bytes.len() {
            assert!(WrappedKey::from_bytes(&bytes[..len]).is_err());
        }
    }

    #[test]
    fn relabelled_master_id_does_not_open() {
        // Two master keys with the same bytes: a wrapped key relabelled from one id to the
        // other still fails, because the id is in the AAD.
        let keys = ring(&[("aa", 1), ("bb", 1)], "aa");
        let wrapped = keys.wrap(&DataKey::from_bytes(&[3; 32]), b"c").unwrap();
        let mut bytes = wrapped.to_bytes();
        bytes[2..4].copy_from_slice(b"bb");
        let relabelled = WrappedKey::from_bytes(&bytes).unwrap();
        assert!(matches!(keys.unwrap(&relabelled, b"c"), Err(CryptoError::UnwrapFailed)));
    }

    #[test]
    fn rotation_rewraps_without_changing_the_data_key() {
        let mut keys = ring(&[("old", 1)], "old");
        let wrapped = keys.wrap(&DataKey::from_bytes(&[5; 32]), b"obj").unwrap();
        keys.rotate(id("new")).unwrap();
        assert_eq!(keys.active_id(), &id("new"));
        assert!(!keys.is_current(&wrapped));
        // The old key still unwraps until it is retired.
        assert_eq!(keys.unwrap(&wrapped, b"obj").unwrap().expose(), &[5; 32]);
        let rewrapped = keys.rewrap(&wrapped, b"obj").unwrap();
        assert_eq!(rewrapped.master_key_id(), &id("new"));
        assert!(keys.is_current(&rewrapped));
        assert!(matches!(keys.retire(&id("new")), Err(CryptoError::RetireActiveKey(_))));
        keys.retire(&id("old")).unwrap();
        assert_eq!(keys.unwrap(&rewrapped, b"obj").unwrap().expose(), &[5; 32]);
        assert!(matches!(keys.unwrap(&wrapped, b"obj"), Err(CryptoError::UnknownMasterKey(_))));
        assert!(matches!(keys.retire(&id("old")), Err(CryptoError::UnknownMasterKey(_))));
    }

    #[test]
    fn retiring_before_the_active_key_keeps_the_active_key() {
        let mut keys = ring(&[("a", 1), ("b", 2), ("c", 3)], "c");
        keys.retire(&id("a")).unwrap();
        assert_eq!(keys.active_id(), &id("c"));
        assert_eq!(keys.ids().map(MasterKeyId::as_str).collect::<Vec<_>>(), ["b", "c"]);
    }

    #[test]
    fn key_file_round_trips() {
        let keys = ring(&[("2026-01", 1), ("2026-07", 2)], "2026-07");
        let text = keys.to_file_text();
        let back = MasterKeys::parse_file(&text).unwrap();
        assert_eq!(back.active_id(), &id("2026-07"));
        assert_eq!(back.ids().count(), 2);
        let wrapped = keys.wrap(&DataKey::from_bytes(&[4; 32]), b"x").unwrap();
        assert_eq!(back.unwrap(&wrapped, b"x").unwrap().expose(), &[4; 32]);
        assert!(!format!("{keys:?}").contains(&STANDARD.encode([2; 32])));
    }

    #[test]
    fn key_file_errors_name_the_line() {
        let k = STANDARD.encode([1; 32]);
        let short = STANDARD.encode([1; 31]);
        for (text, line, reason) in [
            (String::new(), 0, "the file is empty"),
            ("key a b\n".to_owned(), 1, "expected the header `s3gate-master-keys 1`"),
            (format!("s3gate-master-keys 1\nkey a {k}\n"), 0, "no `active` line"),
            (
                format!("s3gate-master-keys 1\nkey a {k}\nactive b\n"),
                3,
                "the active key is not in the file",
            ),
            (format!("s3gate-master-keys 1\nkey a {k}\nkey a {k}\n"), 3, "duplicate key id"),
            (
                format!("# c\ns3gate-master-keys 1\nkey a {short}\n"),
                3,
                "a key is not 32 bytes (256 bits)",
            ),
            ("s3gate-master-keys 1\nkey a !!!\n".to_owned(), 2, "a key is not valid base64"),
            (format!("s3gate-master-keys 1\nkey a/b {k}\n"), 2, "invalid key id"),
            (
                format!("s3gate-master-keys 1\nkey a {k}\nactive a\nactive a\n"),
                4,
                "more than one `active` line",
            ),
            (
                "s3gate-master-keys 1\nsecret a\n".to_owned(),
                2,
                "expected `key <id> <base64>` or `active <id>`",
            ),
        ] {
            match MasterKeys::parse_file(&text) {
                Err(CryptoError::KeyFile { line: l, reason: r }) => {
                    assert_eq!((l, r), (line, reason), "{text:?}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn key_list_first_is_active() {
        let a = STANDARD.encode([1; 32]);
        let b = STANDARD.encode([2; 32]);
        let keys = MasterKeys::parse_list(&format!("new:{b}, old:{a}")).unwrap();
        assert_eq!(keys.active_id(), &id("new"));
        assert!(keys.contains(&id("old")));
        for bad in ["", "nocolon", &format!("a:{a},a:{b}"), "a:short"] {
            assert!(MasterKeys::parse_list(bad).is_err(), "{bad}");
        }
    }
}
