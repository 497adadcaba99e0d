//! Decoding refusals of the Status List (draft s4): each bad input and the exact error.
use immerse_status_list::{Bits, StatusList, StatusListError};
use serde_json::json;

const ONE_MIB: usize = 1024 * 1024;

fn zlib(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn bits_3_0_16_are_refused() {
    for bits in [3, 0, 16] {
        let object = json!({"bits": bits, "lst": "eNrbuRgAAhcBXQ"});
        assert_eq!(
            StatusList::from_json(&object, ONE_MIB),
            Err(StatusListError::InvalidBits {
                found: bits.to_string()
            }),
            "bits {bits}"
        );
    }
    // Out of u8 range entirely.
    let object = json!({"bits": 256, "lst": "eNrbuRgAAhcBXQ"});
    assert_eq!(
        StatusList::from_json(&object, ONE_MIB),
        Err(StatusListError::InvalidBits {
            found: "256".into()
        })
    );
}

#[test]
fn lst_that_is_not_base64url_is_refused() {
    let cases = [
        ("eNrbuRgAAhcBXQ==", "padding"),
        ("eNrbuRgAAhcBXQ+/", "a character outside the alphabet"),
        ("eNrb uRgAAhcBXQ", "a character outside the alphabet"),
        ("eNrbuRgAAhcBX", "an impossible length"),
    ];
    for (lst, found) in cases {
        assert_eq!(
            StatusList::from_lst(Bits::One, lst, ONE_MIB),
            Err(StatusListError::InvalidBase64 { found }),
            "{lst}"
        );
    }
}

#[test]
fn lst_that_is_not_zlib_is_refused() {
    // Raw DEFLATE (no RFC 1950 header), gzip, and plain bytes.
    let raw_deflate = &zlib(&[0xb9, 0xa3])[2..];
    let gzip = [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0xff];
    for bytes in [raw_deflate, &gzip[..], b"not compressed"] {
        let result = StatusList::from_lst(Bits::One, &b64(bytes), ONE_MIB);
        assert!(
            matches!(result, Err(StatusListError::NotZlib { .. })),
            "{bytes:02x?}: {result:?}"
        );
    }
}

#[test]
fn empty_and_truncated_lst_are_refused() {
    assert_eq!(
        StatusList::from_lst(Bits::One, "", ONE_MIB),
        Err(StatusListError::TruncatedZlib)
    );
    let whole = zlib(&[0xb9; 64]);
    assert_eq!(
        StatusList::from_lst(Bits::One, &b64(&whole[..whole.len() - 4]), ONE_MIB),
        Err(StatusListError::TruncatedZlib)
    );
}

#[test]
fn bytes_after_the_zlib_stream_are_refused() {
    let mut bytes = zlib(&[0xb9, 0xa3]);
    bytes.push(0);
    assert_eq!(
        StatusList::from_lst(Bits::One, &b64(&bytes), ONE_MIB),
        Err(StatusListError::TrailingData { extra: 1 })
    );
}

/// 10 MB of zeros compress to about 10 KB; with a 1 MiB limit the decoder stops at the limit.
#[test]
fn decompression_bomb_is_refused() {
    let bomb = zlib(&vec![0u8; 10_000_000]);
    assert!(bomb.len() < 16 * 1024, "bomb is {} bytes", bomb.len());
    let lst = b64(&bomb);
    assert_eq!(
        StatusList::from_lst(Bits::One, &lst, ONE_MIB),
        Err(StatusListError::DecompressionBomb { limit: ONE_MIB })
    );
    let object = json!({"bits": 1, "lst": lst});
    assert_eq!(
        StatusList::from_json(&object, ONE_MIB),
        Err(StatusListError::DecompressionBomb { limit: ONE_MIB })
    );
    // The same stream is accepted by a caller who allows its size.
    let list = StatusList::from_lst(Bits::One, &lst, 10_000_000).unwrap();
    assert_eq!(list.len(), 80_000_000);
}

#[test]
fn index_out_of_range_is_refused() {
    let list = StatusList::from_lst(Bits::One, "eNrbuRgAAhcBXQ", ONE_MIB).unwrap();
    assert_eq!(
        list.get(16),
        Err(StatusListError::IndexOutOfRange { index: 16, len: 16 })
    );
    let list = StatusList::from_lst(Bits::Two, "eNo76fITAAPfAgc", ONE_MIB).unwrap();
    assert_eq!(
        list.get(12),
        Err(StatusListError::IndexOutOfRange { index: 12, len: 12 })
    );
}
