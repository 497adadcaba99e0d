//! The compressed byte array of draft s4.1 step 4: DEFLATE (RFC 1951) in the ZLIB (RFC 1950)
//! format, carried as base64url (draft s4.2, RFC 7515 s2).
//!
//! Inflation is bounded: output is produced in fixed-size chunks and the stream is refused the
//! moment it would exceed the caller's limit, so a decompression bomb never gets the memory it
//! asks for (draft s11.1; SYSTEM.md s5 "compressed input bounded").
use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use flate2::write::ZlibEncoder;
use flate2::{Compression, Decompress, FlushDecompress, Status as ZStatus};

use crate::StatusListError;

/// A decompressed-size limit for callers that have no better figure: 16 MiB, a 1-bit list of
/// 134 million entries (draft Appendix B puts 100 million entries at 12.5 MB uncompressed).
pub const DEFAULT_MAX_DECOMPRESSED: usize = 16 * 1024 * 1024;

/// Output is produced this much at a time, so one step can overshoot the limit by at most this.
const CHUNK: usize = 16 * 1024;

/// Compresses `bytes` with ZLIB at the highest level (draft s4.1 step 4 RECOMMENDS it).
pub(crate) fn compress(bytes: &[u8]) -> Result<Vec<u8>, StatusListError> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
    encoder
        .write_all(bytes)
        .and_then(|()| encoder.finish())
        .map_err(|err| StatusListError::Compression(err.to_string()))
}

/// Inflates one complete ZLIB stream that must fill `input` exactly, into at most `limit`
/// bytes. The ZLIB header and Adler-32 trailer are checked by the inflater.
pub(crate) fn decompress(input: &[u8], limit: usize) -> Result<Vec<u8>, StatusListError> {
    let mut inflater = Decompress::new(true);
    let mut output: Vec<u8> = Vec::new();
    let mut chunk = [0u8; CHUNK];
    loop {
        let consumed_before = inflater.total_in();
        let produced_before = inflater.total_out();
        let offset = usize::try_from(consumed_before).unwrap_or(usize::MAX);
        let rest = input.get(offset..).unwrap_or_default();
        let status = inflater
            .decompress(rest, &mut chunk, FlushDecompress::None)
            .map_err(|err| StatusListError::NotZlib {
                reason: err.to_string(),
            })?;
        let produced = usize::try_from(inflater.total_out() - produced_before)
            .unwrap_or(usize::MAX)
            .min(CHUNK);
        let total = output.len().saturating_add(produced);
        if total > limit {
            return Err(StatusListError::DecompressionBomb { limit });
        }
        if produced > 0 {
            // Grow to what is needed, never past the limit (amortised doubling capped at it).
            if output.capacity() < total {
                let target = total.max(output.capacity().saturating_mul(2)).min(limit);
                output.reserve_exact(target - output.len());
            }
            output.extend_from_slice(&chunk[..produced]);
        }
        match status {
            ZStatus::StreamEnd => break,
            // No progress with room to write means the inflater waits for input there is not.
            ZStatus::Ok | ZStatus::BufError
                if inflater.total_in() == consumed_before && produced == 0 =>
            {
                return Err(StatusListError::TruncatedZlib);
            }
            ZStatus::Ok | ZStatus::BufError => {}
        }
    }
    let consumed = usize::try_from(inflater.total_in()).unwrap_or(usize::MAX);
    if consumed < input.len() {
        return Err(StatusListError::TrailingData {
            extra: input.len() - consumed,
        });
    }
    Ok(output)
}

pub(crate) fn base64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict base64url (RFC 7515 s2): no padding, no other alphabet, canonical trailing bits.
pub(crate) fn base64url_decode(text: &str) -> Result<Vec<u8>, StatusListError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|err| StatusListError::InvalidBase64 {
            found: match err {
                base64::DecodeError::InvalidByte(_, b'=') | base64::DecodeError::InvalidPadding => {
                    "padding"
                }
                base64::DecodeError::InvalidByte(..) => "a character outside the alphabet",
                base64::DecodeError::InvalidLength(_) => "an impossible length",
                base64::DecodeError::InvalidLastSymbol(..) => "non-canonical trailing bits",
            },
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let data = vec![0xb9, 0xa3, 0, 0, 7];
        let compressed = compress(&data).unwrap();
        assert_eq!(decompress(&compressed, 5).unwrap(), data);
    }

    #[test]
    fn output_never_holds_more_than_the_limit() {
        let compressed = compress(&vec![0u8; 1_000_000]).unwrap();
        for limit in [1_000_000, 1_000_001, 3 * CHUNK + 5] {
            if let Ok(out) = decompress(&compressed, limit) {
                assert!(out.capacity() <= limit, "{} > {limit}", out.capacity());
            }
        }
    }

    #[test]
    fn limit_is_inclusive() {
        let compressed = compress(&[0u8; 100]).unwrap();
        assert_eq!(decompress(&compressed, 100).unwrap().len(), 100);
        assert_eq!(
            decompress(&compressed, 99),
            Err(StatusListError::DecompressionBomb { limit: 99 })
        );
    }

    #[test]
    fn empty_stream_is_an_empty_array() {
        let compressed = compress(&[]).unwrap();
        assert_eq!(decompress(&compressed, 0).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn truncated_stream_is_refused() {
        let compressed = compress(&[1u8; 1000]).unwrap();
        for cut in 0..compressed.len() {
            let err = decompress(&compressed[..cut], 10_000).unwrap_err();
            assert!(
                matches!(
                    err,
                    StatusListError::TruncatedZlib | StatusListError::NotZlib { .. }
                ),
                "cut at {cut}: {err:?}"
            );
        }
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut compressed = compress(&[1u8; 10]).unwrap();
        compressed.extend_from_slice(b"xx");
        assert_eq!(
            decompress(&compressed, 100),
            Err(StatusListError::TrailingData { extra: 2 })
        );
    }

    #[test]
    fn bad_adler32_is_refused() {
        let mut compressed = compress(&[1u8; 10]).unwrap();
        let last = compressed.len() - 1;
        compressed[last] ^= 1;
        assert!(matches!(
            decompress(&compressed, 100),
            Err(StatusListError::NotZlib { .. })
        ));
    }

    #[test]
    fn raw_deflate_without_zlib_header_is_refused() {
        let compressed = compress(&[1u8; 10]).unwrap();
        assert!(matches!(
            decompress(&compressed[2..], 100),
            Err(StatusListError::NotZlib { .. })
        ));
    }

    #[test]
    fn base64_refusals_are_named() {
        assert_eq!(
            base64url_decode("eA=="),
            Err(StatusListError::InvalidBase64 { found: "padding" })
        );
        assert_eq!(
            base64url_decode("eN+b"),
            Err(StatusListError::InvalidBase64 {
                found: "a character outside the alphabet"
            })
        );
        assert_eq!(
            base64url_decode("e"),
            Err(StatusListError::InvalidBase64 {
                found: "an impossible length"
            })
        );
        assert_eq!(
            base64url_decode("eB"),
            Err(StatusListError::InvalidBase64 {
                found: "non-canonical trailing bits"
            })
        );
    }
}
