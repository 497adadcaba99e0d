//! Arbitrary bytes as an OCI/Docker manifest or index, with and without a Content-Type, and as
//! a cosign simple-signing payload: an error or a value, never a panic; what parses serialises
//! and parses again to the same value.
#![no_main]
use immerse_oci::cosign::SimpleSigning;
use immerse_oci::manifest::{ACCEPTED_MANIFEST_TYPES, Manifest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the Content-Type the bytes "arrived" with.
    let (content_type, body) = match data.split_first() {
        Some((selector, rest)) => (
            ACCEPTED_MANIFEST_TYPES
                .get(usize::from(*selector) % 5)
                .copied(),
            rest,
        ),
        None => (None, data),
    };
    if let Ok(manifest) = Manifest::parse(body, content_type) {
        let json = match &manifest {
            Manifest::Image(m) => m.to_json(),
            Manifest::Index(i) => i.to_json(),
        };
        let again = Manifest::parse(&json, None).expect("a parsed manifest re-parses");
        assert_eq!(again.media_type(), manifest.media_type());
    }
    let _ = SimpleSigning::parse(body);
});
