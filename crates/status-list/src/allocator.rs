//! Index allocation for Referenced Tokens: random, never repeated, within a list's capacity.
//!
//! Draft s12.4 and s12.5.1 RECOMMEND non-sequential, random indices so that an index says
//! nothing about issuance order or volume; s13.3 says the Status Issuer MUST prevent unintended
//! double allocation. Every index is drawn uniformly from the indices still free, with OpenSSL's
//! CSPRNG: rejection sampling while the list is sparse, and the r-th free index of the bitmap
//! once random draws keep hitting used ones.
//!
//! The state (capacity and bitmap of used indices) serialises with serde so that the issuer
//! can store it with the list; deserialising checks it as untrusted input.
use serde::{Deserialize, Serialize};

use crate::{StatusListError, codec};

/// Random draws before falling back to choosing among the free indices directly. At half full
/// the fallback runs with probability 2^-32.
const REJECTION_ATTEMPTS: usize = 32;

/// Hands out the indices of one Status List of `capacity` entries.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "AllocatorState")]
pub struct IndexAllocator {
    capacity: usize,
    allocated: usize,
    /// Bit `i % 8` of byte `i / 8` is set when index `i` was handed out.
    used: Vec<u8>,
}

impl IndexAllocator {
    pub fn new(capacity: usize) -> Result<Self, StatusListError> {
        if capacity == 0 {
            return Err(StatusListError::InvalidCapacity { found: 0 });
        }
        Ok(Self {
            capacity,
            allocated: 0,
            used: vec![0; capacity.div_ceil(8)],
        })
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn allocated(&self) -> usize {
        self.allocated
    }

    pub fn remaining(&self) -> usize {
        self.capacity - self.allocated
    }

    pub fn is_allocated(&self, index: usize) -> bool {
        index < self.capacity && self.used[index / 8] & (1 << (index % 8)) != 0
    }

    /// A fresh index, uniformly random among those never handed out; `Exhausted` when none is
    /// left (the issuer then opens another list, draft s13.4).
    pub fn allocate(&mut self) -> Result<usize, StatusListError> {
        if self.allocated == self.capacity {
            return Err(StatusListError::Exhausted {
                capacity: self.capacity,
            });
        }
        let mut chosen = None;
        for _ in 0..REJECTION_ATTEMPTS {
            let candidate = random_below(self.capacity)?;
            if !self.is_allocated(candidate) {
                chosen = Some(candidate);
                break;
            }
        }
        let index = match chosen {
            Some(index) => index,
            None => self.nth_free(random_below(self.remaining())?).ok_or(
                StatusListError::Exhausted {
                    capacity: self.capacity,
                },
            )?,
        };
        self.used[index / 8] |= 1 << (index % 8);
        self.allocated += 1;
        Ok(index)
    }

    /// The `n`-th free index (0-based); `None` when fewer than `n + 1` are free.
    fn nth_free(&self, mut n: usize) -> Option<usize> {
        for (byte_index, byte) in self.used.iter().enumerate() {
            let base = byte_index * 8;
            let slots = (self.capacity - base).min(8);
            let free = slots - (byte & low_mask(slots)).count_ones() as usize;
            if n >= free {
                n -= free;
                continue;
            }
            for bit in 0..slots {
                if byte & (1 << bit) == 0 {
                    if n == 0 {
                        return Some(base + bit);
                    }
                    n -= 1;
                }
            }
        }
        None
    }
}

fn low_mask(slots: usize) -> u8 {
    if slots >= 8 { 0xFF } else { (1u8 << slots) - 1 }
}

/// A uniform value in `0..bound` from OpenSSL's CSPRNG, without modulo bias.
fn random_below(bound: usize) -> Result<usize, StatusListError> {
    let bound = bound as u64;
    // Largest multiple of `bound` that fits; draws at or above it are redrawn.
    let zone = u64::MAX
        - u64::MAX
            .checked_rem(bound)
            .ok_or_else(|| StatusListError::Random("an empty range".into()))?;
    loop {
        let mut bytes = [0u8; 8];
        openssl::rand::rand_bytes(&mut bytes)
            .map_err(|err| StatusListError::Random(err.to_string()))?;
        let draw = u64::from_le_bytes(bytes);
        if draw < zone {
            return Ok((draw % bound) as usize);
        }
    }
}

/// The stored form: capacity and the bitmap as base64url, compressed (a fresh or sparse bitmap
/// is mostly zeros).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllocatorState {
    capacity: usize,
    used: String,
}

impl Serialize for IndexAllocator {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let used = codec::compress(&self.used).map_err(serde::ser::Error::custom)?;
        AllocatorState {
            capacity: self.capacity,
            used: codec::base64url_encode(&used),
        }
        .serialize(serializer)
    }
}

impl TryFrom<AllocatorState> for IndexAllocator {
    type Error = StatusListError;

    fn try_from(state: AllocatorState) -> Result<Self, StatusListError> {
        if state.capacity == 0 {
            return Err(StatusListError::InvalidCapacity { found: 0 });
        }
        let expected_len = state.capacity.div_ceil(8);
        let compressed = codec::base64url_decode(&state.used)?;
        let used = codec::decompress(&compressed, expected_len)?;
        if used.len() != expected_len {
            return Err(StatusListError::InvalidAllocatorState {
                expected: "a bitmap of capacity / 8 bytes, rounded up",
                found: format!("{} bytes", used.len()),
            });
        }
        let tail = state.capacity % 8;
        if tail != 0 && used[expected_len - 1] & !low_mask(tail) != 0 {
            return Err(StatusListError::InvalidAllocatorState {
                expected: "no bit set beyond the capacity",
                found: "a bit set beyond it".into(),
            });
        }
        let allocated = used.iter().map(|byte| byte.count_ones() as usize).sum();
        Ok(Self {
            capacity: state.capacity,
            allocated,
            used,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_capacity_is_refused() {
        assert_eq!(
            IndexAllocator::new(0),
            Err(StatusListError::InvalidCapacity { found: 0 })
        );
    }

    #[test]
    fn hands_out_every_index_once_then_reports_exhaustion() {
        for capacity in [1, 7, 8, 9, 100] {
            let mut allocator = IndexAllocator::new(capacity).unwrap();
            let mut seen = vec![false; capacity];
            for _ in 0..capacity {
                let index = allocator.allocate().unwrap();
                assert!(!seen[index], "index {index} handed out twice");
                seen[index] = true;
            }
            assert_eq!(
                allocator.allocate(),
                Err(StatusListError::Exhausted { capacity })
            );
        }
    }

    #[test]
    fn fallback_finds_the_nth_free_index() {
        let mut allocator = IndexAllocator::new(20).unwrap();
        for index in [0, 1, 2, 5, 8, 19] {
            allocator.used[index / 8] |= 1 << (index % 8);
            allocator.allocated += 1;
        }
        let free: Vec<usize> = (0..20).filter(|i| !allocator.is_allocated(*i)).collect();
        for (n, index) in free.iter().enumerate() {
            assert_eq!(allocator.nth_free(n), Some(*index));
        }
        assert_eq!(allocator.nth_free(free.len()), None);
    }

    #[test]
    fn indices_are_not_sequential() {
        let mut allocator = IndexAllocator::new(1 << 20).unwrap();
        let first: Vec<usize> = (0..16).map(|_| allocator.allocate().unwrap()).collect();
        let sequential = first.windows(2).all(|pair| pair[1] == pair[0] + 1);
        assert!(!sequential, "{first:?}");
    }

    #[test]
    fn state_round_trips_through_serde() {
        let mut allocator = IndexAllocator::new(1000).unwrap();
        for _ in 0..300 {
            allocator.allocate().unwrap();
        }
        let json = serde_json::to_string(&allocator).unwrap();
        let restored: IndexAllocator = serde_json::from_str(&json).unwrap();
        assert_eq!(restored, allocator);
        assert_eq!(restored.allocated(), 300);
    }

    #[test]
    fn tampered_state_is_refused() {
        let bitmap = |bytes: &[u8]| codec::base64url_encode(&codec::compress(bytes).unwrap());
        let cases = [
            serde_json::json!({"capacity": 0, "used": bitmap(&[])}),
            serde_json::json!({"capacity": 10, "used": bitmap(&[0])}),
            serde_json::json!({"capacity": 10, "used": bitmap(&[0, 0, 0])}),
            serde_json::json!({"capacity": 10, "used": bitmap(&[0, 0b0000_0100])}),
            serde_json::json!({"capacity": 10, "used": "not base64!"}),
            serde_json::json!({"capacity": 10, "used": bitmap(&[0, 0]), "extra": 1}),
        ];
        for state in cases {
            assert!(
                serde_json::from_value::<IndexAllocator>(state.clone()).is_err(),
                "{state}"
            );
        }
        let ok = serde_json::json!({"capacity": 10, "used": bitmap(&[0xFF, 0b11])});
        let full: IndexAllocator = serde_json::from_value(ok).unwrap();
        assert_eq!(full.remaining(), 0);
    }
}
