//! Server-side encryption on the engine's write and read paths, over `s3gate-crypto`.
//!
//! A new object's (or upload's) encryption is decided once ([`Engine::resolve_sse`]): the
//! request's own headers, else the bucket's default encryption, else the operator's switch to
//! encrypt everything. Its [`Sealing`] (mode, object id, wrapped data key or SSE-C key check)
//! is stored as the version's or upload's encryption record; each part draws its own salt,
//! stored with the part. Bodies are sealed package by package as they stream into the blob
//! and opened package by package as they stream out: memory is one package per stream.
//!
//! A package that fails authentication ends the response stream with an error (the server
//! cuts the connection) and is logged; plaintext that did not authenticate is never served.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures_util::StreamExt as _;
use s3gate_crypto::{
    BuiltinKms, CryptoError, CustomerKey, DataKey, Decryptor, EncryptionContext, Encryptor,
    FormatVersion, KeyCheck, KeyRecord, KeyRecords, KeyStore, KmsWrappedKey, MasterKeys, NewKey,
    ObjectId, PartCipher, PartSalt, WrappedKey,
};
use s3gate_metadata::{KmsKeyRow, MetaError, MetadataStore, ObjectPart, ObjectVersion};
use s3gate_protocol::{BucketName, ByteRange};
use s3gate_storage_backend::{BlobError, BlobId, BlobStore, BlobStream, BoxError, ByteStream};
use tracing::Instrument as _;

use crate::read::Segment;
use crate::{Engine, EngineError};

/// The bucket configuration kind that holds a bucket's default encryption (the document is
/// [`BucketEncryption::to_document`]).
pub const BUCKET_ENCRYPTION_KIND: &str = "encryption";

/// The alias of the key SSE-KMS uses when a request names none: AWS's `aws/s3` managed key,
/// created on first use.
pub const DEFAULT_KMS_ALIAS: &str = "aws/s3";

/// A bucket's encryption configuration: its default encryption rule and whether SSE-C writes
/// are blocked (`BlockedEncryptionTypes`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BucketEncryption {
    /// `AES256` or `aws:kms`; `None` when the configuration only sets the SSE-C block.
    pub algorithm: Option<String>,
    /// `KMSMasterKeyID` (with `aws:kms` only): `None` is the `aws/s3` key.
    pub kms_key_id: Option<String>,
    /// `BucketKeyEnabled`.
    pub bucket_key: bool,
    /// `BlockedEncryptionTypes`: `Some(true)` blocks SSE-C writes, `Some(false)` allows them,
    /// `None` leaves it to the operator's default ([`SseConfig::block_sse_c_by_default`]).
    pub block_sse_c: Option<bool>,
}

impl BucketEncryption {
    /// The stored form: the algorithm (`-` for none), then `key=<id>`, `bucket-key` and
    /// `block-sse-c` or `allow-sse-c` words when set (the earlier forms read the same).
    pub fn to_document(&self) -> String {
        let mut doc = self.algorithm.clone().unwrap_or_else(|| "-".to_owned());
        if let Some(id) = &self.kms_key_id {
            doc.push_str(" key=");
            doc.push_str(id);
        }
        if self.bucket_key {
            doc.push_str(" bucket-key");
        }
        match self.block_sse_c {
            Some(true) => doc.push_str(" block-sse-c"),
            Some(false) => doc.push_str(" allow-sse-c"),
            None => {}
        }
        doc
    }

    /// Parses a stored document.
    pub fn parse(doc: &str) -> Self {
        let mut words = doc.split(' ');
        let algorithm = words.next().filter(|w| !w.is_empty() && *w != "-").map(str::to_owned);
        let mut rule = Self { algorithm, ..Self::default() };
        for w in words {
            if let Some(id) = w.strip_prefix("key=") {
                rule.kms_key_id = Some(id.to_owned());
            } else if w == "bucket-key" {
                rule.bucket_key = true;
            } else if w == "block-sse-c" {
                rule.block_sse_c = Some(true);
            } else if w == "allow-sse-c" {
                rule.block_sse_c = Some(false);
            }
        }
        rule
    }
}

/// Reads the master key ring again from where the operator keeps it (the key file): how a
/// running gateway learns of a `s3gate kms rotate` made by another process.
pub type KeyReload = Arc<dyn Fn() -> Result<MasterKeys, String> + Send + Sync>;

/// The least time between two reloads that a key missing from the ring triggers: a stream of
/// requests for objects under a key the file does not hold either reads the file once.
const RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// Versions per page of the rotation scan.
const REWRAP_PAGE: u32 = 500;

/// The master key ring in use, which a reload swaps whole (readers keep the ring they took).
pub struct MasterKeyRing {
    ring: RwLock<Arc<MasterKeys>>,
    last_reload: Mutex<Option<Instant>>,
}

impl MasterKeyRing {
    /// A ring holder starting with `keys`.
    pub fn new(keys: MasterKeys) -> Self {
        Self { ring: RwLock::new(Arc::new(keys)), last_reload: Mutex::new(None) }
    }

    /// The ring in use now.
    pub fn current(&self) -> Arc<MasterKeys> {
        Arc::clone(&self.ring.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn replace(&self, keys: Arc<MasterKeys>) {
        *self.ring.write().unwrap_or_else(PoisonError::into_inner) = keys;
    }

    /// Whether a reload may run now (at most one per [`RELOAD_INTERVAL`]); records it.
    fn reload_due(&self, now: Instant) -> bool {
        let mut last = self.last_reload.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|t| now.duration_since(t) < RELOAD_INTERVAL) {
            return false;
        }
        *last = Some(now);
        true
    }
}

impl fmt::Debug for MasterKeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MasterKeyRing").field(&self.current().active_id()).finish()
    }
}

/// The operator's encryption settings: the master key ring (SSE-S3 data keys are wrapped
/// under its active key), whether every new object is encrypted with SSE-S3 when neither
/// the request nor the bucket says otherwise (as AWS does since 2023), and whether SSE-C
/// writes are blocked on buckets that did not choose (AWS's default for new buckets since
/// April 2026).
pub struct SseConfig {
    /// The master key ring (it also wraps the built-in KMS's keys).
    pub master_keys: MasterKeyRing,
    /// Where to read the ring again when a wrapped key names a master key it lacks; `None`:
    /// only [`Engine::replace_master_keys`] changes it.
    pub reload: Option<KeyReload>,
    /// The account id in the ARNs of KMS keys.
    pub account_id: String,
    /// Encrypt every new object (SSE-S3) by default.
    pub encrypt_by_default: bool,
    /// Refuse SSE-C writes on a bucket whose encryption configuration does not say
    /// `BlockedEncryptionTypes` (`SSE-C` or `NONE`).
    pub block_sse_c_by_default: bool,
}

impl SseConfig {
    /// Settings with `keys`, no reload, nothing by default (no SSE-S3 default, SSE-C allowed).
    pub fn new(keys: MasterKeys, account_id: impl Into<String>) -> Self {
        Self {
            master_keys: MasterKeyRing::new(keys),
            reload: None,
            account_id: account_id.into(),
            encrypt_by_default: false,
            block_sse_c_by_default: false,
        }
    }
}

impl fmt::Debug for SseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseConfig")
            .field("master_keys", &self.master_keys)
            .field("reload", &self.reload.is_some())
            .field("account_id", &self.account_id)
            .field("encrypt_by_default", &self.encrypt_by_default)
            .field("block_sse_c_by_default", &self.block_sse_c_by_default)
            .finish()
    }
}

/// What a write asks for (headers of PutObject, CopyObject's destination,
/// CreateMultipartUpload).
#[derive(Debug, Clone, Default)]
pub enum SseRequest {
    /// No encryption header: the bucket's default, else the operator's.
    #[default]
    Default,
    /// `x-amz-server-side-encryption: AES256`.
    S3,
    /// SSE-C: the customer key of the request.
    Customer(Arc<CustomerKey>),
    /// `x-amz-server-side-encryption: aws:kms`.
    Kms {
        /// `x-amz-server-side-encryption-aws-kms-key-id`; the `aws/s3` key when `None`.
        key_id: Option<String>,
        /// `x-amz-server-side-encryption-context`, decoded.
        context: Option<EncryptionContext>,
        /// `x-amz-server-side-encryption-bucket-key-enabled: true`.
        bucket_key: bool,
    },
}

/// How a stored object (or upload) is encrypted, as S3 reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseInfo {
    /// SSE-S3 (`x-amz-server-side-encryption: AES256`).
    S3,
    /// SSE-C, with the key's MD5 (base64) that S3 echoes.
    Customer {
        /// `x-amz-server-side-encryption-customer-key-MD5`.
        key_md5: String,
    },
    /// SSE-KMS (`x-amz-server-side-encryption: aws:kms`).
    Kms {
        /// The KMS key's ARN (`x-amz-server-side-encryption-aws-kms-key-id`).
        key_arn: String,
        /// `x-amz-server-side-encryption-bucket-key-enabled`.
        bucket_key: bool,
        /// The encryption context as S3 echoes it (`x-amz-server-side-encryption-context`):
        /// base64 of its JSON.
        context: String,
    },
}

/// The key part of an encryption record.
#[derive(Clone)]
enum StoredKey {
    /// SSE-S3: the data key wrapped under a master key (context: the object id).
    Master(WrappedKey),
    /// SSE-C: the key check and the key's MD5; the key itself is never stored.
    Customer { check: KeyCheck, md5: String },
    /// SSE-KMS: the data key wrapped by a KMS key under the encryption context.
    Kms(Box<KmsKey>),
}

/// The stored key of an SSE-KMS object.
#[derive(Clone)]
struct KmsKey {
    wrapped: KmsWrappedKey,
    /// The KMS key's ARN, as S3 reports it.
    arn: String,
    context: EncryptionContext,
    bucket_key: bool,
}

/// The JSON of an encryption context (as S3 takes and echoes it, base64'd).
fn context_json(context: &EncryptionContext) -> String {
    let map: serde_json::Map<String, serde_json::Value> =
        context.iter().map(|(k, v)| (k.to_owned(), serde_json::Value::from(v))).collect();
    serde_json::Value::Object(map).to_string()
}

/// Parses the JSON of an encryption context: an object of string values.
pub fn parse_context_json(json: &[u8]) -> Option<EncryptionContext> {
    let serde_json::Value::Object(map) = serde_json::from_slice(json).ok()? else { return None };
    let mut context = EncryptionContext::new();
    for (k, v) in map {
        context.insert(k, v.as_str()?.to_owned());
    }
    Some(context)
}

/// An object's (or upload's) encryption record: its format version, object id and key.
#[derive(Clone)]
pub(crate) struct Sealing {
    object: ObjectId,
    key: StoredKey,
}

impl fmt::Debug for Sealing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealing").field("object", &self.object).finish_non_exhaustive()
    }
}

fn malformed() -> EngineError {
    EngineError::internal("malformed encryption record")
}

impl Sealing {
    /// The stored form: `1 S3 <object id hex> <wrapped key base64>`,
    /// `1 C <object id hex> <key check base64> <key md5 base64>` or
    /// `1 K <object id hex> <kms-wrapped key base64> <context json base64> <key arn> <0|1>`
    /// (the last word: bucket key).
    pub(crate) fn to_record(&self) -> String {
        let v = FormatVersion::CURRENT.as_u8();
        match &self.key {
            StoredKey::Master(w) => {
                format!("{v} S3 {} {}", self.object, STANDARD.encode(w.to_bytes()))
            }
            StoredKey::Customer { check, md5 } => {
                format!("{v} C {} {} {md5}", self.object, STANDARD.encode(check.to_bytes()))
            }
            StoredKey::Kms(k) => format!(
                "{v} K {} {} {} {} {}",
                self.object,
                STANDARD.encode(k.wrapped.to_bytes()),
                STANDARD.encode(context_json(&k.context)),
                k.arn,
                u8::from(k.bucket_key)
            ),
        }
    }

    /// Parses a stored record.
    pub(crate) fn parse(record: &str) -> Result<Self, EngineError> {
        let mut words = record.split(' ');
        let version = words.next().and_then(|v| v.parse::<u8>().ok()).ok_or_else(malformed)?;
        FormatVersion::from_u8(version).map_err(EngineError::Encryption)?;
        let mode = words.next().ok_or_else(malformed)?;
        let object = words.next().and_then(|h| hex::decode(h).ok()).ok_or_else(malformed)?;
        let object = ObjectId::from_slice(&object).map_err(EngineError::Encryption)?;
        let mut b64 = || words.next().and_then(|w| STANDARD.decode(w).ok()).ok_or_else(malformed);
        let key = match mode {
            "S3" => {
                StoredKey::Master(WrappedKey::from_bytes(&b64()?).map_err(EngineError::Encryption)?)
            }
            "C" => {
                let check = KeyCheck::from_bytes(&b64()?).map_err(EngineError::Encryption)?;
                let md5 = STANDARD.encode(b64()?);
                StoredKey::Customer { check, md5 }
            }
            "K" => {
                let wrapped =
                    KmsWrappedKey::from_bytes(&b64()?).map_err(EngineError::Encryption)?;
                let context = parse_context_json(&b64()?).ok_or_else(malformed)?;
                let arn = words.next().ok_or_else(malformed)?.to_owned();
                let bucket_key = match words.next() {
                    Some("1") => true,
                    Some("0") => false,
                    _ => return Err(malformed()),
                };
                StoredKey::Kms(Box::new(KmsKey { wrapped, arn, context, bucket_key }))
            }
            _ => return Err(malformed()),
        };
        Ok(Sealing { object, key })
    }

    /// What S3 reports for this record.
    pub(crate) fn info(&self) -> SseInfo {
        match &self.key {
            StoredKey::Master(_) => SseInfo::S3,
            StoredKey::Customer { md5, .. } => SseInfo::Customer { key_md5: md5.clone() },
            StoredKey::Kms(k) => SseInfo::Kms {
                key_arn: k.arn.clone(),
                bucket_key: k.bucket_key,
                context: STANDARD.encode(context_json(&k.context)),
            },
        }
    }

    /// Whether content sealed under `self` may be named as is by a new object that is to be
    /// encrypted as `mode` (a zero-copy copy): SSE-S3 to SSE-S3, or SSE-C under the same key.
    pub(crate) fn serves(&self, mode: &Resolved) -> bool {
        match (&self.key, mode) {
            (StoredKey::Master(_), Resolved::S3) => true,
            (StoredKey::Customer { check, .. }, Resolved::Customer(k)) => k.verify(check).is_ok(),
            _ => false,
        }
    }

    /// The version's record, if it has one.
    pub(crate) fn of(record: Option<&str>) -> Result<Option<Self>, EngineError> {
        record.map(Self::parse).transpose()
    }
}

/// The SSE info of a stored version (for the response headers of GET, HEAD and listings).
pub fn sse_info(version: &ObjectVersion) -> Option<SseInfo> {
    Sealing::of(version.encryption.as_deref()).ok().flatten().map(|s| s.info())
}

/// Checks the SSE-C key of a request that reads a version's metadata only (GetObjectAttributes):
/// an SSE-C object needs its key, as on AWS; other objects refuse one.
pub fn check_customer_key(
    version: &ObjectVersion,
    customer: Option<&CustomerKey>,
) -> Result<(), EngineError> {
    match (Sealing::of(version.encryption.as_deref())?, customer) {
        (Some(Sealing { key: StoredKey::Customer { check, .. }, .. }), Some(k)) => {
            k.verify(&check).map_err(EngineError::Encryption)
        }
        (Some(Sealing { key: StoredKey::Customer { .. }, .. }), None) => {
            Err(EngineError::SseCustomerKeyRequired)
        }
        (_, Some(_)) => Err(EngineError::SseNotApplicable),
        (_, None) => Ok(()),
    }
}

/// The encryption a new object gets, once the defaults are applied.
#[derive(Debug, Clone)]
pub(crate) enum Resolved {
    /// None.
    Plain,
    /// SSE-S3.
    S3,
    /// SSE-C with this key.
    Customer(Arc<CustomerKey>),
    /// SSE-KMS: the KMS key (the `aws/s3` key when `None`), the client's context, and whether
    /// a bucket key is asked for.
    Kms { key_id: Option<String>, context: Option<EncryptionContext>, bucket_key: bool },
}

/// The cipher of a new part: a fresh salt, returned for the part's metadata.
pub(crate) fn part_cipher(
    sealing: &Sealing,
    key: &DataKey,
    part_number: u32,
) -> Result<(PartCipher, String), EngineError> {
    let salt = PartSalt::generate().map_err(EngineError::Encryption)?;
    let cipher = PartCipher::new(FormatVersion::CURRENT, key, &sealing.object, part_number, &salt);
    Ok((cipher, salt.to_string()))
}

/// The ETag of an encrypted part or single-part object: the plaintext's MD5 for SSE-S3, as
/// on AWS; for SSE-C and SSE-KMS, which AWS answers with a value that is not the plaintext's
/// MD5, the MD5 of the object id and the plaintext MD5, so the ETag reveals nothing about the
/// content.
pub(crate) fn etag_md5(sealing: Option<&Sealing>, md5: [u8; 16]) -> [u8; 16] {
    use md5::Digest as _;
    match sealing.map(|s| &s.key) {
        Some(StoredKey::Customer { .. } | StoredKey::Kms(_)) => {
            let mut h = md5::Md5::new();
            h.update(sealing.map_or(&[0; 16], |s| s.object.as_bytes()));
            h.update(md5);
            h.finalize().into()
        }
        _ => md5,
    }
}

/// Seals a part's plaintext stream, package by package. Sealing a 64 KiB package takes tens
/// of microseconds with AES-NI, small enough to run on the request's task, like the blob
/// store's own copying of each chunk.
pub(crate) fn seal_stream(body: ByteStream, cipher: PartCipher) -> ByteStream {
    struct State {
        body: ByteStream,
        enc: Option<Encryptor>,
        out: VecDeque<Bytes>,
    }
    let state = State { body, enc: Some(Encryptor::new(cipher)), out: VecDeque::new() };
    Box::pin(futures_util::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(p) = s.out.pop_front() {
                return Some((Ok(p), s));
            }
            let enc = s.enc.as_mut()?;
            match s.body.next().await {
                Some(Ok(chunk)) => match enc.push(&chunk) {
                    Ok(packages) => s.out.extend(packages),
                    Err(e) => {
                        s.enc = None;
                        return Some((Err(Box::new(e) as BoxError), s));
                    }
                },
                Some(Err(e)) => {
                    s.enc = None;
                    return Some((Err(e), s));
                }
                None => {
                    let enc = s.enc.take()?;
                    match enc.finish() {
                        Ok(last) => s.out.push_back(last),
                        Err(e) => return Some((Err(Box::new(e) as BoxError), s)),
                    }
                }
            }
        }
    }))
}

/// The blob slices of `range` of an encrypted object and one decryptor per slice: whole
/// packages of each part the range touches, nothing else.
pub(crate) fn sealed_segments(
    sealing: &Sealing,
    key: &DataKey,
    parts: &[ObjectPart],
    range: Option<ByteRange>,
) -> Result<(Vec<Segment>, Decryptors), EngineError> {
    let mut segs = Vec::new();
    let mut decs = VecDeque::new();
    let mut pos = 0u64;
    for part in parts {
        let (start, end) = (pos, pos + part.size);
        pos = end;
        let (from, to) = match range {
            None => (start, end),
            Some(r) => (start.max(r.start), end.min(r.end.saturating_add(1))),
        };
        if from >= to {
            continue;
        }
        let salt = part.salt.as_deref().and_then(|h| hex::decode(h).ok()).ok_or_else(malformed)?;
        let salt = PartSalt::from_slice(&salt).map_err(EngineError::Encryption)?;
        let cipher =
            PartCipher::new(FormatVersion::CURRENT, key, &sealing.object, part.part_number, &salt);
        let (dec, sealed) = Decryptor::for_range(cipher, part.size, from - start..to - start)
            .map_err(EngineError::Encryption)?;
        let blob_id = BlobId::parse(&part.blob_id)
            .ok_or_else(|| EngineError::internal(format!("invalid blob id {:?}", part.blob_id)))?;
        let len = sealed.end - sealed.start;
        segs.push(Segment { blob_id, offset: part.blob_offset + sealed.start, len });
        decs.push_back((len, dec));
    }
    Ok((segs, decs))
}

/// One decryptor per segment, with the sealed bytes it still expects.
pub(crate) type Decryptors = VecDeque<(u64, Decryptor)>;

/// A package that failed to open: logged here, once, and carried to the response as a
/// backend failure, which cuts it.
fn rejected(e: CryptoError) -> BlobError {
    tracing::error!(error = %e, "encrypted object failed authentication; response cut");
    BlobError::Backend(Box::new(e))
}

/// Decrypted packages a response keeps ready ahead of its socket.
const DECRYPT_AHEAD: usize = 4;

/// Runs a decrypting stream on a task of its own, at most [`DECRYPT_AHEAD`] packages ahead of
/// the response, so that opening packages on one core overlaps writing the earlier ones to the
/// socket on another (inline, the two ran in series: docs/PERFORMANCE.md, "Server-side
/// encryption"). Memory stays at most that many packages per response. The task ends with the
/// stream, at its first error, or when the response is dropped (the guard aborts it).
fn decrypt_ahead(stream: BlobStream) -> BlobStream {
    let (tx, rx) = tokio::sync::mpsc::channel(DECRYPT_AHEAD);
    let run = async move {
        let mut stream = stream;
        while let Some(item) = stream.next().await {
            let is_err = item.is_err();
            if tx.send(item).await.is_err() || is_err {
                break;
            }
        }
    };
    let guard = crate::read::AbortOnDrop(tokio::spawn(run.in_current_span()));
    Box::pin(futures_util::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        rx.recv().await.map(|item| (item, (rx, guard)))
    }))
}

/// Opens the sealed stream of consecutive segments, each with its decryptor.
pub(crate) fn open_stream(inner: BlobStream, decs: Decryptors) -> BlobStream {
    struct State {
        inner: BlobStream,
        decs: VecDeque<(u64, Decryptor)>,
        out: VecDeque<Bytes>,
        done: bool,
    }
    let state = State { inner, decs, out: VecDeque::new(), done: false };
    Box::pin(futures_util::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(p) = s.out.pop_front() {
                return Some((Ok(p), s));
            }
            if s.done {
                return None;
            }
            match s.inner.next().await {
                Some(Ok(mut chunk)) => {
                    while !chunk.is_empty() {
                        let Some((remaining, dec)) = s.decs.front_mut() else {
                            s.done = true;
                            return Some((Err(rejected(CryptoError::TrailingBytes)), s));
                        };
                        let n = usize::try_from(*remaining).unwrap_or(usize::MAX).min(chunk.len());
                        let head = chunk.split_to(n);
                        *remaining -= n as u64;
                        match dec.push(&head) {
                            Ok(plain) => s.out.extend(plain),
                            Err(e) => {
                                s.done = true;
                                s.out.clear();
                                return Some((Err(rejected(e)), s));
                            }
                        }
                        if *remaining == 0
                            && let Some((_, dec)) = s.decs.pop_front()
                            && let Err(e) = dec.finish()
                        {
                            s.done = true;
                            s.out.clear();
                            return Some((Err(rejected(e)), s));
                        }
                    }
                }
                Some(Err(e)) => {
                    s.done = true;
                    s.out.clear();
                    return Some((Err(e), s));
                }
                None => {
                    s.done = true;
                    if let Some((_, dec)) = s.decs.pop_front() {
                        let e = dec
                            .finish()
                            .err()
                            .unwrap_or(CryptoError::Truncated { expected: 0, received: 0 });
                        return Some((Err(rejected(e)), s));
                    }
                }
            }
        }
    }))
}

/// [`KeyRecords`] in a [`MetadataStore`] (its `kms_keys` table): every gateway sharing the
/// metadata shares the built-in KMS's keys.
pub struct MetaKeyRecords<M>(Arc<M>);

impl<M> MetaKeyRecords<M> {
    /// Key records kept in `meta`.
    pub fn new(meta: Arc<M>) -> Self {
        Self(meta)
    }
}

impl<M> fmt::Debug for MetaKeyRecords<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetaKeyRecords").finish_non_exhaustive()
    }
}

fn storage(e: MetaError) -> CryptoError {
    CryptoError::Storage(Box::new(e))
}

fn to_record(row: KmsKeyRow) -> Result<KeyRecord, CryptoError> {
    Ok(KeyRecord {
        material: WrappedKey::from_bytes(&row.material)?,
        key_id: row.key_id,
        alias: row.alias,
        description: row.description,
        enabled: row.enabled,
        created_unix_seconds: row.created_unix_seconds,
    })
}

impl<M: MetadataStore> KeyRecords for MetaKeyRecords<M> {
    async fn insert(&self, record: KeyRecord) -> Result<(), CryptoError> {
        let id = record.key_id.clone();
        let row = KmsKeyRow {
            material: record.material.to_bytes(),
            key_id: record.key_id,
            alias: record.alias,
            description: record.description,
            enabled: record.enabled,
            created_unix_seconds: record.created_unix_seconds,
        };
        match self.0.insert_kms_key(row).await {
            Err(MetaError::KmsKeyExists) => Err(CryptoError::KmsKeyExists(id)),
            other => other.map_err(storage),
        }
    }

    async fn get(&self, key_id: &str) -> Result<Option<KeyRecord>, CryptoError> {
        self.0.kms_key(key_id).await.map_err(storage)?.map(to_record).transpose()
    }

    async fn get_by_alias(&self, alias: &str) -> Result<Option<KeyRecord>, CryptoError> {
        self.0.kms_key_by_alias(alias).await.map_err(storage)?.map(to_record).transpose()
    }

    async fn list(&self) -> Result<Vec<KeyRecord>, CryptoError> {
        self.0.kms_keys().await.map_err(storage)?.into_iter().map(to_record).collect()
    }

    async fn set_enabled(&self, key_id: &str, enabled: bool) -> Result<(), CryptoError> {
        if self.0.set_kms_key_enabled(key_id, enabled).await.map_err(storage)? {
            Ok(())
        } else {
            Err(CryptoError::KmsKeyNotFound(key_id.to_owned()))
        }
    }

    async fn set_material(&self, key_id: &str, material: WrappedKey) -> Result<(), CryptoError> {
        if self.0.set_kms_key_material(key_id, material.to_bytes()).await.map_err(storage)? {
            Ok(())
        } else {
            Err(CryptoError::KmsKeyNotFound(key_id.to_owned()))
        }
    }
}

/// The gateway's KMS over its metadata store.
pub type EngineKms<M> = BuiltinKms<MetaKeyRecords<M>>;

/// Seconds since the Unix epoch, now.
fn unix_now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Master-key rotation, second half: re-wraps under the active master key every SSE-S3
/// data key still wrapped under an older one, without touching the data (the data key
/// stays; only its wrapping changes). Each record changes by compare-and-swap, so a
/// version rewritten meanwhile is left as its writer made it. Returns how many versions
/// were re-wrapped; a crash part-way loses nothing (every record is under a key of the
/// ring either way) and the next run finishes the job.
pub async fn rewrap_data_keys<M: MetadataStore>(
    meta: &M,
    ring: &MasterKeys,
) -> Result<u64, EngineError> {
    let mut done = 0;
    let mut scan = VersionScan::default();
    while let Some(page) = scan.next_page(meta).await? {
        for v in &page {
            let sealing = Sealing::parse(&v.encryption)?;
            let StoredKey::Master(wrapped) = &sealing.key else { continue };
            if ring.is_current(wrapped) {
                continue;
            }
            let rewrapped =
                ring.rewrap(wrapped, sealing.object.as_bytes()).map_err(EngineError::Encryption)?;
            let record = Sealing { object: sealing.object, key: StoredKey::Master(rewrapped) };
            let swapped = meta
                .replace_encryption(
                    &v.bucket,
                    &v.key,
                    &v.version_id,
                    &v.encryption,
                    record.to_record(),
                )
                .await?;
            done += u64::from(swapped);
        }
    }
    Ok(done)
}

/// Pages through [`MetadataStore::encrypted_versions`], [`REWRAP_PAGE`] at a time.
#[derive(Default)]
struct VersionScan {
    after: Option<(String, String, String)>,
    done: bool,
}

impl VersionScan {
    /// The next page, `None` after the last.
    async fn next_page<M: MetadataStore>(
        &mut self,
        meta: &M,
    ) -> Result<Option<Vec<s3gate_metadata::EncryptedVersion>>, EngineError> {
        if self.done {
            return Ok(None);
        }
        let cursor = self.after.as_ref().map(|(b, k, v)| (b.as_str(), k.as_str(), v.as_str()));
        let page = meta.encrypted_versions(cursor, REWRAP_PAGE).await?;
        match page.last() {
            Some(last) if page.len() == REWRAP_PAGE as usize => {
                self.after = Some((last.bucket.clone(), last.key.clone(), last.version_id.clone()));
            }
            _ => self.done = true,
        }
        Ok(Some(page))
    }
}

/// The master keys that stored records still need: those wrapping SSE-S3 data keys of
/// versions and of uploads in progress, and those wrapping KMS keys' material. A key in
/// this set must not be retired.
pub async fn master_keys_in_use<M: MetadataStore>(
    meta: &M,
    kms: Option<&EngineKms<M>>,
) -> Result<BTreeSet<String>, EngineError> {
    let mut used = BTreeSet::new();
    let mut note = |record: &str| -> Result<(), EngineError> {
        if let StoredKey::Master(w) = Sealing::parse(record)?.key {
            used.insert(w.master_key_id().as_str().to_owned());
        }
        Ok(())
    };
    let mut scan = VersionScan::default();
    while let Some(page) = scan.next_page(meta).await? {
        for v in &page {
            note(&v.encryption)?;
        }
    }
    for record in upload_encryption_records(meta).await? {
        note(&record)?;
    }
    if let Some(kms) = kms {
        let in_kms = kms.master_keys_in_use().await.map_err(EngineError::Encryption)?;
        used.extend(in_kms.iter().map(|id| id.as_str().to_owned()));
    }
    Ok(used)
}

/// The encryption records of every upload in progress, in every bucket.
async fn upload_encryption_records<M: MetadataStore>(meta: &M) -> Result<Vec<String>, EngineError> {
    let mut records = Vec::new();
    for bucket in meta.list_buckets(None).await? {
        let mut query = s3gate_metadata::UploadListQuery {
            max_uploads: REWRAP_PAGE,
            ..s3gate_metadata::UploadListQuery::default()
        };
        loop {
            let page = meta.list_uploads(&bucket.name, &query).await?;
            let mut last = None;
            for entry in page.entries {
                let s3gate_metadata::UploadListEntry::Upload(u) = entry else { continue };
                records.extend(u.encryption.clone());
                last = Some((u.key, u.upload_id));
            }
            match last {
                Some((key, id)) if page.is_truncated => {
                    query.key_marker = Some(key);
                    query.upload_id_marker = Some(id);
                }
                _ => break,
            }
        }
    }
    Ok(records)
}

/// The ARN of `bucket` (`aws:s3:arn` of a bucket key's context) or of an object in it.
fn s3_arn(bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => format!("arn:aws:s3:::{bucket}/{k}"),
        None => format!("arn:aws:s3:::{bucket}"),
    }
}

impl<M: MetadataStore, B: BlobStore> Engine<M, B> {
    /// The built-in KMS (present when server-side encryption is configured).
    pub fn kms(&self) -> Option<&EngineKms<M>> {
        self.inner.kms.as_deref()
    }

    fn kms_or_unavailable(&self) -> Result<&EngineKms<M>, EngineError> {
        self.kms().ok_or(EngineError::SseUnavailable)
    }

    /// Swaps in a new master key ring, for SSE-S3 and the built-in KMS alike (SIGHUP after a
    /// `s3gate kms rotate`). Requests in flight finish with the ring they took.
    pub fn replace_master_keys(&self, keys: MasterKeys) {
        let Some(config) = self.sse() else { return };
        let keys = Arc::new(keys);
        config.master_keys.replace(Arc::clone(&keys));
        if let Some(kms) = self.kms() {
            kms.replace_master_keys(keys);
        }
    }

    /// A stored key names master key `missing`, which the ring lacks: reads the ring again
    /// (at most once per [`RELOAD_INTERVAL`]) and says whether it now holds that key. Another
    /// process's `s3gate kms rotate` re-wrapped keys under a key this gateway has not seen.
    async fn reload_master_keys(&self, missing: &str) -> bool {
        let Some(config) = self.sse() else { return false };
        let Some(reload) = config.reload.clone() else { return false };
        if !config.master_keys.reload_due(Instant::now()) {
            return false;
        }
        let loaded = tokio::task::spawn_blocking(move || reload()).await;
        match loaded {
            Ok(Ok(keys)) => {
                let found = keys.ids().any(|id| id.as_str() == missing);
                tracing::info!(
                    active = %keys.active_id(),
                    found,
                    "reloaded the master key ring for a key it lacked"
                );
                self.replace_master_keys(keys);
                found
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not reload the master key ring");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "the master key reload task failed");
                false
            }
        }
    }

    /// The id of the `aws/s3` key, created on first use (by whichever gateway gets there
    /// first: a creation that loses the race reads the winner's key).
    async fn default_kms_key(&self) -> Result<String, EngineError> {
        let kms = self.kms_or_unavailable()?;
        let alias = format!("alias/{DEFAULT_KMS_ALIAS}");
        match kms.describe_key(&alias).await {
            Ok(k) => return Ok(k.key_id),
            Err(CryptoError::KmsKeyNotFound(_)) => {}
            Err(e) => return Err(EngineError::Encryption(e)),
        }
        let new = NewKey {
            key_id: None,
            alias: Some(DEFAULT_KMS_ALIAS.to_owned()),
            description: "Default key that protects my S3 objects when no other key is defined"
                .to_owned(),
            created_unix_seconds: unix_now(),
        };
        match kms.create_key(new).await {
            Ok(k) => Ok(k.key_id),
            Err(CryptoError::KmsKeyExists(_)) => {
                kms.describe_key(&alias).await.map(|k| k.key_id).map_err(EngineError::Encryption)
            }
            Err(e) => Err(EngineError::Encryption(e)),
        }
    }

    /// A new sealing of `mode` for an object `key` of `bucket`, with a fresh object id and
    /// data key; returns the data key too.
    pub(crate) async fn new_sealing(
        &self,
        mode: &Resolved,
        bucket: &BucketName,
        key: &str,
    ) -> Result<Option<(Sealing, DataKey)>, EngineError> {
        let config = self.sse();
        let object = ObjectId::generate().map_err(EngineError::Encryption)?;
        match mode {
            Resolved::Plain => Ok(None),
            Resolved::S3 => {
                let config = config.ok_or(EngineError::SseUnavailable)?;
                let key = DataKey::generate().map_err(EngineError::Encryption)?;
                let wrapped = config
                    .master_keys
                    .current()
                    .wrap(&key, object.as_bytes())
                    .map_err(EngineError::Encryption)?;
                Ok(Some((Sealing { object, key: StoredKey::Master(wrapped) }, key)))
            }
            Resolved::Customer(customer) => {
                let check = customer.key_check().map_err(EngineError::Encryption)?;
                let key = customer.object_key(&object);
                let md5 = customer.key_md5_base64();
                Ok(Some((Sealing { object, key: StoredKey::Customer { check, md5 } }, key)))
            }
            Resolved::Kms { key_id, context, bucket_key } => {
                let kms = self.kms_or_unavailable()?;
                let key_id = match key_id {
                    Some(id) => id.clone(),
                    None => self.default_kms_key().await?,
                };
                // S3's context: the client's pairs plus `aws:s3:arn`, the object's ARN (the
                // bucket's with a bucket key), unless the client set it.
                let mut context = context.clone().unwrap_or_default();
                if context.get("aws:s3:arn").is_none() {
                    let arn = s3_arn(bucket.as_str(), (!bucket_key).then_some(key));
                    context.insert("aws:s3:arn", arn);
                }
                let generated = match kms.generate_data_key(&key_id, &context).await {
                    Err(CryptoError::UnknownMasterKey(id))
                        if self.reload_master_keys(&id).await =>
                    {
                        kms.generate_data_key(&key_id, &context).await
                    }
                    other => other,
                }
                .map_err(EngineError::Encryption)?;
                let stored = KmsKey {
                    wrapped: generated.wrapped,
                    arn: generated.key_arn,
                    context,
                    bucket_key: *bucket_key,
                };
                Ok(Some((Sealing { object, key: StoredKey::Kms(Box::new(stored)) }, generated.key)))
            }
        }
    }

    /// The data key of a stored version for a request that carries `customer` (SSE-C
    /// headers), with S3's refusals: a customer key for an object without one, none for an
    /// object with one. SSE-S3 keys open with the master keys, SSE-KMS keys through the KMS
    /// (which refuses a disabled key), SSE-C keys with the request's key.
    pub(crate) async fn key_for(
        &self,
        sealing: Option<&Sealing>,
        customer: Option<&CustomerKey>,
    ) -> Result<Option<DataKey>, EngineError> {
        let Some(sealing) = sealing else {
            return match customer {
                Some(_) => Err(EngineError::SseNotApplicable),
                None => Ok(None),
            };
        };
        match &sealing.key {
            StoredKey::Master(wrapped) => {
                if customer.is_some() {
                    return Err(EngineError::SseNotApplicable);
                }
                let config = self.sse().ok_or(EngineError::SseUnavailable)?;
                let unwrap =
                    || config.master_keys.current().unwrap(wrapped, sealing.object.as_bytes());
                match unwrap() {
                    Err(CryptoError::UnknownMasterKey(id))
                        if self.reload_master_keys(&id).await =>
                    {
                        unwrap()
                    }
                    other => other,
                }
                .map(Some)
                .map_err(EngineError::Encryption)
            }
            StoredKey::Customer { check, .. } => {
                let key = customer.ok_or(EngineError::SseCustomerKeyRequired)?;
                key.verify(check).map_err(EngineError::Encryption)?;
                Ok(Some(key.object_key(&sealing.object)))
            }
            StoredKey::Kms(k) => {
                if customer.is_some() {
                    return Err(EngineError::SseNotApplicable);
                }
                let kms = self.kms_or_unavailable()?;
                let key = match kms.decrypt(&k.wrapped, &k.context).await {
                    Err(CryptoError::UnknownMasterKey(id))
                        if self.reload_master_keys(&id).await =>
                    {
                        kms.decrypt(&k.wrapped, &k.context).await
                    }
                    other => other,
                };
                key.map(Some).map_err(EngineError::Encryption)
            }
        }
    }

    /// The plaintext of `range` (all of it when `None`) of a version, decrypting when it is
    /// sealed (`sealing` and `key` from [`key_for`]); the lease lives as long as the stream.
    pub(crate) async fn plain_stream(
        &self,
        version: &ObjectVersion,
        sealing: Option<&Sealing>,
        key: Option<&DataKey>,
        range: Option<ByteRange>,
        lease: Option<crate::lease::LeaseGuard>,
    ) -> Result<BlobStream, EngineError> {
        let blobs = Arc::clone(&self.inner.blobs);
        let window = self.inner.config.read_ahead_parts;
        match sealing.zip(key) {
            None => {
                let segs = crate::read::segments(&version.parts, range)?;
                Ok(crate::read::open_read(blobs, segs, window, lease).await?)
            }
            Some((sealing, key)) => {
                let (segs, decs) = sealed_segments(sealing, key, &version.parts, range)?;
                let sealed = crate::read::open_read(blobs, segs, window, lease).await?;
                Ok(decrypt_ahead(open_stream(sealed, decs)))
            }
        }
    }

    /// The bucket's encryption configuration as GetBucketEncryption reports it: the stored
    /// one, its SSE-C block filled in from the operator's default when that blocks; without
    /// one, a rule saying that the default blocks SSE-C (what AWS reports for a new bucket),
    /// else `None`.
    pub async fn bucket_encryption(
        &self,
        caller: &crate::Caller,
        bucket: &BucketName,
    ) -> Result<Option<BucketEncryption>, EngineError> {
        self.owned_bucket(caller, bucket).await?;
        let doc = self.inner.meta.bucket_config(bucket.as_str(), BUCKET_ENCRYPTION_KIND).await?;
        let stored = doc.as_deref().map(BucketEncryption::parse);
        let default_blocks = self.sse().is_some_and(|c| c.block_sse_c_by_default);
        Ok(match stored {
            Some(mut rule) => {
                if rule.block_sse_c.is_none() && default_blocks {
                    rule.block_sse_c = Some(true);
                }
                Some(rule)
            }
            None if default_blocks => Some(BucketEncryption {
                algorithm: self
                    .sse()
                    .is_some_and(|c| c.encrypt_by_default)
                    .then(|| "AES256".to_owned()),
                block_sse_c: Some(true),
                ..BucketEncryption::default()
            }),
            None => None,
        })
    }

    /// Sets or removes (`None`) the bucket's encryption configuration. A rule that does not
    /// say `BlockedEncryptionTypes` keeps the bucket's current choice (as AWS keeps it when a
    /// rule changes only the default algorithm); removing the configuration removes the
    /// choice too, and the operator's default applies again.
    pub async fn set_bucket_encryption(
        &self,
        caller: &crate::Caller,
        bucket: &BucketName,
        rule: Option<BucketEncryption>,
    ) -> Result<(), EngineError> {
        self.owned_bucket(caller, bucket).await?;
        let meta = &self.inner.meta;
        let doc = match rule {
            None => None,
            Some(mut rule) => {
                self.room_for_metadata()?;
                if rule.block_sse_c.is_none() {
                    let old = meta.bucket_config(bucket.as_str(), BUCKET_ENCRYPTION_KIND).await?;
                    rule.block_sse_c =
                        old.as_deref().and_then(|d| BucketEncryption::parse(d).block_sse_c);
                }
                Some(rule.to_document())
            }
        };
        Ok(meta.put_bucket_config(bucket.as_str(), BUCKET_ENCRYPTION_KIND, doc).await?)
    }

    /// Refuses an SSE-C write to a bucket that blocks SSE-C (its own `BlockedEncryptionTypes`,
    /// else the operator's default): 403 AccessDenied, as AWS answers.
    async fn check_sse_c_allowed(&self, bucket: &BucketName) -> Result<(), EngineError> {
        let doc = self.inner.meta.bucket_config(bucket.as_str(), BUCKET_ENCRYPTION_KIND).await?;
        let chosen = doc.as_deref().and_then(|d| BucketEncryption::parse(d).block_sse_c);
        let default = self.sse().is_some_and(|c| c.block_sse_c_by_default);
        if chosen.unwrap_or(default) {
            return Err(EngineError::SseCustomerBlocked);
        }
        Ok(())
    }

    /// The operator's encryption settings, if any.
    pub(crate) fn sse(&self) -> Option<&SseConfig> {
        self.inner.config.encryption.as_deref()
    }

    /// The encryption a new object of `bucket` gets for `request`.
    pub(crate) async fn resolve_sse(
        &self,
        bucket: &BucketName,
        request: &SseRequest,
    ) -> Result<Resolved, EngineError> {
        match request {
            SseRequest::S3 => return Ok(Resolved::S3),
            SseRequest::Customer(k) => {
                self.check_sse_c_allowed(bucket).await?;
                return Ok(Resolved::Customer(Arc::clone(k)));
            }
            SseRequest::Kms { key_id, context, bucket_key } => {
                return Ok(Resolved::Kms {
                    key_id: key_id.clone(),
                    context: context.clone(),
                    bucket_key: *bucket_key,
                });
            }
            SseRequest::Default => {}
        }
        let default =
            self.inner.meta.bucket_config(bucket.as_str(), BUCKET_ENCRYPTION_KIND).await?;
        match default.as_deref().map(BucketEncryption::parse) {
            Some(rule) if rule.algorithm.as_deref() == Some("AES256") => return Ok(Resolved::S3),
            Some(rule) if rule.algorithm.as_deref() == Some("aws:kms") => {
                return Ok(Resolved::Kms {
                    key_id: rule.kms_key_id,
                    context: None,
                    bucket_key: rule.bucket_key,
                });
            }
            _ => {}
        }
        if self.sse().is_some_and(|c| c.encrypt_by_default) {
            return Ok(Resolved::S3);
        }
        Ok(Resolved::Plain)
    }
}
