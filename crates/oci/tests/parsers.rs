//! Property tests for the reference and digest parsers: valid inputs round-trip through
//! Display, arbitrary inputs give an error or a value, never a panic.

use immerse_oci::{Digest, ImageRef, Manifest};
use proptest::prelude::*;

fn component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,8}((\\.|_|__|-{1,3})[a-z0-9]{1,8}){0,2}"
}

fn registry() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]{1,10}\\.[a-z]{2,5}".prop_map(|h| h),
        ("[a-z0-9]{1,10}\\.[a-z]{2,5}", 1u16..).prop_map(|(h, p)| format!("{h}:{p}")),
        (1u16..).prop_map(|p| format!("127.0.0.1:{p}")),
        Just("localhost:5000".to_owned()),
        Just("[::1]:5000".to_owned()),
    ]
}

proptest! {
    #[test]
    fn valid_references_round_trip(
        registry in registry(),
        path in prop::collection::vec(component(), 1..4),
        tag in proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
        digest in proptest::option::of(prop::array::uniform32(any::<u8>())),
    ) {
        let repository = path.join("/");
        let digest = digest.map(|d| Digest::parse(&format!("sha256:{}", hex::encode(d))).unwrap());
        let mut text = format!("{registry}/{repository}");
        if let Some(t) = &tag { text.push(':'); text.push_str(t); }
        if let Some(d) = &digest { text.push('@'); text.push_str(&d.to_string()); }
        let parsed = ImageRef::parse(&text).unwrap();
        prop_assert_eq!(parsed.registry(), registry.as_str());
        prop_assert_eq!(parsed.repository(), repository.as_str());
        prop_assert_eq!(parsed.tag(), tag.as_deref());
        prop_assert_eq!(parsed.digest(), digest.as_ref());
        prop_assert_eq!(parsed.to_string(), text);
    }

    #[test]
    fn reference_parser_never_panics(s in "\\PC{0,80}") {
        if let Ok(r) = ImageRef::parse(&s) {
            // Whatever parses re-parses to itself.
            prop_assert_eq!(ImageRef::parse(&r.to_string()).unwrap(), r);
        }
    }

    #[test]
    fn digests_round_trip(bytes in prop::array::uniform32(any::<u8>())) {
        let text = format!("sha256:{}", hex::encode(bytes));
        let d = Digest::parse(&text).unwrap();
        prop_assert_eq!(d.as_bytes(), &bytes);
        prop_assert_eq!(d.to_string(), text);
    }

    #[test]
    fn digest_parser_accepts_only_canonical_form(s in "(sha256:)?[0-9a-fA-F:]{0,70}") {
        let canonical = s.len() == 71 && s.starts_with("sha256:") && s[7..].bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        prop_assert_eq!(Digest::parse(&s).is_ok(), canonical);
    }

    #[test]
    fn manifest_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Manifest::parse(&bytes, None);
    }
}
