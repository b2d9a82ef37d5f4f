//! SSE-KMS: the [`KeyStore`] trait a KMS implements, and [`BuiltinKms`], the gateway's own key
//! store, whose named keys are wrapped by the master key and kept through [`KeyRecords`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use zeroize::Zeroizing;

use crate::CryptoError;
use crate::keys::{DataKey, KEY_LEN, fill_random};
use crate::master::{
    MasterKeyId, MasterKeys, WrappedKey, decode_wrapped, encode_wrapped, open_key, seal_key,
};

/// HKDF info label of a data key wrapped by a KMS key.
const KMS_WRAP_LABEL: &[u8] = b"s3gate/kms-wrap/1";
/// Master-wrap context prefix of a KMS key's own material.
const KMS_KEY_CONTEXT: &[u8] = b"s3gate/kms-key/1";

/// The encryption context of a KMS operation: string pairs bound to the wrapped data key as
/// AAD, so a data key opens only with the same context. S3 uses `aws:s3:arn` = the object's
/// (or, with a bucket key, the bucket's) ARN, plus what the client adds in
/// `x-amz-server-side-encryption-context`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a pair.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The pairs, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether the context has no pair.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Unambiguous encoding: the pair count, then each key and value, all length-prefixed
    /// (u32 big-endian), in key order.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes();
        out.extend_from_slice(&len(self.0.len()));
        for (k, v) in &self.0 {
            out.extend_from_slice(&len(k.len()));
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(&len(v.len()));
            out.extend_from_slice(v.as_bytes());
        }
        out
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for EncryptionContext {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        Self(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

/// A KMS key as callers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyMetadata {
    /// The key id: a UUID, or the name the operator chose at creation.
    pub key_id: String,
    /// `arn:aws:kms:<region>:<account>:key/<key id>`: what S3 reports in
    /// `x-amz-server-side-encryption-aws-kms-key-id`.
    pub arn: String,
    /// The alias name, without the `alias/` prefix.
    pub alias: Option<String>,
    /// Free text.
    pub description: String,
    /// A disabled key neither generates nor decrypts data keys.
    pub enabled: bool,
    /// Creation time, seconds since the Unix epoch (given by the caller).
    pub created_unix_seconds: i64,
}

/// What [`KeyStore::create_key`] creates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewKey {
    /// The key id; a random UUID when `None`. A chosen id is 1 to 128 characters of
    /// `[A-Za-z0-9_.-]` (test suites ask for ids such as `testkey-1`).
    pub key_id: Option<String>,
    /// An alias name (without `alias/`): 1 to 250 characters of `[A-Za-z0-9/_-]`.
    pub alias: Option<String>,
    /// Free text.
    pub description: String,
    /// Creation time, seconds since the Unix epoch (this crate reads no clock).
    pub created_unix_seconds: i64,
}

/// A data key wrapped by a KMS key, with that key's id: stored in the object's metadata as
/// [`KmsWrappedKey::to_bytes`]. Its AAD binds the key id and the encryption context.
#[derive(Clone, PartialEq, Eq)]
pub struct KmsWrappedKey {
    key_id: String,
    salt: [u8; 16],
    sealed: [u8; KEY_LEN + 16],
}

impl KmsWrappedKey {
    /// The id of the KMS key that wraps this data key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The stored form: `1 ‖ id length ‖ key id ‖ salt (16) ‖ sealed key (48)`.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode_wrapped(&self.key_id, &self.salt, &self.sealed)
    }

    /// Parses the stored form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let (id, salt, sealed) = decode_wrapped(bytes, "kms wrapped key")?;
        if !valid_key_id(id) {
            return Err(CryptoError::Malformed("kms wrapped key"));
        }
        Ok(Self { key_id: id.to_owned(), salt, sealed })
    }
}

impl fmt::Debug for KmsWrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsWrappedKey").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

/// The answer of [`KeyStore::generate_data_key`].
#[derive(Debug)]
pub struct GeneratedDataKey {
    /// The plaintext data key: use it, never store it.
    pub key: DataKey,
    /// The same key wrapped by the KMS key: store it.
    pub wrapped: KmsWrappedKey,
    /// The ARN of the KMS key that wrapped it.
    pub key_arn: String,
}

/// A key management service: named keys that generate and decrypt data keys, bound to an
/// encryption context. [`BuiltinKms`] is the gateway's own; an external KMS (AWS KMS, Vault)
/// implements the same trait.
///
/// `key` arguments accept what S3's `x-amz-server-side-encryption-aws-kms-key-id` accepts: a
/// key id, a key ARN, `alias/<name>` or an alias ARN. Every method is one atomic step and is
/// cancel safe: a dropped future has either done its one write or none.
pub trait KeyStore: Send + Sync + 'static {
    /// Creates an enabled key.
    fn create_key(
        &self,
        new: NewKey,
    ) -> impl Future<Output = Result<KeyMetadata, CryptoError>> + Send;

    /// Every key, sorted by key id.
    fn list_keys(&self) -> impl Future<Output = Result<Vec<KeyMetadata>, CryptoError>> + Send;

    /// One key.
    fn describe_key(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<KeyMetadata, CryptoError>> + Send;

    /// Enables a key (a no-op if it is enabled).
    fn enable_key(&self, key: &str) -> impl Future<Output = Result<(), CryptoError>> + Send;

    /// Disables a key (a no-op if it is disabled): from then on it refuses
    /// [`KeyStore::generate_data_key`], [`KeyStore::encrypt_data_key`] and
    /// [`KeyStore::decrypt`] with [`CryptoError::KmsKeyDisabled`].
    fn disable_key(&self, key: &str) -> impl Future<Output = Result<(), CryptoError>> + Send;

    /// A fresh random data key, plain and wrapped by `key` under `context`.
    fn generate_data_key(
        &self,
        key: &str,
        context: &EncryptionContext,
    ) -> impl Future<Output = Result<GeneratedDataKey, CryptoError>> + Send;

    /// Wraps an existing data key by `key` under `context` (a copy that changes the KMS key
    /// or context but keeps the sealed data).
    fn encrypt_data_key(
        &self,
        key: &str,
        data_key: &DataKey,
        context: &EncryptionContext,
    ) -> impl Future<Output = Result<KmsWrappedKey, CryptoError>> + Send;

    /// Unwraps a data key with the context it was wrapped under.
    fn decrypt(
        &self,
        wrapped: &KmsWrappedKey,
        context: &EncryptionContext,
    ) -> impl Future<Output = Result<DataKey, CryptoError>> + Send;
}

/// One named key of [`BuiltinKms`] as it is stored. Its material (256 random bits) is kept only
/// wrapped by a master key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key id.
    pub key_id: String,
    /// The alias name, without `alias/`.
    pub alias: Option<String>,
    /// Free text.
    pub description: String,
    /// Whether the key may be used.
    pub enabled: bool,
    /// Creation time, seconds since the Unix epoch.
    pub created_unix_seconds: i64,
    /// The key's material wrapped by a master key ([`WrappedKey::to_bytes`] to store it).
    pub material: WrappedKey,
}

/// Where [`BuiltinKms`] keeps its key records: supplied by the binary (a table of the metadata
/// store, so that every gateway sharing the metadata shares the keys). Each method is one
/// atomic step; implementations return [`CryptoError::Storage`] with their own error as the
/// source for a failure of the store itself.
pub trait KeyRecords: Send + Sync + 'static {
    /// Adds a record; [`CryptoError::KmsKeyExists`] if its key id or its alias is taken.
    fn insert(&self, record: KeyRecord) -> impl Future<Output = Result<(), CryptoError>> + Send;

    /// The record of a key id.
    fn get(
        &self,
        key_id: &str,
    ) -> impl Future<Output = Result<Option<KeyRecord>, CryptoError>> + Send;

    /// The record whose alias is `alias`.
    fn get_by_alias(
        &self,
        alias: &str,
    ) -> impl Future<Output = Result<Option<KeyRecord>, CryptoError>> + Send;

    /// Every record, sorted by key id.
    fn list(&self) -> impl Future<Output = Result<Vec<KeyRecord>, CryptoError>> + Send;

    /// Sets the enabled flag; [`CryptoError::KmsKeyNotFound`] if the key id is unknown.
    fn set_enabled(
        &self,
        key_id: &str,
        enabled: bool,
    ) -> impl Future<Output = Result<(), CryptoError>> + Send;

    /// Replaces the wrapped material (after a master key rotation);
    /// [`CryptoError::KmsKeyNotFound`] if the key id is unknown.
    fn set_material(
        &self,
        key_id: &str,
        material: WrappedKey,
    ) -> impl Future<Output = Result<(), CryptoError>> + Send;
}

/// [`KeyRecords`] in memory, for tests and for embedding.
#[derive(Debug, Default)]
pub struct MemKeyRecords(Mutex<BTreeMap<String, KeyRecord>>);

impl MemKeyRecords {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<String, KeyRecord>) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl KeyRecords for MemKeyRecords {
    async fn insert(&self, record: KeyRecord) -> Result<(), CryptoError> {
        self.with(|map| {
            if map.contains_key(&record.key_id) {
                return Err(CryptoError::KmsKeyExists(record.key_id));
            }
            if let Some(alias) = &record.alias
                && map.values().any(|r| r.alias.as_ref() == Some(alias))
            {
                return Err(CryptoError::KmsKeyExists(format!("alias/{alias}")));
            }
            map.insert(record.key_id.clone(), record);
            Ok(())
        })
    }

    async fn get(&self, key_id: &str) -> Result<Option<KeyRecord>, CryptoError> {
        Ok(self.with(|map| map.get(key_id).cloned()))
    }

    async fn get_by_alias(&self, alias: &str) -> Result<Option<KeyRecord>, CryptoError> {
        Ok(self.with(|map| map.values().find(|r| r.alias.as_deref() == Some(alias)).cloned()))
    }

    async fn list(&self) -> Result<Vec<KeyRecord>, CryptoError> {
        Ok(self.with(|map| map.values().cloned().collect()))
    }

    async fn set_enabled(&self, key_id: &str, enabled: bool) -> Result<(), CryptoError> {
        self.with(|map| match map.get_mut(key_id) {
            Some(r) => {
                r.enabled = enabled;
                Ok(())
            }
            None => Err(CryptoError::KmsKeyNotFound(key_id.to_owned())),
        })
    }

    async fn set_material(&self, key_id: &str, material: WrappedKey) -> Result<(), CryptoError> {
        self.with(|map| match map.get_mut(key_id) {
            Some(r) => {
                r.material = material;
                Ok(())
            }
            None => Err(CryptoError::KmsKeyNotFound(key_id.to_owned())),
        })
    }
}

fn valid_key_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn valid_alias(name: &str) -> bool {
    (1..=250).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
}

/// A random (version 4) UUID in its usual text form, the shape of AWS key ids.
fn random_uuid() -> Result<String, CryptoError> {
    let mut b = [0; 16];
    fill_random(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = crate::ObjectId::from_bytes(b).to_string();
    Ok(format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]))
}

fn material_context(key_id: &str) -> Vec<u8> {
    [KMS_KEY_CONTEXT, key_id.as_bytes()].concat()
}

fn kms_aad(key_id: &str, context: &EncryptionContext) -> Vec<u8> {
    let mut aad = Vec::new();
    aad.push(u8::try_from(key_id.len()).expect("key ids are at most 128 bytes"));
    aad.extend_from_slice(key_id.as_bytes());
    aad.extend_from_slice(&context.encode());
    aad
}

/// A reference to a key, parsed from what a client sent.
enum KeyRef {
    Id(String),
    Alias(String),
}

/// The gateway's own KMS: named keys whose 256-bit material is wrapped by the active master
/// key and stored through `R`. A data key is wrapped by a named key with AES-256-GCM under a
/// key derived (HKDF) from the material and a random salt, its AAD binding the key id and the
/// encryption context.
///
/// Nothing is cached: each call reads its record, so a key disabled by one gateway is refused
/// by every gateway sharing the store at once.
pub struct BuiltinKms<R> {
    records: R,
    masters: RwLock<Arc<MasterKeys>>,
    region: String,
    account_id: String,
}

impl<R: KeyRecords> BuiltinKms<R> {
    /// A key store over `records`, its key material wrapped by `masters`; key ARNs name
    /// `region` and `account_id`.
    pub fn new(masters: Arc<MasterKeys>, records: R, region: &str, account_id: &str) -> Self {
        Self {
            records,
            masters: RwLock::new(masters),
            region: region.to_owned(),
            account_id: account_id.to_owned(),
        }
    }

    /// Swaps in a new key ring (after `s3gate kms rotate` wrote the key file).
    pub fn replace_master_keys(&self, masters: Arc<MasterKeys>) {
        *self.masters.write().unwrap_or_else(PoisonError::into_inner) = masters;
    }

    fn masters(&self) -> Arc<MasterKeys> {
        Arc::clone(&self.masters.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The ARN of a key id.
    pub fn arn(&self, key_id: &str) -> String {
        format!("arn:aws:kms:{}:{}:key/{key_id}", self.region, self.account_id)
    }

    /// The records' store.
    pub fn records(&self) -> &R {
        &self.records
    }

    /// Master key rotation for the named keys: re-wraps every key's material that is not
    /// under the active master key; returns how many were re-wrapped. Data keys wrapped by
    /// the named keys are untouched (they never depended on the master key directly).
    pub async fn rewrap_keys(&self) -> Result<usize, CryptoError> {
        let masters = self.masters();
        let mut count = 0;
        for record in self.records.list().await? {
            if masters.is_current(&record.material) {
                continue;
            }
            let context = material_context(&record.key_id);
            let material = masters.rewrap(&record.material, &context)?;
            self.records.set_material(&record.key_id, material).await?;
            count += 1;
        }
        Ok(count)
    }

    /// The master keys that wrap named keys (a master key in this set must not be retired).
    pub async fn master_keys_in_use(&self) -> Result<BTreeSet<MasterKeyId>, CryptoError> {
        let records = self.records.list().await?;
        Ok(records.into_iter().map(|r| r.material.master_key_id().clone()).collect())
    }

    fn metadata(&self, record: &KeyRecord) -> KeyMetadata {
        KeyMetadata {
            key_id: record.key_id.clone(),
            arn: self.arn(&record.key_id),
            alias: record.alias.clone(),
            description: record.description.clone(),
            enabled: record.enabled,
            created_unix_seconds: record.created_unix_seconds,
        }
    }

    fn parse_ref(&self, key: &str) -> Result<KeyRef, CryptoError> {
        let invalid = || CryptoError::InvalidKmsKeyId(key.to_owned());
        let reference = if let Some(arn) = key.strip_prefix("arn:") {
            let mut fields = arn.splitn(5, ':');
            let (Some("aws"), Some("kms"), Some(region), Some(account), Some(resource)) =
                (fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(invalid());
            };
            let reference = if let Some(id) = resource.strip_prefix("key/") {
                KeyRef::Id(id.to_owned())
            } else if let Some(name) = resource.strip_prefix("alias/") {
                KeyRef::Alias(name.to_owned())
            } else {
                return Err(invalid());
            };
            // A key of another region or account is not one this store holds.
            if region != self.region || account != self.account_id {
                return Err(CryptoError::KmsKeyNotFound(key.to_owned()));
            }
            reference
        } else if let Some(name) = key.strip_prefix("alias/") {
            KeyRef::Alias(name.to_owned())
        } else {
            KeyRef::Id(key.to_owned())
        };
        let valid = match &reference {
            KeyRef::Id(id) => valid_key_id(id),
            KeyRef::Alias(name) => valid_alias(name),
        };
        if valid { Ok(reference) } else { Err(invalid()) }
    }

    async fn resolve(&self, key: &str) -> Result<KeyRecord, CryptoError> {
        let record = match self.parse_ref(key)? {
            KeyRef::Id(id) => self.records.get(&id).await?,
            KeyRef::Alias(name) => self.records.get_by_alias(&name).await?,
        };
        record.ok_or_else(|| CryptoError::KmsKeyNotFound(key.to_owned()))
    }

    /// The record's material, if the key may be used.
    fn usable_material(&self, record: &KeyRecord) -> Result<Zeroizing<[u8; KEY_LEN]>, CryptoError> {
        if !record.enabled {
            return Err(CryptoError::KmsKeyDisabled(self.arn(&record.key_id)));
        }
        self.masters().unwrap_secret(&record.material, &material_context(&record.key_id))
    }

    fn wrap_with(
        record: &KeyRecord,
        material: &[u8; KEY_LEN],
        data_key: &DataKey,
        context: &EncryptionContext,
    ) -> Result<KmsWrappedKey, CryptoError> {
        let mut salt = [0; 16];
        fill_random(&mut salt)?;
        let aad = kms_aad(&record.key_id, context);
        let sealed = seal_key(material, KMS_WRAP_LABEL, &salt, &aad, data_key.expose());
        Ok(KmsWrappedKey { key_id: record.key_id.clone(), salt, sealed })
    }
}

impl<R: KeyRecords> KeyStore for BuiltinKms<R> {
    async fn create_key(&self, new: NewKey) -> Result<KeyMetadata, CryptoError> {
        let key_id = match new.key_id {
            Some(id) if valid_key_id(&id) => id,
            Some(id) => return Err(CryptoError::InvalidKmsKeyId(id)),
            None => random_uuid()?,
        };
        if let Some(alias) = &new.alias
            && !valid_alias(alias)
        {
            return Err(CryptoError::InvalidKmsKeyId(format!("alias/{alias}")));
        }
        let mut material = Zeroizing::new([0; KEY_LEN]);
        fill_random(&mut material[..])?;
        let wrapped = self.masters().wrap_secret(&material, &material_context(&key_id))?;
        let record = KeyRecord {
            key_id,
            alias: new.alias,
            description: new.description,
            enabled: true,
            created_unix_seconds: new.created_unix_seconds,
            material: wrapped,
        };
        let metadata = self.metadata(&record);
        self.records.insert(record).await?;
        Ok(metadata)
    }

    async fn list_keys(&self) -> Result<Vec<KeyMetadata>, CryptoError> {
        let records = self.records.list().await?;
        Ok(records.iter().map(|r| self.metadata(r)).collect())
    }

    async fn describe_key(&self, key: &str) -> Result<KeyMetadata, CryptoError> {
        Ok(self.metadata(&self.resolve(key).await?))
    }

    async fn enable_key(&self, key: &str) -> Result<(), CryptoError> {
        let record = self.resolve(key).await?;
        self.records.set_enabled(&record.key_id, true).await
    }

    async fn disable_key(&self, key: &str) -> Result<(), CryptoError> {
        let record = self.resolve(key).await?;
        self.records.set_enabled(&record.key_id, false).await
    }

    async fn generate_data_key(
        &self,
        key: &str,
        context: &EncryptionContext,
    ) -> Result<GeneratedDataKey, CryptoError> {
        let record = self.resolve(key).await?;
        let material = self.usable_material(&record)?;
        let data_key = DataKey::generate()?;
        let wrapped = Self::wrap_with(&record, &material, &data_key, context)?;
        Ok(GeneratedDataKey { key: data_key, wrapped, key_arn: self.arn(&record.key_id) })
    }

    async fn encrypt_data_key(
        &self,
        key: &str,
        data_key: &DataKey,
        context: &EncryptionContext,
    ) -> Result<KmsWrappedKey, CryptoError> {
        let record = self.resolve(key).await?;
        let material = self.usable_material(&record)?;
        Self::wrap_with(&record, &material, data_key, context)
    }

    async fn decrypt(
        &self,
        wrapped: &KmsWrappedKey,
        context: &EncryptionContext,
    ) -> Result<DataKey, CryptoError> {
        let record = self
            .records
            .get(&wrapped.key_id)
            .await?
            .ok_or_else(|| CryptoError::KmsKeyNotFound(self.arn(&wrapped.key_id)))?;
        let material = self.usable_material(&record)?;
        let aad = kms_aad(&record.key_id, context);
        open_key(&material, KMS_WRAP_LABEL, &wrapped.salt, &aad, &wrapped.sealed)
            .map(DataKey::from_zeroizing)
            .ok_or(CryptoError::UnwrapFailed)
    }
}

impl<R> fmt::Debug for BuiltinKms<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuiltinKms")
            .field("region", &self.region)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::master::MasterKey;

    /// A key ring of (id, key byte) pairs; the first is active.
    fn masters(ids: &[(&str, u8)]) -> Arc<MasterKeys> {
        let keys = ids
            .iter()
            .map(|(id, b)| MasterKey::from_bytes(MasterKeyId::new(id).unwrap(), &[*b; 32]))
            .collect();
        Arc::new(MasterKeys::new(keys, &MasterKeyId::new(ids[0].0).unwrap()).unwrap())
    }

    fn kms() -> BuiltinKms<MemKeyRecords> {
        BuiltinKms::new(masters(&[("m1", 1)]), MemKeyRecords::new(), "us-east-1", "123456789012")
    }

    fn named(id: &str) -> NewKey {
        NewKey { key_id: Some(id.to_owned()), ..NewKey::default() }
    }

    fn ctx(arn: &str) -> EncryptionContext {
        [("aws:s3:arn", arn)].into_iter().collect()
    }

    #[tokio::test]
    async fn generated_keys_decrypt_only_with_their_context() {
        let kms = kms();
        let key = kms.create_key(NewKey::default()).await.unwrap();
        assert_eq!(key.key_id.len(), 36, "{}", key.key_id);
        assert_eq!(key.arn, format!("arn:aws:kms:us-east-1:123456789012:key/{}", key.key_id));
        let generated = kms.generate_data_key(&key.key_id, &ctx("arn:aws:s3:::b/k")).await.unwrap();
        assert_eq!(generated.key_arn, key.arn);
        let stored = KmsWrappedKey::from_bytes(&generated.wrapped.to_bytes()).unwrap();
        assert_eq!(stored.key_id(), key.key_id);
        let opened = kms.decrypt(&stored, &ctx("arn:aws:s3:::b/k")).await.unwrap();
        assert_eq!(opened.expose(), generated.key.expose());
        let other = kms.decrypt(&stored, &ctx("arn:aws:s3:::b/other")).await;
        assert!(matches!(other, Err(CryptoError::UnwrapFailed)));
        let empty = kms.decrypt(&stored, &EncryptionContext::new()).await;
        assert!(matches!(empty, Err(CryptoError::UnwrapFailed)));
    }

    #[tokio::test]
    async fn keys_resolve_by_id_arn_and_alias() {
        let kms = kms();
        let new = NewKey { alias: Some("app/data".to_owned()), ..named("testkey-1") };
        kms.create_key(new).await.unwrap();
        for reference in [
            "testkey-1",
            "arn:aws:kms:us-east-1:123456789012:key/testkey-1",
            "alias/app/data",
            "arn:aws:kms:us-east-1:123456789012:alias/app/data",
        ] {
            let described = kms.describe_key(reference).await.unwrap();
            assert_eq!(described.key_id, "testkey-1", "{reference}");
            assert_eq!(described.alias.as_deref(), Some("app/data"));
        }
        for (reference, not_found) in [
            ("testkey-2", true),
            ("alias/other", true),
            ("arn:aws:kms:eu-west-1:123456789012:key/testkey-1", true),
            ("arn:aws:kms:us-east-1:000000000000:key/testkey-1", true),
            ("arn:aws:s3:us-east-1:123456789012:key/testkey-1", false),
            ("arn:aws:kms:us-east-1:123456789012:testkey-1", false),
            ("key with spaces", false),
            ("", false),
        ] {
            match kms.describe_key(reference).await {
                Err(CryptoError::KmsKeyNotFound(_)) if not_found => {}
                Err(CryptoError::InvalidKmsKeyId(_)) if !not_found => {}
                other => panic!("{reference}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn ids_and_aliases_are_unique() {
        let kms = kms();
        kms.create_key(NewKey { alias: Some("a".to_owned()), ..named("k1") }).await.unwrap();
        let dup_id = kms.create_key(named("k1")).await;
        assert!(matches!(dup_id, Err(CryptoError::KmsKeyExists(_))));
        let dup_alias = kms.create_key(NewKey { alias: Some("a".to_owned()), ..named("k2") }).await;
        assert!(matches!(dup_alias, Err(CryptoError::KmsKeyExists(_))));
        let bad = kms.create_key(named("bad id")).await;
        assert!(matches!(bad, Err(CryptoError::InvalidKmsKeyId(_))));
        assert_eq!(kms.list_keys().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_disabled_key_refuses_generate_encrypt_and_decrypt() {
        let kms = kms();
        kms.create_key(named("k")).await.unwrap();
        let context = ctx("arn:aws:s3:::b/k");
        let generated = kms.generate_data_key("k", &context).await.unwrap();
        kms.disable_key("k").await.unwrap();
        assert!(!kms.describe_key("k").await.unwrap().enabled);
        let arn = "arn:aws:kms:us-east-1:123456789012:key/k";
        match kms.generate_data_key("k", &context).await {
            Err(CryptoError::KmsKeyDisabled(a)) => assert_eq!(a, arn),
            other => panic!("{other:?}"),
        }
        let encrypt = kms.encrypt_data_key("k", &generated.key, &context).await;
        assert!(matches!(encrypt, Err(CryptoError::KmsKeyDisabled(_))));
        let decrypt = kms.decrypt(&generated.wrapped, &context).await;
        assert!(matches!(decrypt, Err(CryptoError::KmsKeyDisabled(_))));
        kms.enable_key("k").await.unwrap();
        let opened = kms.decrypt(&generated.wrapped, &context).await.unwrap();
        assert_eq!(opened.expose(), generated.key.expose());
    }

    #[tokio::test]
    async fn a_data_key_moves_between_kms_keys_without_changing() {
        let kms = kms();
        kms.create_key(named("a")).await.unwrap();
        kms.create_key(named("b")).await.unwrap();
        let context = ctx("arn:aws:s3:::b/k");
        let generated = kms.generate_data_key("a", &context).await.unwrap();
        let under_b = kms.encrypt_data_key("b", &generated.key, &context).await.unwrap();
        assert_eq!(under_b.key_id(), "b");
        let opened = kms.decrypt(&under_b, &context).await.unwrap();
        assert_eq!(opened.expose(), generated.key.expose());
        // Relabelling the wrapped key with the other key id fails: the id is in the AAD.
        let mut bytes = generated.wrapped.to_bytes();
        bytes[2] = b'b';
        let relabelled = KmsWrappedKey::from_bytes(&bytes).unwrap();
        assert!(matches!(kms.decrypt(&relabelled, &context).await, Err(CryptoError::UnwrapFailed)));
    }

    #[tokio::test]
    async fn master_rotation_rewraps_named_keys_and_data_keys_still_open() {
        let kms = kms();
        kms.create_key(named("k")).await.unwrap();
        let context = ctx("arn:aws:s3:::b/k");
        let generated = kms.generate_data_key("k", &context).await.unwrap();
        let in_use: Vec<_> = kms.master_keys_in_use().await.unwrap().into_iter().collect();
        assert_eq!(in_use, [MasterKeyId::new("m1").unwrap()]);

        // Rotate: the new ring holds m2 (active) and m1.
        kms.replace_master_keys(masters(&[("m2", 2), ("m1", 1)]));
        assert_eq!(kms.rewrap_keys().await.unwrap(), 1);
        assert_eq!(kms.rewrap_keys().await.unwrap(), 0);
        let in_use: Vec<_> = kms.master_keys_in_use().await.unwrap().into_iter().collect();
        assert_eq!(in_use, [MasterKeyId::new("m2").unwrap()]);

        // Retire m1: the data key still opens, through the re-wrapped material.
        kms.replace_master_keys(masters(&[("m2", 2)]));
        let opened = kms.decrypt(&generated.wrapped, &context).await.unwrap();
        assert_eq!(opened.expose(), generated.key.expose());
    }

    #[tokio::test]
    async fn an_unknown_key_in_a_wrapped_key_is_not_found() {
        let kms = kms();
        kms.create_key(named("k")).await.unwrap();
        let generated = kms.generate_data_key("k", &EncryptionContext::new()).await.unwrap();
        let other = BuiltinKms::new(masters(&[("m1", 1)]), MemKeyRecords::new(), "us-east-1", "1");
        let got = other.decrypt(&generated.wrapped, &EncryptionContext::new()).await;
        assert!(matches!(got, Err(CryptoError::KmsKeyNotFound(_))));
    }

    #[test]
    fn context_encoding_is_unambiguous() {
        let a: EncryptionContext = [("ab", "c")].into_iter().collect();
        let b: EncryptionContext = [("a", "bc")].into_iter().collect();
        assert_ne!(a.encode(), b.encode());
        let c: EncryptionContext = [("x", "1"), ("y", "2")].into_iter().collect();
        let d: EncryptionContext = [("y", "2"), ("x", "1")].into_iter().collect();
        assert_eq!(c.encode(), d.encode());
    }

    #[test]
    fn uuids_have_the_v4_shape() {
        let u = random_uuid().unwrap();
        let groups: Vec<usize> = u.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(&u[14..15], "4");
        assert!("89ab".contains(&u[19..20]));
    }
}
