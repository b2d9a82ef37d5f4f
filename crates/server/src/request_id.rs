//! Request ids that are unique within a process and tell a client nothing.
//!
//! An id that is a counter (or a counter under a fixed affine map, as before) lets anyone who
//! collects two ids compute how many requests the server answered in between: a traffic
//! meter for outsiders. Ids are instead a keyed permutation of the counter: a 4-round
//! Feistel network over its two 32-bit halves whose round function is SipHash under a random
//! per-process key (`std::hash::RandomState`). A Feistel network is a bijection whatever its
//! round function, so distinct counters still give distinct ids; without the key the ids
//! of consecutive requests look unrelated.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

/// Rounds of the Feistel network: four make a keyed pseudo-random permutation (Luby–Rackoff).
const ROUNDS: u8 = 4;

/// The source of request ids of one gateway.
#[derive(Debug)]
pub(crate) struct RequestIds {
    key: RandomState,
    next: AtomicU64,
}

impl RequestIds {
    /// A source with a fresh random key.
    pub(crate) fn new() -> Self {
        RequestIds { key: RandomState::new(), next: AtomicU64::new(0) }
    }

    /// The next id: 16 upper-case hex digits, as S3's `x-amz-request-id`.
    pub(crate) fn next(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{:016X}", self.permute(n))
    }

    // Splitting the counter into its 32-bit halves truncates on purpose.
    #[allow(clippy::cast_possible_truncation)]
    fn permute(&self, n: u64) -> u64 {
        let (mut left, mut right) = ((n >> 32) as u32, n as u32);
        for round in 0..ROUNDS {
            // The round function's output is one 32-bit half.
            let f = self.key.hash_one((round, right)) as u32;
            (left, right) = (right, left ^ f);
        }
        (u64::from(left) << 32) | u64::from(right)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let ids = RequestIds::new();
        let mut seen = HashSet::new();
        for _ in 0..100_000 {
            let id = ids.next();
            assert_eq!(id.len(), 16);
            assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)), "{id}");
            assert!(seen.insert(id), "an id repeated");
        }
    }

    #[test]
    fn consecutive_ids_show_no_stride() {
        // The old ids were prefix + n * constant: consecutive differences were all equal.
        let ids = RequestIds::new();
        let values: Vec<u64> =
            (0..64).map(|_| u64::from_str_radix(&ids.next(), 16).unwrap()).collect();
        let strides: HashSet<u64> = values.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
        assert!(strides.len() > 60, "strides repeat: {strides:?}");
        // Each bit flips in about half of the consecutive pairs (an avalanche check, loose
        // bounds: 63 pairs per bit).
        for bit in 0..64 {
            let flips = values.windows(2).filter(|w| (w[0] ^ w[1]) >> bit & 1 == 1).count();
            assert!((8..=55).contains(&flips), "bit {bit} flipped {flips} times of 63");
        }
    }

    #[test]
    fn keys_differ_between_sources() {
        let (a, b) = (RequestIds::new(), RequestIds::new());
        let first_a: Vec<String> = (0..4).map(|_| a.next()).collect();
        let first_b: Vec<String> = (0..4).map(|_| b.next()).collect();
        assert_ne!(first_a, first_b);
    }
}
