//! The in-toto Timestamp field type (spec/v1/field_types.md): RFC 3339 in UTC, with `Z`.
//! No time crate: this is a parser of one fixed shape and a formatter from Unix seconds.

use crate::error::SlsaError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An RFC 3339 UTC timestamp `YYYY-MM-DDThh:mm:ss[.fraction]Z`, kept as the text that was
/// parsed or generated (so re-serialising is byte-identical).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timestamp(String);

impl Timestamp {
    /// Parse, refusing offsets other than `Z`, out-of-range fields and days that do not exist.
    pub fn parse(text: &str) -> Result<Self, SlsaError> {
        if is_rfc3339_utc(text.as_bytes()) {
            Ok(Timestamp(text.to_owned()))
        } else {
            Err(SlsaError::InvalidTimestamp(text.to_owned()))
        }
    }

    /// Format whole seconds since the Unix epoch (1970-01-01T00:00:00Z), for years 0..=9999.
    pub fn from_unix(seconds: i64) -> Result<Self, SlsaError> {
        let days = seconds.div_euclid(86_400);
        let secs = seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            return Err(SlsaError::InvalidTimestamp(format!(
                "{seconds} s since the epoch"
            )));
        }
        Ok(Timestamp(format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            (secs % 3600) / 60,
            secs % 60
        )))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Timestamp {
    type Error = SlsaError;
    fn try_from(text: String) -> Result<Self, SlsaError> {
        Timestamp::parse(&text)
    }
}

impl From<Timestamp> for String {
    fn from(t: Timestamp) -> String {
        t.0
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
}

fn is_rfc3339_utc(b: &[u8]) -> bool {
    // YYYY-MM-DDThh:mm:ss = 19 bytes, then optional .fraction, then Z.
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return false;
    }
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        digits(&b[0..4]),
        digits(&b[5..7]),
        digits(&b[8..10]),
        digits(&b[11..13]),
        digits(&b[14..16]),
        digits(&b[17..19]),
    ) else {
        return false;
    };
    let rest = &b[19..];
    let zone_ok = match rest {
        [b'Z'] => true,
        [b'.', fraction @ .., b'Z'] => {
            !fraction.is_empty() && fraction.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    };
    // Seconds may be 60 on a leap second (RFC 3339 s5.7).
    zone_ok
        && (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && hour < 24
        && minute < 60
        && second <= 60
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's `civil_from_days`: proleptic Gregorian date of a day count from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_with_and_without_fraction() {
        for ok in [
            "2023-05-16T19:58:49Z",
            "2024-02-29T00:00:00.123456789Z",
            "2016-12-31T23:59:60Z",
        ] {
            assert!(Timestamp::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_offsets_bad_dates_and_junk() {
        for bad in [
            "2023-05-16T19:58:49+00:00",
            "2023-05-16 19:58:49Z",
            "2023-02-29T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-01-01T24:00:00Z",
            "2023-01-01T00:00:00.Z",
            "2023-01-01T00:00:00z",
            "",
        ] {
            assert_eq!(
                Timestamp::parse(bad),
                Err(SlsaError::InvalidTimestamp(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn formats_unix_seconds() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_740_517_930, "2025-02-25T21:12:10Z"),
            (-1, "1969-12-31T23:59:59Z"),
        ];
        for (secs, text) in cases {
            assert_eq!(
                Timestamp::from_unix(secs).map(String::from),
                Ok(text.to_owned())
            );
        }
        assert!(Timestamp::from_unix(i64::MAX / 2).is_err());
    }
}
