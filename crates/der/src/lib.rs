//! The little DER (X.690) IMMERSE reads and writes itself.
//!
//! OpenSSL parses and verifies certificates; it does not expose arbitrary extensions, so
//! extensions (AMD's VCEK TCB fields, Fulcio's OIDC claims, embedded SCTs) are read here by
//! walking Certificate -> TBSCertificate -> extensions (RFC 5280 s4.1). Only definite lengths
//! and single-byte tags are accepted, every length is checked against what remains, and nothing
//! recurses on input, so no input can make this panic or loop. The writer half serves test
//! fixtures (simulated SEV-SNP platforms, a local Sigstore instance).
#![forbid(unsafe_code)]

/// Universal tags used here.
pub const TAG_BOOLEAN: u8 = 0x01;
pub const TAG_INTEGER: u8 = 0x02;
pub const TAG_BIT_STRING: u8 = 0x03;
pub const TAG_OCTET_STRING: u8 = 0x04;
pub const TAG_NULL: u8 = 0x05;
pub const TAG_OID: u8 = 0x06;
pub const TAG_IA5_STRING: u8 = 0x16;
pub const TAG_UTC_TIME: u8 = 0x17;
pub const TAG_GENERALIZED_TIME: u8 = 0x18;
pub const TAG_SEQUENCE: u8 = 0x30;
/// `[3] EXPLICIT` in TBSCertificate: the extensions.
pub const TAG_EXTENSIONS: u8 = 0xA3;

/// Input that is not the DER this module expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DerError;

/// One tag-length-value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
}

/// Reads one TLV from the front of `input`, returning it and the rest.
pub fn read(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), DerError> {
    let (&tag, rest) = input.split_first().ok_or(DerError)?;
    if tag & 0x1F == 0x1F {
        return Err(DerError); // multi-byte tag numbers never occur in these certificates
    }
    let (&first, mut rest) = rest.split_first().ok_or(DerError)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7F);
        // 0x80 is the indefinite form, which DER forbids; four bytes are far beyond any
        // certificate.
        if count == 0 || count > 4 || rest.len() < count {
            return Err(DerError);
        }
        let (len_bytes, after) = rest.split_at(count);
        rest = after;
        len_bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if len > rest.len() {
        return Err(DerError);
    }
    let (value, rest) = rest.split_at(len);
    Ok((Tlv { tag, value }, rest))
}

/// Reads one TLV that must have `tag`.
pub fn expect(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), DerError> {
    let (tlv, rest) = read(input)?;
    if tlv.tag == tag {
        Ok((tlv.value, rest))
    } else {
        Err(DerError)
    }
}

/// Reads a TLV that must have `tag` and fill `input` exactly.
pub fn exactly(input: &[u8], tag: u8) -> Result<&[u8], DerError> {
    match expect(input, tag)? {
        (value, []) => Ok(value),
        _ => Err(DerError),
    }
}

/// A non-negative INTEGER that fits a `u8` (the SPL extensions, VCEK spec #57230 s3).
/// Accepts a leading zero byte where the sign bit needs it (`02 02 00 80`).
pub fn small_unsigned(value: &[u8]) -> Result<u8, DerError> {
    match value {
        [b] if *b < 0x80 => Ok(*b),
        [0, b] if *b >= 0x80 => Ok(*b),
        _ => Err(DerError),
    }
}

/// One certificate extension (RFC 5280 s4.1: `Extension ::= SEQUENCE { extnID, critical
/// BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    /// The content octets of the OID.
    pub oid: &'a [u8],
    pub critical: bool,
    pub value: &'a [u8],
}

/// The extensions of a DER certificate. The certificate must fill `der` exactly, so these are
/// the extensions of the same certificate OpenSSL parsed and verified.
pub fn certificate_extensions(der: &[u8]) -> Result<Vec<Extension<'_>>, DerError> {
    let certificate = exactly(der, TAG_SEQUENCE)?;
    let (mut tbs, _signature_parts) = expect(certificate, TAG_SEQUENCE)?;
    let mut extensions = Vec::new();
    while !tbs.is_empty() {
        let (field, rest) = read(tbs)?;
        tbs = rest;
        if field.tag != TAG_EXTENSIONS {
            continue;
        }
        let mut list = exactly(field.value, TAG_SEQUENCE)?;
        while !list.is_empty() {
            let (extension, rest) = expect(list, TAG_SEQUENCE)?;
            list = rest;
            let (oid, mut fields) = expect(extension, TAG_OID)?;
            let mut critical = false;
            if let Ok((flag, rest)) = expect(fields, TAG_BOOLEAN) {
                critical = match flag {
                    [0x00] => false,
                    [0xFF] => true,
                    _ => return Err(DerError),
                };
                fields = rest;
            }
            let value = exactly(fields, TAG_OCTET_STRING)?;
            extensions.push(Extension {
                oid,
                critical,
                value,
            });
        }
        if !tbs.is_empty() {
            return Err(DerError); // extensions are the last TBSCertificate field
        }
    }
    Ok(extensions)
}

/// DER content octets of an OID given as arcs (X.690 s8.19). Used to state OIDs readably.
pub fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut push = |mut arc: u64| {
        let mut chunk = vec![(arc & 0x7F) as u8];
        arc >>= 7;
        while arc > 0 {
            chunk.push(0x80 | (arc & 0x7F) as u8);
            arc >>= 7;
        }
        chunk.reverse();
        out.extend(chunk);
    };
    if let [first, second, rest @ ..] = arcs {
        push(first * 40 + second);
        rest.iter().copied().for_each(push);
    }
    out
}

/// Writes one TLV.
pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

/// Writes a SEQUENCE of already encoded parts.
pub fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    tlv(TAG_SEQUENCE, &parts.concat())
}

/// Writes a non-negative INTEGER from big-endian magnitude bytes.
pub fn unsigned(magnitude: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = magnitude.iter().copied().skip_while(|b| *b == 0).collect();
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| *b >= 0x80) {
        content.push(0);
    }
    content.extend(trimmed);
    tlv(TAG_INTEGER, &content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amd_oid_encodes_like_the_real_certificates() {
        // 1.3.6.1.4.1.3704.1.3.1 (blSPL) as it appears in the Milan VCEK.
        assert_eq!(
            oid(&[1, 3, 6, 1, 4, 1, 3704, 1, 3, 1]),
            [0x2B, 0x06, 0x01, 0x04, 0x01, 0x9C, 0x78, 0x01, 0x03, 0x01]
        );
    }

    #[test]
    fn lengths_round_trip_and_overruns_are_refused() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let value = vec![7u8; len];
            let encoded = tlv(TAG_OCTET_STRING, &value);
            assert_eq!(exactly(&encoded, TAG_OCTET_STRING), Ok(&value[..]));
            // One byte short: the value (or, for an empty value, the length) is missing.
            assert_eq!(read(&encoded[..encoded.len() - 1]), Err(DerError));
        }
        assert_eq!(read(&[0x04, 0x80, 0x00, 0x00]), Err(DerError)); // indefinite length
        assert_eq!(read(&[0x1F, 0x01, 0x00]), Err(DerError)); // multi-byte tag
    }

    #[test]
    fn small_unsigned_accepts_only_u8_values() {
        assert_eq!(small_unsigned(&[0x73]), Ok(0x73));
        assert_eq!(small_unsigned(&[0x00, 0xD1]), Ok(0xD1));
        assert_eq!(small_unsigned(&[0xD1]), Err(DerError)); // negative
        assert_eq!(small_unsigned(&[0x01, 0x00]), Err(DerError)); // 256
        assert_eq!(small_unsigned(&[]), Err(DerError));
        for v in [0u8, 0x7F, 0x80, 0xFF] {
            let encoded = unsigned(&[v]);
            assert_eq!(
                small_unsigned(exactly(&encoded, TAG_INTEGER).unwrap()),
                Ok(v)
            );
        }
    }

    proptest! {
        #[test]
        fn extension_walker_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = certificate_extensions(&bytes);
        }

        #[test]
        fn extension_walker_never_panics_on_nested_sequences(inner in proptest::collection::vec(any::<u8>(), 0..256)) {
            let tbs = sequence(&[&tlv(TAG_EXTENSIONS, &inner)]);
            let _ = certificate_extensions(&sequence(&[&tbs]));
        }
    }
}
