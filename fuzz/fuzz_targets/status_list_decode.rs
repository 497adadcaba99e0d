//! Arbitrary bytes as a Status List (draft-ietf-oauth-status-list s4): as the compressed byte
//! array and as `lst` text, under a small decompression limit.
//! An error or a list, never a panic and never more than the limit; what decodes re-encodes to
//! the same byte array.
#![no_main]
use immerse_status_list::{Bits, StatusList};
use libfuzzer_sys::fuzz_target;

/// Small, so that bombs are found quickly and refused cheaply.
const LIMIT: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    // The first byte picks `bits`.
    let (bits, body) = match data.split_first() {
        Some((selector, rest)) => (Bits::ALL[usize::from(*selector) % 4], rest),
        None => (Bits::One, data),
    };
    if let Ok(list) = StatusList::from_compressed(bits, body, LIMIT) {
        assert!(list.as_bytes().len() <= LIMIT);
        let lst = list.to_lst().expect("a decoded list re-encodes");
        let again = StatusList::from_lst(bits, &lst, LIMIT).expect("its encoding decodes");
        assert_eq!(again.as_bytes(), list.as_bytes());
        if let Some(last) = list.len().checked_sub(1) {
            assert!(list.get(last).is_ok());
        }
        assert!(list.get(list.len()).is_err());
    }
    let _ = StatusList::from_lst(bits, &String::from_utf8_lossy(body), LIMIT);
});
