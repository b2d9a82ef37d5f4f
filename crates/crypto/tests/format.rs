//! The encrypted-object format through the public API: known answers from an independent
//! implementation (tests/data/kat.py), round trips around package borders, ranges (proptest),
//! and tampering of every kind a backend or a thief could try.
#![allow(clippy::unwrap_used, reason = "test code")]

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use proptest::prelude::*;
use s3gate_crypto::{
    BuiltinKms, CryptoError, CustomerKey, DataKey, Decryptor, EncryptionContext, Encryptor,
    FormatVersion, KeyCheck, KeyRecord, KeyRecords as _, KeyStore as _, KmsWrappedKey, MasterKey,
    MasterKeyId, MasterKeys, MemKeyRecords, ObjectId, PACKAGE_SIZE, PartCipher, PartSalt,
    SEALED_PACKAGE_SIZE, WrappedKey, sealed_len,
};

const P: usize = PACKAGE_SIZE;
const S: usize = SEALED_PACKAGE_SIZE;

fn plaintext(n: usize) -> Vec<u8> {
    (0..n).map(|i| u8::try_from(i % 251).unwrap()).collect()
}

fn cipher(key: &DataKey, object: &ObjectId, part: u32, salt: &PartSalt) -> PartCipher {
    PartCipher::new(FormatVersion::V1, key, object, part, salt)
}

/// A fixed part: data key, object id and salt of the known-answer vectors.
fn fixed(part: u32) -> PartCipher {
    let key = DataKey::from_bytes(&std::array::from_fn(|i| u8::try_from(i).unwrap()));
    let object = ObjectId::from_bytes(std::array::from_fn(|i| 0xa0 + u8::try_from(i).unwrap()));
    let salt = PartSalt::from_bytes(std::array::from_fn(|i| 0x50 + u8::try_from(i).unwrap()));
    cipher(&key, &object, part, &salt)
}

fn seal(cipher: PartCipher, data: &[u8], chunk: usize) -> Vec<u8> {
    let mut enc = Encryptor::new(cipher);
    let mut out = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        for package in enc.push(piece).unwrap() {
            assert!(package.len() == S, "a package before the last is full");
            out.extend_from_slice(&package);
        }
    }
    assert_eq!(enc.plaintext_len(), data.len() as u64);
    out.extend_from_slice(&enc.finish().unwrap());
    out
}

fn drain(mut dec: Decryptor, sealed: &[u8], chunk: usize) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::new();
    for piece in sealed.chunks(chunk.max(1)) {
        for plain in dec.push(piece)? {
            out.extend_from_slice(&plain);
        }
    }
    dec.finish()?;
    Ok(out)
}

fn open(
    cipher: PartCipher,
    len: usize,
    sealed: &[u8],
    chunk: usize,
) -> Result<Vec<u8>, CryptoError> {
    drain(Decryptor::new(cipher, len as u64), sealed, chunk)
}

/// Reads `range` of a part the way a ranged GET does: fetch only the sealed range the helper
/// names, decrypt it.
fn open_range(
    cipher: PartCipher,
    len: usize,
    range: Range<u64>,
    whole: &[u8],
    chunk: usize,
) -> Result<Vec<u8>, CryptoError> {
    let (dec, fetch) = Decryptor::for_range(cipher, len as u64, range)?;
    let fetch = usize::try_from(fetch.start).unwrap()..usize::try_from(fetch.end).unwrap();
    drain(dec, &whole[fetch], chunk)
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, data))
}

/// Whether two data keys are the same key, seen through what they seal.
fn same_key(a: &DataKey, b: &DataKey) -> bool {
    let (object, salt) = (ObjectId::from_bytes([1; 16]), PartSalt::from_bytes([2; 16]));
    let data = plaintext(33);
    seal(cipher(a, &object, 1, &salt), &data, 33) == seal(cipher(b, &object, 1, &salt), &data, 33)
}

struct Kat {
    values: HashMap<String, String>,
    parts: Vec<Vec<String>>,
}

fn kat() -> Kat {
    let text = include_str!("data/kat.txt");
    let mut values = HashMap::new();
    let mut parts = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let words: Vec<String> = line.split(' ').map(str::to_owned).collect();
        if words[0] == "part" {
            parts.push(words[1..].to_vec());
        } else {
            values.insert(words[0].clone(), words[1..].join(" "));
        }
    }
    Kat { values, parts }
}

impl Kat {
    fn bytes(&self, name: &str) -> Vec<u8> {
        hex::decode(&self.values[name]).unwrap()
    }
}

#[test]
fn known_answers_for_parts() {
    let kat = kat();
    assert_eq!(kat.parts.len(), 7);
    for case in &kat.parts {
        let (len, part): (usize, u32) = (case[0].parse().unwrap(), case[1].parse().unwrap());
        let sealed = seal(fixed(part), &plaintext(len), 4096);
        assert_eq!(sealed.len().to_string(), case[2], "length of part {len}/{part}");
        assert_eq!(sha256_hex(&sealed), case[3], "sha256 of part {len}/{part}");
        if let Some(full) = case.get(4) {
            assert_eq!(&hex::encode(&sealed), full, "bytes of part {len}/{part}");
        }
        assert_eq!(open(fixed(part), len, &sealed, 777).unwrap(), plaintext(len));
    }
}

#[test]
fn known_answers_for_sse_c() {
    let kat = kat();
    let customer = CustomerKey::from_headers(
        Some("AES256"),
        Some("pO3upElrwuEXSoFwCfnZPdSsmt/xWeFa0N9KgDijwVs="),
        Some("DWygnHRtgiJ77HCm+1rvHw=="),
    )
    .unwrap()
    .unwrap();
    let object = ObjectId::from_slice(&kat.bytes("object_id")).unwrap();
    let salt = PartSalt::from_slice(&kat.bytes("part_salt")).unwrap();
    let derived = customer.object_key(&object);
    let expected = DataKey::from_bytes(&kat.bytes("ssec_object_key").try_into().unwrap());
    assert!(same_key(&derived, &expected));
    let sealed = seal(cipher(&derived, &object, 3, &salt), &plaintext(1000), 100);
    let want = kat.values["ssec_part"].split(' ').collect::<Vec<_>>();
    assert_eq!(want[..3], ["1000", "3", "1016"]);
    assert_eq!(sha256_hex(&sealed), want[3]);

    let check = KeyCheck::from_bytes(&kat.bytes("ssec_key_check")).unwrap();
    customer.verify(&check).unwrap();
    let other = CustomerKey::from_bytes(&[0; 32]);
    assert!(matches!(other.verify(&check), Err(CryptoError::SseCustomerKeyMismatch)));
}

fn kat_masters(kat: &Kat) -> Arc<MasterKeys> {
    let id = MasterKeyId::new("2026-07").unwrap();
    let master = MasterKey::from_bytes(id.clone(), &kat.bytes("master_key").try_into().unwrap());
    Arc::new(MasterKeys::new(vec![master], &id).unwrap())
}

#[test]
fn known_answers_for_the_master_wrap() {
    let kat = kat();
    let masters = kat_masters(&kat);
    let wrapped = WrappedKey::from_bytes(&kat.bytes("master_wrapped")).unwrap();
    assert_eq!(wrapped.master_key_id().as_str(), "2026-07");
    assert_eq!(wrapped.to_bytes(), kat.bytes("master_wrapped"));
    let data_key = masters.unwrap(&wrapped, &kat.bytes("object_id")).unwrap();
    assert!(same_key(&data_key, &DataKey::from_bytes(&kat.bytes("data_key").try_into().unwrap())));
    assert!(matches!(masters.unwrap(&wrapped, &[0; 16]), Err(CryptoError::UnwrapFailed)));
}

#[tokio::test]
async fn known_answers_for_the_kms_wrap() {
    let kat = kat();
    let records = MemKeyRecords::new();
    records
        .insert(KeyRecord {
            key_id: "testkey-1".to_owned(),
            alias: None,
            description: String::new(),
            enabled: true,
            created_unix_seconds: 0,
            material: WrappedKey::from_bytes(&kat.bytes("kms_material_wrapped")).unwrap(),
        })
        .await
        .unwrap();
    let kms = BuiltinKms::new(kat_masters(&kat), records, "us-east-1", "123456789012");
    let wrapped = KmsWrappedKey::from_bytes(&kat.bytes("kms_wrapped")).unwrap();
    assert_eq!(wrapped.key_id(), "testkey-1");
    let context: EncryptionContext =
        [("aws:s3:arn", "arn:aws:s3:::bucket/key")].into_iter().collect();
    let data_key = kms.decrypt(&wrapped, &context).await.unwrap();
    assert!(same_key(&data_key, &DataKey::from_bytes(&kat.bytes("data_key").try_into().unwrap())));
    let other: EncryptionContext =
        [("aws:s3:arn", "arn:aws:s3:::bucket/other")].into_iter().collect();
    assert!(matches!(kms.decrypt(&wrapped, &other).await, Err(CryptoError::UnwrapFailed)));
}

#[test]
fn round_trips_around_package_borders() {
    let sizes = [0, 1, P - 1, P, P + 1, 2 * P - 1, 2 * P, 2 * P + 1, (3 << 20) + 5];
    for len in sizes {
        let data = plaintext(len);
        for chunk in [1, 1000, P, P + 16, 1 << 20] {
            if chunk == 1 && len > 2 * P + 1 {
                continue;
            }
            let sealed = seal(fixed(1), &data, chunk);
            assert_eq!(sealed.len() as u64, sealed_len(len as u64), "len {len}");
            assert_eq!(open(fixed(1), len, &sealed, chunk).unwrap(), data, "len {len}");
            // The decryptor's chunks need not follow the encryptor's.
            assert_eq!(open(fixed(1), len, &sealed, 4093).unwrap(), data, "len {len}");
        }
    }
}

#[test]
fn a_ranged_read_opens_only_the_packages_it_touches() {
    // 1 MiB from the middle of 8 MiB (the proportions of 1 MiB in 1 GiB, smaller).
    let len = 8 << 20;
    let data = plaintext(len);
    let sealed = seal(fixed(1), &data, 1 << 20);
    for start in [4 << 20, (4 << 20) + 1, (4 << 20) + P as u64 - 1] {
        let range = start..start + (1 << 20);
        let (_, fetch) = Decryptor::for_range(fixed(1), len as u64, range.clone()).unwrap();
        let packages = (fetch.end - fetch.start).div_ceil(S as u64);
        assert!(packages <= (1 << 20) / P as u64 + 1, "{packages} packages for {range:?}");
        let got = open_range(fixed(1), len, range.clone(), &sealed, 1 << 16).unwrap();
        let range = usize::try_from(range.start).unwrap()..usize::try_from(range.end).unwrap();
        assert_eq!(got, data[range]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_range_decrypts_to_the_right_bytes(
        len in 1usize..4 * P + 100,
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
        chunk in 1usize..3 * S,
    ) {
        let data = plaintext(len);
        let sealed = seal(fixed(2), &data, 50_000);
        let (x, y) = (a.index(len), b.index(len));
        let range = x.min(y)..x.max(y) + 1;
        let got = open_range(fixed(2), len, range.start as u64..range.end as u64, &sealed, chunk);
        prop_assert_eq!(got.unwrap(), &data[range.clone()]);
        let (_, fetch) = Decryptor::for_range(fixed(2), len as u64, range.start as u64..range.end as u64).unwrap();
        let packages = (fetch.end - fetch.start).div_ceil(S as u64);
        prop_assert!(packages <= (range.end - range.start).div_ceil(P) as u64 + 1);
    }

    #[test]
    fn any_flipped_byte_fails(len in 0usize..3 * P, at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut sealed = seal(fixed(1), &plaintext(len), P);
        let i = at.index(sealed.len());
        sealed[i] ^= 1 << bit;
        prop_assert!(open(fixed(1), len, &sealed, 1000).is_err());
    }
}

#[test]
fn every_byte_of_a_small_part_is_authenticated() {
    let data = plaintext(33);
    let sealed = seal(fixed(1), &data, 33);
    for i in 0..sealed.len() {
        for bit in 0..8 {
            let mut bad = sealed.clone();
            bad[i] ^= 1 << bit;
            assert!(open(fixed(1), 33, &bad, 49).is_err(), "byte {i} bit {bit}");
        }
    }
    // And of every package of a large part: its first byte, last byte and each tag byte.
    let len = 2 * P + 100;
    let sealed = seal(fixed(1), &plaintext(len), P);
    let mut positions = vec![0, S - 1, S, 2 * S - 1, 2 * S, sealed.len() - 1];
    positions.extend(S - 16..S);
    positions.extend(sealed.len() - 16..sealed.len());
    for i in positions {
        let mut bad = sealed.clone();
        bad[i] ^= 0x80;
        assert!(open(fixed(1), len, &bad, 1 << 20).is_err(), "byte {i}");
        // A range read of the package holding that byte fails as well.
        let package = (i / S) as u64;
        let start = package * P as u64;
        let range = start..(start + 10).min(len as u64);
        assert!(open_range(fixed(1), len, range, &bad, 1000).is_err(), "range at byte {i}");
    }
}

#[test]
fn truncation_anywhere_fails() {
    let len = 3 * P + 7;
    let sealed = seal(fixed(1), &plaintext(len), P);
    for cut in [0, 1, S - 1, S, S + 1, 2 * S, 3 * S, 3 * S + 1, sealed.len() - 1] {
        let got = open(fixed(1), len, &sealed[..cut], 1000);
        assert!(matches!(got, Err(CryptoError::Truncated { .. })), "cut at {cut}: {got:?}");
    }
}

#[test]
fn truncation_with_a_matching_size_in_the_metadata_fails() {
    // The attacker drops the last package(s) and also rewrites the size in the metadata to
    // match: the new last package was sealed as not final, so it fails.
    let len = 3 * P + 7;
    let sealed = seal(fixed(1), &plaintext(len), P);
    for packages in 1..=3 {
        let got = open(fixed(1), packages * P, &sealed[..packages * S], S);
        assert!(matches!(got, Err(CryptoError::PackageRejected { .. })), "{packages}: {got:?}");
    }
    // Cutting inside the last package and claiming the shorter size fails too.
    let got = open(fixed(1), 3 * P + 3, &sealed[..3 * S + 3 + 16], S);
    assert!(matches!(got, Err(CryptoError::PackageRejected { .. })), "{got:?}");
}

#[test]
fn a_size_in_the_metadata_that_lies_fails() {
    let len = 2 * P + 50;
    let sealed = seal(fixed(1), &plaintext(len), P);
    // Claimed larger: the stream ends early.
    assert!(matches!(open(fixed(1), len + 1, &sealed, P), Err(CryptoError::Truncated { .. })));
    assert!(matches!(open(fixed(1), len + P, &sealed, P), Err(CryptoError::Truncated { .. })));
    // Claimed smaller: the last package is cut where it was not sealed.
    assert!(open(fixed(1), len - 1, &sealed, P).is_err());
    // Extra bytes after the final package are refused, not ignored.
    let mut longer = sealed.clone();
    longer.push(0);
    assert!(matches!(open(fixed(1), len, &longer, P), Err(CryptoError::TrailingBytes)));
}

#[test]
fn reordered_packages_fail() {
    let len = 3 * P;
    let sealed = seal(fixed(1), &plaintext(len), P);
    let mut swapped = sealed.clone();
    swapped[..S].copy_from_slice(&sealed[S..2 * S]);
    swapped[S..2 * S].copy_from_slice(&sealed[..S]);
    assert!(open(fixed(1), len, &swapped, P).is_err());
    // A duplicated package in place of another fails too.
    let mut duplicated = sealed.clone();
    duplicated[S..2 * S].copy_from_slice(&sealed[..S]);
    assert!(open(fixed(1), len, &duplicated, P).is_err());
}

#[test]
fn packages_and_parts_do_not_move_between_objects_under_one_sse_c_key() {
    let customer = CustomerKey::from_bytes(&[0x42; 32]);
    let (object_a, object_b) = (ObjectId::generate().unwrap(), ObjectId::generate().unwrap());
    let (key_a, key_b) = (customer.object_key(&object_a), customer.object_key(&object_b));
    let salt = PartSalt::from_bytes([7; 16]);
    let len = 2 * P;
    let data = plaintext(len);
    let a1 = seal(cipher(&key_a, &object_a, 1, &salt), &data, P);
    let b1 = seal(cipher(&key_b, &object_b, 1, &salt), &data, P);
    assert_ne!(a1, b1, "the same plaintext seals differently in two objects");

    // One package of B in A.
    let mut mixed = a1.clone();
    mixed[S..].copy_from_slice(&b1[S..]);
    assert!(open(cipher(&key_a, &object_a, 1, &salt), len, &mixed, P).is_err());
    // All of B's part in A's place (same part number, same salt, same length).
    assert!(open(cipher(&key_a, &object_a, 1, &salt), len, &b1, P).is_err());
    // A's part read as B's (the metadata row of B pointing at A's blob).
    assert!(open(cipher(&key_b, &object_b, 1, &salt), len, &a1, P).is_err());
}

#[test]
fn parts_do_not_move_within_an_object() {
    let key = DataKey::generate().unwrap();
    let object = ObjectId::generate().unwrap();
    let salt = PartSalt::from_bytes([9; 16]);
    let data = plaintext(P + 10);
    let part1 = seal(cipher(&key, &object, 1, &salt), &data, P);
    let part2 = seal(cipher(&key, &object, 2, &salt), &data, P);
    assert!(open(cipher(&key, &object, 1, &salt), data.len(), &part2, P).is_err());
    assert!(open(cipher(&key, &object, 2, &salt), data.len(), &part1, P).is_err());
}

#[test]
fn an_earlier_upload_of_the_same_part_does_not_open_in_place_of_the_new_one() {
    // UploadPart retried: same data key, object and part number, a new salt each time. The
    // two uploads share no nonce under one key, and the old one does not open as the new one.
    let key = DataKey::generate().unwrap();
    let object = ObjectId::generate().unwrap();
    let (old_salt, new_salt) = (PartSalt::generate().unwrap(), PartSalt::generate().unwrap());
    let data = plaintext(1000);
    let old = seal(cipher(&key, &object, 5, &old_salt), &data, 1000);
    let new = seal(cipher(&key, &object, 5, &new_salt), &data, 1000);
    assert_ne!(old, new);
    assert!(open(cipher(&key, &object, 5, &new_salt), 1000, &old, 1000).is_err());
    assert_eq!(open(cipher(&key, &object, 5, &new_salt), 1000, &new, 1000).unwrap(), data);
}

#[test]
fn a_wrong_key_fails() {
    let object = ObjectId::generate().unwrap();
    let salt = PartSalt::generate().unwrap();
    let data = plaintext(5000);
    let sealed = seal(cipher(&DataKey::generate().unwrap(), &object, 1, &salt), &data, 5000);
    let other = DataKey::generate().unwrap();
    assert!(open(cipher(&other, &object, 1, &salt), 5000, &sealed, 5000).is_err());
}

#[test]
fn a_failed_decryptor_refuses_everything_after() {
    let len = 3 * P;
    let mut sealed = seal(fixed(1), &plaintext(len), P);
    sealed[10] ^= 1;
    let mut dec = Decryptor::new(fixed(1), len as u64);
    assert!(dec.push(&sealed[..S]).is_err());
    assert!(dec.push(&sealed[S..2 * S]).is_err(), "a good package after a bad one is refused");
    assert!(dec.finish().is_err());
}

#[test]
fn an_empty_part_still_has_a_final_package() {
    let sealed = seal(fixed(1), &[], 1);
    assert_eq!(sealed.len(), 16);
    assert_eq!(open(fixed(1), 0, &sealed, 1).unwrap(), Vec::<u8>::new());
    assert!(matches!(open(fixed(1), 0, &[], 1), Err(CryptoError::Truncated { .. })));
    // A full package's first package claimed as an empty part fails.
    let one = seal(fixed(1), &plaintext(P + 1), P);
    assert!(open(fixed(1), 0, &one[..16], 16).is_err());
}
