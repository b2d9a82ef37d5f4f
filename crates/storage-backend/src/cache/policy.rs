//! Which cache entries stay: admission and eviction as sans-I/O data structures.
//!
//! [`S3Fifo`] is the policy the read cache uses (Yang et al., "FIFO queues are all you need
//! for cache eviction", SOSP 2023): a small FIFO that new entries enter, a main FIFO that
//! entries reach only once they were hit while in the small one (or when their key is still
//! remembered by the ghost FIFO of recently evicted keys), and a two-bit hit counter per entry
//! that buys a lap in the main FIFO instead of an LRU list update on every hit. A scan — a
//! backup job reading every object once — passes through the small FIFO and leaves the main
//! one alone, which is the point of choosing it over LRU for a gateway cache. [`Lru`] is the
//! baseline the tests and the bench compare it with.
//!
//! Both count capacity in bytes (entries have sizes) and report what they evicted, so that the
//! caller deletes the data; neither does I/O, reads a clock or allocates per hit.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::Hash;

/// An admission and eviction policy over keys with sizes in bytes.
pub trait Policy<K>: std::fmt::Debug + Send {
    /// Looks `key` up, counting a hit if present; returns the entry's size.
    fn get(&mut self, key: &K) -> Option<u64>;

    /// Inserts `key` (or replaces its size) and returns the keys evicted to make room, which
    /// may include `key` itself when it is larger than the capacity.
    fn insert(&mut self, key: K, size: u64) -> Vec<K>;

    /// Forgets `key` (its data turned out corrupt or was deleted).
    fn remove(&mut self, key: &K);

    /// Bytes held.
    fn used(&self) -> u64;
}

/// Hits an entry must have seen in the small FIFO to be promoted to the main one. One hit is
/// the libCacheSim default and what the paper's evaluation uses.
const PROMOTE_HITS: u8 = 1;
/// The counter saturates here (two bits).
const MAX_FREQ: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Queue {
    Small,
    Main,
}

#[derive(Debug)]
struct Resident {
    size: u64,
    freq: u8,
    queue: Queue,
    /// Which queue slot is current: a key removed and re-inserted leaves a stale slot behind,
    /// skipped when it reaches the tail.
    generation: u64,
}

/// S3-FIFO over byte sizes: a small FIFO of a tenth of the capacity, a main FIFO, and a ghost
/// FIFO remembering as many evicted bytes as the main FIFO holds.
#[derive(Debug)]
pub struct S3Fifo<K> {
    capacity: u64,
    small_target: u64,
    residents: HashMap<K, Resident>,
    small: VecDeque<(K, u64)>,
    main: VecDeque<(K, u64)>,
    small_bytes: u64,
    main_bytes: u64,
    ghost: VecDeque<(K, u64, u64)>,
    /// Key → generation of its ghost slot.
    ghosts: HashMap<K, u64>,
    ghost_bytes: u64,
    next_generation: u64,
}

impl<K: Hash + Eq + Clone> S3Fifo<K> {
    /// A policy holding at most `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        S3Fifo {
            capacity,
            small_target: capacity / 10,
            residents: HashMap::new(),
            small: VecDeque::new(),
            main: VecDeque::new(),
            small_bytes: 0,
            main_bytes: 0,
            ghost: VecDeque::new(),
            ghosts: HashMap::new(),
            ghost_bytes: 0,
            next_generation: 0,
        }
    }

    fn generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    fn push(&mut self, key: K, size: u64, freq: u8, queue: Queue) {
        let generation = self.generation();
        match queue {
            Queue::Small => {
                self.small.push_back((key.clone(), generation));
                self.small_bytes += size;
            }
            Queue::Main => {
                self.main.push_back((key.clone(), generation));
                self.main_bytes += size;
            }
        }
        self.residents.insert(key, Resident { size, freq, queue, generation });
    }

    /// Takes the current entry at the tail of `queue`, skipping stale slots.
    fn pop(&mut self, queue: Queue) -> Option<(K, Resident)> {
        loop {
            let (key, generation) = match queue {
                Queue::Small => self.small.pop_front()?,
                Queue::Main => self.main.pop_front()?,
            };
            let current = self
                .residents
                .get(&key)
                .is_some_and(|r| r.generation == generation && r.queue == queue);
            if current {
                let resident = self.residents.remove(&key)?;
                match queue {
                    Queue::Small => self.small_bytes -= resident.size,
                    Queue::Main => self.main_bytes -= resident.size,
                }
                return Some((key, resident));
            }
        }
    }

    fn remember(&mut self, key: K, size: u64) {
        let generation = self.generation();
        self.ghosts.insert(key.clone(), generation);
        self.ghost.push_back((key, size, generation));
        self.ghost_bytes += size;
        let limit = self.capacity - self.small_target;
        while self.ghost_bytes > limit {
            let Some((key, size, generation)) = self.ghost.pop_front() else { break };
            self.ghost_bytes -= size;
            if self.ghosts.get(&key) == Some(&generation) {
                self.ghosts.remove(&key);
            }
        }
    }

    /// Evicts one entry (moving survivors along) and returns it, or `None` when empty.
    fn evict_one(&mut self) -> Option<K> {
        loop {
            if self.small_bytes > self.small_target || self.main_bytes == 0 {
                let (key, r) = self.pop(Queue::Small)?;
                if r.freq >= PROMOTE_HITS {
                    self.push(key, r.size, 0, Queue::Main);
                } else {
                    self.remember(key.clone(), r.size);
                    return Some(key);
                }
            } else {
                let (key, r) = self.pop(Queue::Main)?;
                if r.freq > 0 {
                    self.push(key, r.size, r.freq - 1, Queue::Main);
                } else {
                    return Some(key);
                }
            }
        }
    }
}

impl<K: Hash + Eq + Clone + std::fmt::Debug + Send> Policy<K> for S3Fifo<K> {
    fn get(&mut self, key: &K) -> Option<u64> {
        let r = self.residents.get_mut(key)?;
        r.freq = (r.freq + 1).min(MAX_FREQ);
        Some(r.size)
    }

    fn insert(&mut self, key: K, size: u64) -> Vec<K> {
        self.remove(&key);
        let queue = if self.ghosts.remove(&key).is_some() { Queue::Main } else { Queue::Small };
        self.push(key, size, 0, queue);
        let mut evicted = Vec::new();
        while self.used() > self.capacity {
            match self.evict_one() {
                Some(k) => evicted.push(k),
                None => break,
            }
        }
        evicted
    }

    fn remove(&mut self, key: &K) {
        if let Some(r) = self.residents.remove(key) {
            match r.queue {
                Queue::Small => self.small_bytes -= r.size,
                Queue::Main => self.main_bytes -= r.size,
            }
        }
    }

    fn used(&self) -> u64 {
        self.small_bytes + self.main_bytes
    }
}

/// Least recently used, over byte sizes: the baseline.
#[derive(Debug)]
pub struct Lru<K> {
    capacity: u64,
    used: u64,
    tick: u64,
    entries: HashMap<K, (u64, u64)>,
    order: BTreeMap<u64, K>,
}

impl<K: Hash + Eq + Clone> Lru<K> {
    /// A policy holding at most `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        Lru { capacity, used: 0, tick: 0, entries: HashMap::new(), order: BTreeMap::new() }
    }
}

impl<K: Hash + Eq + Clone + std::fmt::Debug + Send> Policy<K> for Lru<K> {
    fn get(&mut self, key: &K) -> Option<u64> {
        let (size, tick) = self.entries.get_mut(key)?;
        self.order.remove(tick);
        self.tick += 1;
        *tick = self.tick;
        self.order.insert(self.tick, key.clone());
        Some(*size)
    }

    fn insert(&mut self, key: K, size: u64) -> Vec<K> {
        self.remove(&key);
        self.tick += 1;
        self.order.insert(self.tick, key.clone());
        self.entries.insert(key, (size, self.tick));
        self.used += size;
        let mut evicted = Vec::new();
        while self.used > self.capacity {
            let Some((_, k)) = self.order.pop_first() else { break };
            if let MapEntry::Occupied(e) = self.entries.entry(k.clone()) {
                self.used -= e.remove().0;
            }
            evicted.push(k);
        }
        evicted
    }

    fn remove(&mut self, key: &K) {
        if let Some((size, tick)) = self.entries.remove(key) {
            self.order.remove(&tick);
            self.used -= size;
        }
    }

    fn used(&self) -> u64 {
        self.used
    }
}

/// Which policy a cache uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PolicyKind {
    /// [`S3Fifo`], the default.
    #[default]
    S3Fifo,
    /// [`Lru`], for comparison.
    Lru,
}

impl PolicyKind {
    /// A policy of this kind holding at most `capacity` bytes.
    pub fn build<K: Hash + Eq + Clone + std::fmt::Debug + Send + 'static>(
        self,
        capacity: u64,
    ) -> Box<dyn Policy<K>> {
        match self {
            PolicyKind::S3Fifo => Box::new(S3Fifo::new(capacity)),
            PolicyKind::Lru => Box::new(Lru::new(capacity)),
        }
    }
}

/// Runs `trace` (keys of unit size) through `policy`, inserting on a miss, and returns the
/// hit ratio. Used by the tests and by `s3gate-bench cache-policy`.
pub fn hit_ratio<K: Clone>(policy: &mut impl Policy<K>, trace: &[K]) -> f64 {
    let mut hits = 0u64;
    for key in trace {
        if policy.get(key).is_some() {
            hits += 1;
        } else {
            policy.insert(key.clone(), 1);
        }
    }
    #[allow(clippy::cast_precision_loss)] // trace lengths are far below 2^52
    let ratio = hits as f64 / trace.len().max(1) as f64;
    ratio
}

/// A reproducible workload: `len` accesses over `keys` keys drawn from a Zipf distribution of
/// exponent `s` (key 0 the most popular), from the seed `seed` (a xorshift generator, so the
/// same arguments always give the same trace).
pub fn zipf_trace(keys: u64, s: f64, len: usize, seed: u64) -> Vec<u64> {
    // The cumulative distribution, searched by bisection: exact, and fast enough for the
    // traces the tests and the bench use.
    #[allow(clippy::cast_precision_loss)]
    let weights: Vec<f64> = (1..=keys).map(|k| 1.0 / (k as f64).powf(s)).collect();
    let total: f64 = weights.iter().sum();
    let mut cdf = Vec::with_capacity(weights.len());
    let mut acc = 0.0;
    for w in weights {
        acc += w / total;
        cdf.push(acc);
    }
    let mut state = seed.max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            #[allow(clippy::cast_precision_loss)]
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            cdf.partition_point(|&c| c < u) as u64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_entries_wait_in_the_small_fifo_and_one_hit_promotes() {
        let mut p = S3Fifo::new(10);
        // Capacity 10: small target 1.
        for k in 0..10u32 {
            assert!(p.insert(k, 1).is_empty());
        }
        assert_eq!(p.get(&0), Some(1));
        // Inserting an 11th evicts from the small FIFO's tail: 0 was hit, so it moves to main
        // and 1, never hit, is evicted.
        assert_eq!(p.insert(10, 1), vec![1]);
        assert_eq!(p.get(&0), Some(1));
        assert_eq!(p.get(&1), None);
        assert_eq!(p.used(), 10);
    }

    #[test]
    fn a_remembered_key_goes_straight_to_main() {
        let mut p = S3Fifo::new(4);
        for k in 0..4u32 {
            p.insert(k, 1);
        }
        assert_eq!(p.insert(4, 1), vec![0]); // 0 leaves, remembered by the ghost FIFO
        p.insert(0, 1); // back: into main
        // The scan of new keys now evicts small-FIFO entries, never 0 in main.
        for k in 5..20u32 {
            let evicted = p.insert(k, 1);
            assert!(!evicted.contains(&0), "{k}: {evicted:?}");
        }
        assert_eq!(p.get(&0), Some(1));
    }

    #[test]
    fn a_main_entry_earns_laps_with_its_hits() {
        let mut p = S3Fifo::new(10);
        for k in 0..10u32 {
            p.insert(k, 1);
            p.get(&k);
        }
        // Everything was hit: new inserts promote the small tail into main, and main evicts
        // only once the hit counters ran down.
        let mut evicted = Vec::new();
        for k in 10..40u32 {
            evicted.extend(p.insert(k, 1));
        }
        assert!(p.used() <= 10);
        assert!(!evicted.is_empty());
    }

    #[test]
    fn an_entry_larger_than_the_cache_is_evicted_at_once() {
        let mut p = S3Fifo::new(10);
        p.insert("small", 3);
        let evicted = p.insert("huge", 11);
        assert!(evicted.contains(&"huge"), "{evicted:?}");
        assert!(p.used() <= 10);
        let mut l = Lru::new(10);
        l.insert("small", 3);
        assert!(l.insert("huge", 11).contains(&"huge"));
        assert!(l.used() <= 10);
    }

    #[test]
    fn remove_and_reinsert_keep_the_byte_count_exact() {
        let mut p = S3Fifo::new(100);
        p.insert(1u8, 10);
        p.insert(2, 20);
        p.remove(&1);
        assert_eq!(p.used(), 20);
        p.insert(1, 5);
        p.insert(2, 7); // replaces 2's size
        assert_eq!(p.used(), 12);
        assert_eq!(p.get(&2), Some(7));
        // Stale slots of the replaced entries are skipped, not double-counted.
        for k in 10..200u8 {
            p.insert(k, 1);
        }
        assert!(p.used() <= 100);
    }

    #[test]
    fn lru_evicts_the_least_recently_used() {
        let mut l = Lru::new(3);
        l.insert('a', 1);
        l.insert('b', 1);
        l.insert('c', 1);
        l.get(&'a');
        assert_eq!(l.insert('d', 1), vec!['b']);
        assert_eq!(l.get(&'b'), None);
        assert_eq!(l.get(&'a'), Some(1));
    }

    #[test]
    fn zipf_traces_are_reproducible_and_skewed() {
        let a = zipf_trace(1000, 1.0, 10_000, 7);
        assert_eq!(a, zipf_trace(1000, 1.0, 10_000, 7));
        assert_ne!(a, zipf_trace(1000, 1.0, 10_000, 8));
        let top = a.iter().filter(|&&k| k < 10).count();
        // The 10 most popular of 1000 keys draw about 39% of a Zipf(1) workload.
        assert!((3_000..5_000).contains(&top), "{top}");
    }

    /// The reason for S3-FIFO: a Zipf workload over a working set ten times the cache,
    /// interleaved with scans of keys read once (a backup job), keeps a higher hit ratio than
    /// under LRU, which lets each scan flush the hot keys.
    #[test]
    fn s3fifo_beats_lru_on_zipf_with_scans() {
        let hot = zipf_trace(10_000, 0.9, 200_000, 42);
        let mut trace = Vec::with_capacity(hot.len() * 2);
        let mut scan_key = 1_000_000u64;
        for (i, k) in hot.iter().enumerate() {
            trace.push(*k);
            if (i / 5_000) % 2 == 1 {
                trace.push(scan_key);
                scan_key += 1;
            }
        }
        let fifo = hit_ratio(&mut S3Fifo::new(1_000), &trace);
        let lru = hit_ratio(&mut Lru::new(1_000), &trace);
        assert!(fifo > lru * 1.05, "S3-FIFO {fifo:.3} vs LRU {lru:.3}");
        // And without scans it is no worse than LRU.
        let fifo = hit_ratio(&mut S3Fifo::new(1_000), &hot);
        let lru = hit_ratio(&mut Lru::new(1_000), &hot);
        assert!(fifo >= lru * 0.98, "S3-FIFO {fifo:.3} vs LRU {lru:.3}");
    }
}
