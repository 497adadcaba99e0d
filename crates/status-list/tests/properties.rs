//! Properties over generated input: set/get and encode/decode round trips for every `bits`,
//! a decoder that never panics, an allocator that never repeats and stays in range.
use std::collections::HashSet;

use immerse_status_list::{Bits, IndexAllocator, Status, StatusList, StatusListError};
use proptest::prelude::*;

const LIMIT: usize = 64 * 1024;

fn bits() -> impl Strategy<Value = Bits> {
    prop::sample::select(Bits::ALL.to_vec())
}

/// A list length and a sequence of writes (index, value) within it, values masked to `bits`.
fn list_and_writes() -> impl Strategy<Value = (Bits, usize, Vec<(usize, u8)>)> {
    (bits(), 1usize..2048).prop_flat_map(|(bits, len)| {
        let writes = prop::collection::vec((0..len, any::<u8>()), 0..256);
        (Just(bits), Just(len), writes).prop_map(|(bits, len, writes)| {
            let masked = writes
                .into_iter()
                .map(|(index, value)| (index, value & bits.max_value()))
                .collect();
            (bits, len, masked)
        })
    })
}

fn build(bits: Bits, len: usize, writes: &[(usize, u8)]) -> (StatusList, Vec<u8>) {
    let mut list = StatusList::new(bits, len);
    let mut model = vec![0u8; len];
    for &(index, value) in writes {
        list.set(index, Status::from(value)).unwrap();
        model[index] = value;
    }
    (list, model)
}

proptest! {
    #[test]
    fn set_then_get_matches_a_plain_array((bits, len, writes) in list_and_writes()) {
        let (list, model) = build(bits, len, &writes);
        for (index, value) in model.iter().enumerate() {
            prop_assert_eq!(list.get(index).unwrap(), Status::from(*value));
        }
        prop_assert_eq!(
            list.get(len),
            Err(StatusListError::IndexOutOfRange { index: len as u64, len })
        );
    }

    #[test]
    fn values_wider_than_bits_are_refused(bits in bits(), value in any::<u8>()) {
        let mut list = StatusList::new(bits, 8);
        let result = list.set(0, Status::from(value));
        if value > bits.max_value() {
            prop_assert_eq!(
                result,
                Err(StatusListError::StatusTooWide { value, bits: bits.get() })
            );
        } else {
            prop_assert!(result.is_ok());
        }
    }

    #[test]
    fn encode_then_decode_gives_the_same_statuses((bits, len, writes) in list_and_writes()) {
        let (list, model) = build(bits, len, &writes);
        let decoded = StatusList::from_lst(bits, &list.to_lst().unwrap(), LIMIT).unwrap();
        prop_assert_eq!(decoded.as_bytes(), list.as_bytes());
        prop_assert!(decoded.len() >= len && decoded.len() < len + bits.per_byte());
        for (index, value) in model.iter().enumerate() {
            prop_assert_eq!(decoded.get(index).unwrap(), Status::from(*value));
        }
        // Padding entries of the last byte read as VALID.
        for index in len..decoded.len() {
            prop_assert_eq!(decoded.get(index).unwrap(), Status::Valid);
        }
        let json = list.to_json().unwrap();
        let from_json = StatusList::from_json(&json, LIMIT).unwrap();
        prop_assert_eq!(from_json.as_bytes(), list.as_bytes());
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_bytes(
        bits in bits(),
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        limit in 0usize..4096,
    ) {
        let _ = StatusList::from_compressed(bits, &bytes, limit);
        // Past the two-byte ZLIB header, to reach the inflater itself.
        let mut with_header = vec![0x78, 0xda];
        with_header.extend_from_slice(&bytes);
        if let Ok(list) = StatusList::from_compressed(bits, &with_header, limit) {
            prop_assert!(list.as_bytes().len() <= limit);
        }
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_text(bits in bits(), text in ".{0,256}") {
        let _ = StatusList::from_lst(bits, &text, LIMIT);
        let _ = StatusList::from_json(&serde_json::json!({"bits": bits.get(), "lst": text}), LIMIT);
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_json(text in "\\PC{0,128}") {
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
            let _ = StatusList::from_json(&value, LIMIT);
        }
    }

    #[test]
    fn allocator_never_repeats_and_stays_in_range(
        capacity in 1usize..400,
        extra in 0usize..5,
        save_at in 0usize..400,
    ) {
        let mut allocator = IndexAllocator::new(capacity).unwrap();
        let mut seen = HashSet::new();
        for step in 0..capacity {
            if step == save_at {
                // The stored state carries on where it stopped.
                let json = serde_json::to_string(&allocator).unwrap();
                allocator = serde_json::from_str(&json).unwrap();
            }
            let index = allocator.allocate().unwrap();
            prop_assert!(index < capacity);
            prop_assert!(seen.insert(index), "index {} handed out twice", index);
            prop_assert!(allocator.is_allocated(index));
        }
        prop_assert_eq!(allocator.remaining(), 0);
        for _ in 0..extra {
            prop_assert_eq!(allocator.allocate(), Err(StatusListError::Exhausted { capacity }));
        }
    }
}
