//! The Status List (draft s4): statuses of `bits` bits packed into a byte array, index 0 in the
//! least significant bits of byte 0 (draft s4.1 step 3, s11.1), and its JSON form (draft s4.2).
use serde_json::{Map, Value};

use crate::error::json_kind;
use crate::{StatusListError, codec};

/// Bits per status (draft s4.1 step 1): one of 1, 2, 4 or 8, so that a status never spans two
/// bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bits {
    One = 1,
    Two = 2,
    Four = 4,
    Eight = 8,
}

impl Bits {
    pub const ALL: [Bits; 4] = [Bits::One, Bits::Two, Bits::Four, Bits::Eight];

    pub fn get(self) -> u8 {
        self as u8
    }

    /// Statuses per byte: 8, 4, 2 or 1 (draft s4.1 step 2).
    pub fn per_byte(self) -> usize {
        usize::from(8 / self.get())
    }

    /// The largest status value that fits.
    pub fn max_value(self) -> u8 {
        ((1u16 << self.get()) - 1) as u8
    }

    /// Bytes needed for `entries` statuses.
    fn bytes_for(self, entries: usize) -> usize {
        entries.div_ceil(self.per_byte())
    }
}

impl TryFrom<u8> for Bits {
    type Error = StatusListError;
    fn try_from(value: u8) -> Result<Self, StatusListError> {
        match value {
            1 => Ok(Self::One),
            2 => Ok(Self::Two),
            4 => Ok(Self::Four),
            8 => Ok(Self::Eight),
            other => Err(StatusListError::InvalidBits {
                found: other.to_string(),
            }),
        }
    }
}

/// A status value (draft s7.1). Values 0x00-0x02 are always the named variants: `Other` holds
/// every other value, including the application-specific 0x03 and 0x0C-0x0F.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// 0x00 VALID.
    Valid,
    /// 0x01 INVALID: revoked, annulled, taken back, recalled or cancelled.
    Invalid,
    /// 0x02 SUSPENDED: temporarily invalid.
    Suspended,
    /// Any other value; see [`Status::is_application_specific`].
    Other(u8),
}

impl Status {
    pub fn value(self) -> u8 {
        match self {
            Self::Valid => 0x00,
            Self::Invalid => 0x01,
            Self::Suspended => 0x02,
            Self::Other(value) => value,
        }
    }

    /// Draft s7.1: 0x03 and 0x0C-0x0F are permanently reserved for applications; every other
    /// unnamed value is reserved for future registration.
    pub fn is_application_specific(self) -> bool {
        matches!(self.value(), 0x03 | 0x0C..=0x0F)
    }
}

impl From<u8> for Status {
    fn from(value: u8) -> Self {
        match value {
            0x00 => Self::Valid,
            0x01 => Self::Invalid,
            0x02 => Self::Suspended,
            other => Self::Other(other),
        }
    }
}

/// A Status List: `len` statuses of `bits` bits each, initialised to VALID (draft s13.3), with
/// the optional `aggregation_uri` of draft s4.2 / s9.2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusList {
    bits: Bits,
    len: usize,
    bytes: Vec<u8>,
    aggregation_uri: Option<String>,
}

impl StatusList {
    /// A list of `len` VALID statuses. Draft s13.4 RECOMMENDS `len * bits` to be a multiple of
    /// 8; otherwise the unused bits of the last byte are sent as zero and a decoded list counts
    /// them as entries.
    pub fn new(bits: Bits, len: usize) -> Self {
        Self {
            bits,
            len,
            bytes: vec![0; bits.bytes_for(len)],
            aggregation_uri: None,
        }
    }

    /// A list over an uncompressed byte array; every slot of every byte is an entry.
    pub fn from_bytes(bits: Bits, bytes: Vec<u8>) -> Self {
        Self {
            bits,
            len: bytes.len().saturating_mul(bits.per_byte()),
            bytes,
            aggregation_uri: None,
        }
    }

    pub fn with_aggregation_uri(mut self, uri: impl Into<String>) -> Self {
        self.aggregation_uri = Some(uri.into());
        self
    }

    pub fn bits(&self) -> Bits {
        self.bits
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The uncompressed byte array (draft s4.1 steps 2-3).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn aggregation_uri(&self) -> Option<&str> {
        self.aggregation_uri.as_deref()
    }

    /// Byte offset, bit shift and mask of entry `index` (draft s4.1 step 3: blocks packed from
    /// the least significant bit of each byte).
    fn locate(&self, index: usize) -> Result<(usize, u8, u8), StatusListError> {
        if index >= self.len {
            return Err(StatusListError::IndexOutOfRange {
                index: index as u64,
                len: self.len,
            });
        }
        let per_byte = self.bits.per_byte();
        let shift = (index % per_byte) as u8 * self.bits.get();
        Ok((index / per_byte, shift, self.bits.max_value()))
    }

    /// The status at `index`; out of range is an error (draft s8.3 step 6).
    pub fn get(&self, index: usize) -> Result<Status, StatusListError> {
        let (byte, shift, mask) = self.locate(index)?;
        Ok(Status::from((self.bytes[byte] >> shift) & mask))
    }

    /// Sets the status at `index`; a value wider than `bits` is refused (draft s7: the issuer
    /// chooses `bits` to fit its Status Types).
    pub fn set(&mut self, index: usize, status: Status) -> Result<(), StatusListError> {
        let value = status.value();
        if value > self.bits.max_value() {
            return Err(StatusListError::StatusTooWide {
                value,
                bits: self.bits.get(),
            });
        }
        let (byte, shift, mask) = self.locate(index)?;
        self.bytes[byte] = (self.bytes[byte] & !(mask << shift)) | (value << shift);
        Ok(())
    }

    /// `lst`: base64url of the ZLIB-compressed byte array (draft s4.1 step 4, s4.2).
    pub fn to_lst(&self) -> Result<String, StatusListError> {
        Ok(codec::base64url_encode(&codec::compress(&self.bytes)?))
    }

    /// Decodes `lst`, refusing it before inflating past `max_decompressed` bytes.
    pub fn from_lst(
        bits: Bits,
        lst: &str,
        max_decompressed: usize,
    ) -> Result<Self, StatusListError> {
        let compressed = codec::base64url_decode(lst)?;
        Self::from_compressed(bits, &compressed, max_decompressed)
    }

    /// Decodes the compressed byte array itself (the CBOR form carries it unencoded, s4.3).
    pub fn from_compressed(
        bits: Bits,
        compressed: &[u8],
        max_decompressed: usize,
    ) -> Result<Self, StatusListError> {
        let bytes = codec::decompress(compressed, max_decompressed)?;
        Ok(Self::from_bytes(bits, bytes))
    }

    /// The JSON StatusList object of draft s4.2: `bits`, `lst`, optional `aggregation_uri`.
    pub fn to_json(&self) -> Result<Value, StatusListError> {
        let mut object = Map::new();
        object.insert("bits".into(), Value::from(self.bits.get()));
        object.insert("lst".into(), Value::String(self.to_lst()?));
        if let Some(uri) = &self.aggregation_uri {
            object.insert("aggregation_uri".into(), Value::String(uri.clone()));
        }
        Ok(Value::Object(object))
    }

    /// Parses the JSON StatusList object of draft s4.2. Members other than those three are
    /// ignored (the object is not closed by the draft).
    pub fn from_json(value: &Value, max_decompressed: usize) -> Result<Self, StatusListError> {
        let object = value
            .as_object()
            .ok_or(StatusListError::InvalidStatusListMember {
                member: "status_list",
                expected: "an object",
                found: json_kind(value),
            })?;
        let bits = match object.get("bits") {
            None => return Err(StatusListError::MissingStatusListMember("bits")),
            Some(Value::Number(number)) => number
                .as_u64()
                .and_then(|n| u8::try_from(n).ok())
                .ok_or_else(|| StatusListError::InvalidBits {
                    found: number.to_string(),
                })
                .and_then(Bits::try_from)?,
            Some(other) => {
                return Err(StatusListError::InvalidBits {
                    found: json_kind(other).to_owned(),
                });
            }
        };
        let lst = match object.get("lst") {
            None => return Err(StatusListError::MissingStatusListMember("lst")),
            Some(Value::String(lst)) => lst,
            Some(other) => {
                return Err(StatusListError::InvalidStatusListMember {
                    member: "lst",
                    expected: "a string",
                    found: json_kind(other),
                });
            }
        };
        let aggregation_uri = match object.get("aggregation_uri") {
            None => None,
            Some(Value::String(uri)) => Some(uri.clone()),
            Some(other) => {
                return Err(StatusListError::InvalidStatusListMember {
                    member: "aggregation_uri",
                    expected: "a string",
                    found: json_kind(other),
                });
            }
        };
        let mut list = Self::from_lst(bits, lst, max_decompressed)?;
        list.aggregation_uri = aggregation_uri;
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Draft s4.1, first figure: 16 one-bit statuses make bytes 0xB9 0xA3.
    #[test]
    fn one_bit_layout_matches_draft_figure() {
        let statuses = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1];
        let mut list = StatusList::new(Bits::One, 16);
        for (index, value) in statuses.into_iter().enumerate() {
            list.set(index, Status::from(value)).unwrap();
        }
        assert_eq!(list.as_bytes(), &[0xb9, 0xa3]);
    }

    /// Draft s4.1, second figure: 12 two-bit statuses make bytes 0xC9 0x44 0xF9.
    #[test]
    fn two_bit_layout_matches_draft_figure() {
        let statuses = [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3];
        let mut list = StatusList::new(Bits::Two, 12);
        for (index, value) in statuses.into_iter().enumerate() {
            list.set(index, Status::from(value)).unwrap();
        }
        assert_eq!(list.as_bytes(), &[0xc9, 0x44, 0xf9]);
    }

    #[test]
    fn bits_other_than_1_2_4_8_are_refused() {
        for bad in [0u8, 3, 5, 16, 255] {
            assert_eq!(
                Bits::try_from(bad),
                Err(StatusListError::InvalidBits {
                    found: bad.to_string()
                })
            );
        }
    }

    #[test]
    fn status_wider_than_bits_is_refused() {
        let mut list = StatusList::new(Bits::One, 8);
        assert_eq!(
            list.set(0, Status::Suspended),
            Err(StatusListError::StatusTooWide { value: 2, bits: 1 })
        );
        let mut list = StatusList::new(Bits::Four, 8);
        assert_eq!(
            list.set(0, Status::Other(0x10)),
            Err(StatusListError::StatusTooWide {
                value: 0x10,
                bits: 4
            })
        );
    }

    #[test]
    fn index_out_of_range_is_refused() {
        let mut list = StatusList::new(Bits::Two, 10);
        assert_eq!(
            list.get(10),
            Err(StatusListError::IndexOutOfRange { index: 10, len: 10 })
        );
        assert_eq!(
            list.set(usize::MAX, Status::Invalid),
            Err(StatusListError::IndexOutOfRange {
                index: usize::MAX as u64,
                len: 10
            })
        );
    }

    #[test]
    fn named_values_are_normalised() {
        assert_eq!(Status::from(0), Status::Valid);
        assert_eq!(Status::from(1), Status::Invalid);
        assert_eq!(Status::from(2), Status::Suspended);
        assert_eq!(Status::from(3), Status::Other(3));
        assert!(Status::Other(3).is_application_specific());
        assert!(Status::Other(0x0C).is_application_specific());
        assert!(Status::Other(0x0F).is_application_specific());
        assert!(!Status::Other(0x0B).is_application_specific());
        assert!(!Status::Other(0x10).is_application_specific());
    }

    #[test]
    fn json_members_are_checked() {
        let limit = 1024;
        let cases: Vec<(Value, StatusListError)> = vec![
            (
                serde_json::json!([]),
                StatusListError::InvalidStatusListMember {
                    member: "status_list",
                    expected: "an object",
                    found: "an array",
                },
            ),
            (
                serde_json::json!({"lst": "eNrbuRgAAhcBXQ"}),
                StatusListError::MissingStatusListMember("bits"),
            ),
            (
                serde_json::json!({"bits": 1}),
                StatusListError::MissingStatusListMember("lst"),
            ),
            (
                serde_json::json!({"bits": "1", "lst": "eNrbuRgAAhcBXQ"}),
                StatusListError::InvalidBits {
                    found: "a string".into(),
                },
            ),
            (
                serde_json::json!({"bits": 1.0, "lst": "eNrbuRgAAhcBXQ"}),
                StatusListError::InvalidBits {
                    found: "1.0".into(),
                },
            ),
            (
                serde_json::json!({"bits": -1, "lst": "eNrbuRgAAhcBXQ"}),
                StatusListError::InvalidBits { found: "-1".into() },
            ),
            (
                serde_json::json!({"bits": 1, "lst": 7}),
                StatusListError::InvalidStatusListMember {
                    member: "lst",
                    expected: "a string",
                    found: "an integer",
                },
            ),
            (
                serde_json::json!({"bits": 1, "lst": "eNrbuRgAAhcBXQ", "aggregation_uri": 1}),
                StatusListError::InvalidStatusListMember {
                    member: "aggregation_uri",
                    expected: "a string",
                    found: "an integer",
                },
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(
                StatusList::from_json(&value, limit),
                Err(expected),
                "{value}"
            );
        }
    }

    #[test]
    fn json_round_trip_keeps_aggregation_uri() {
        let mut list = StatusList::new(Bits::Two, 8).with_aggregation_uri("https://e.example/agg");
        list.set(5, Status::Suspended).unwrap();
        let json = list.to_json().unwrap();
        let again = StatusList::from_json(&json, 1024).unwrap();
        assert_eq!(again, list);
    }
}
