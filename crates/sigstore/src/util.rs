//! Small shared helpers: strict base64, RFC 3339 times, SHA-256.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

/// Standard base64 with padding (protobuf JSON `bytes`, RFC 4648 s4). Strict: no whitespace.
pub(crate) fn b64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Days from 1970-01-01 to a civil date (H. Hinnant's algorithm), for RFC 3339 and ASN.1 times.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_seconds(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + s))
}

fn digits(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (protobuf Timestamp JSON, RFC 3339 in UTC) as Unix
/// seconds; fractions are truncated.
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let time = match time.split_once('.') {
        Some((whole, frac)) if !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit()) => {
            whole
        }
        Some(_) => return None,
        None => time,
    };
    let mut d = date.split('-');
    let mut t = time.split(':');
    let (y, mo, dd) = (d.next()?, d.next()?, d.next()?);
    let (h, mi, s) = (t.next()?, t.next()?, t.next()?);
    if d.next().is_some() || t.next().is_some() || y.len() != 4 {
        return None;
    }
    civil_seconds(
        i64::from(digits(y)?),
        digits(mo)?,
        digits(dd)?,
        digits(h)?,
        digits(mi)?,
        digits(s)?,
    )
}

/// ASN.1 GeneralizedTime `YYYYMMDDHHMMSS[.fraction]Z` (RFC 3161 s2.4.2 requires UTC, `Z`).
pub(crate) fn parse_generalized_time(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let whole = match text.split_once('.') {
        Some((whole, frac)) if !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit()) => {
            whole
        }
        Some(_) => return None,
        None => text,
    };
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| whole.get(r).and_then(digits);
    civil_seconds(
        i64::from(n(0..4)?),
        n(4..6)?,
        n(6..8)?,
        n(8..10)?,
        n(10..12)?,
        n(12..14)?,
    )
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn format_rfc3339(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Unix seconds as GeneralizedTime text.
#[cfg_attr(not(feature = "test-instance"), allow(dead_code))]
pub(crate) fn format_generalized_time(t: i64) -> String {
    format_rfc3339(t).replace(['-', ':', 'T'], "")
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Seconds since the Unix epoch of an OpenSSL ASN.1 time.
pub(crate) fn asn1_time_to_unix(time: &openssl::asn1::Asn1TimeRef) -> Option<i64> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let diff = epoch.diff(time).ok()?;
    Some(i64::from(diff.days) * 86_400 + i64::from(diff.secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2022-04-14T21:38:40Z"), Some(1_649_972_320));
        assert_eq!(
            parse_rfc3339("2022-04-14T21:38:40.123Z"),
            Some(1_649_972_320)
        );
        assert_eq!(parse_rfc3339("2022-04-14 21:38:40Z"), None);
        assert_eq!(parse_rfc3339("2022-04-14T21:38:40+01:00"), None);
        assert_eq!(format_rfc3339(1_649_972_320), "2022-04-14T21:38:40Z");
        assert_eq!(
            parse_generalized_time("20220414213840Z"),
            Some(1_649_972_320)
        );
        assert_eq!(
            parse_generalized_time("20220414213840.5Z"),
            Some(1_649_972_320)
        );
        assert_eq!(format_generalized_time(1_649_972_320), "20220414213840Z");
        assert_eq!(parse_generalized_time("2022041421384Z"), None);
    }
}
