use serde_json::json;

use super::*;

fn key() -> DecryptionKey {
    DecryptionKey::generate(Curve::P256).expect("key generation")
}

fn encrypt(key: &DecryptionKey, plaintext: &[u8]) -> String {
    encrypt_compact(
        plaintext,
        key.public_jwk(),
        KeyManagement::EcdhEs,
        ContentEncryption::A128Gcm,
        &Map::new(),
    )
    .expect("encryption")
}

/// Re-encodes the protected header of `token` after `edit`.
fn with_header(token: &str, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut header: Map<String, Value> =
        serde_json::from_slice(&base64url::decode(&parts[0], "test").unwrap()).unwrap();
    edit(&mut header);
    parts[0] = base64url::encode(serde_json::to_vec(&header).unwrap());
    parts.join(".")
}

fn every_enc() -> Policy<'static> {
    Policy {
        content_encryption: ContentEncryption::SUPPORTED,
        ..Policy::default()
    }
}

#[test]
fn every_algorithm_pair_round_trips() {
    for curve in [Curve::P256, Curve::P384] {
        let key = DecryptionKey::generate(curve).unwrap();
        for alg in KeyManagement::ALL {
            for enc in ContentEncryption::SUPPORTED {
                let extra = json!({"typ":"oauth-authz-res+jwt"})
                    .as_object()
                    .unwrap()
                    .clone();
                let token =
                    encrypt_compact(b"secret", key.public_jwk(), *alg, *enc, &extra).unwrap();
                let decrypted = key.decrypt(&token, &every_enc()).expect("decrypts");
                assert_eq!(decrypted.plaintext, b"secret");
                assert_eq!(decrypted.header["alg"], alg.name());
                assert_eq!(decrypted.header["enc"], enc.name());
                assert_eq!(decrypted.header["kid"], key.public_jwk().kid().unwrap());
            }
        }
    }
}

/// The invalid-curve attack: (0, 2) lies on y^2 = x^3 - 3x + 4, a curve that shares P-256's
/// `a` but not its `b`, so it is a real point of a weaker curve, not of P-256.
#[test]
fn ephemeral_key_off_the_curve_is_refused() {
    let key = key();
    let mut y = [0u8; 32];
    y[31] = 2;
    let token = with_header(&encrypt(&key, b"x"), |h| {
        h.insert(
            "epk".into(),
            json!({"kty":"EC","crv":"P-256","x":base64url::encode([0u8; 32]),"y":base64url::encode(y)}),
        );
    });
    assert_eq!(
        key.decrypt(&token, &Policy::default()).unwrap_err(),
        Error::InvalidEphemeralKey(Box::new(Error::PointNotOnCurve))
    );
}

#[test]
fn ephemeral_key_with_private_member_or_other_curve_is_refused() {
    let key = key();
    let token = encrypt(&key, b"x");
    let with_d = with_header(&token, |h| {
        h["epk"]
            .as_object_mut()
            .unwrap()
            .insert("d".into(), json!("AAAA"));
    });
    assert_eq!(
        key.decrypt(&with_d, &Policy::default()).unwrap_err(),
        Error::InvalidEphemeralKey(Box::new(Error::PrivateKeyMember("d")))
    );
    let p384 = DecryptionKey::generate(Curve::P384).unwrap();
    let other_curve = with_header(&token, |h| {
        h.insert("epk".into(), Value::from(p384.public_jwk().clone()));
    });
    assert_eq!(
        key.decrypt(&other_curve, &Policy::default()).unwrap_err(),
        Error::InvalidEphemeralKey(Box::new(Error::UnsupportedCurve("P-384".into())))
    );
}

#[test]
fn compression_is_refused() {
    let key = key();
    let token = with_header(&encrypt(&key, b"x"), |h| {
        h.insert("zip".into(), json!("DEF"));
    });
    assert_eq!(
        key.decrypt(&token, &Policy::default()).unwrap_err(),
        Error::CompressionRefused
    );
}

#[test]
fn unsupported_or_disallowed_algorithms_are_refused() {
    let key = key();
    let token = encrypt(&key, b"x");
    for alg in ["RSA-OAEP", "dir", "ECDH-ES+A192KW", "A128KW"] {
        let edited = with_header(&token, |h| {
            h.insert("alg".into(), json!(alg));
        });
        assert_eq!(
            key.decrypt(&edited, &Policy::default()).unwrap_err(),
            Error::UnsupportedKeyManagement(alg.into())
        );
    }
    for enc in ["A128CBC-HS256", "A192GCM"] {
        let edited = with_header(&token, |h| {
            h.insert("enc".into(), json!(enc));
        });
        assert_eq!(
            key.decrypt(&edited, &Policy::default()).unwrap_err(),
            Error::UnsupportedContentEncryption(enc.into())
        );
    }
    let only_a256 = Policy {
        content_encryption: &[ContentEncryption::A256Gcm],
        ..Policy::default()
    };
    assert_eq!(
        key.decrypt(&token, &only_a256).unwrap_err(),
        Error::UnsupportedContentEncryption("A128GCM".into())
    );
}

#[test]
fn unknown_critical_header_is_refused() {
    let key = key();
    let token = with_header(&encrypt(&key, b"x"), |h| {
        h.insert("ext".into(), json!(true));
        h.insert("crit".into(), json!(["ext"]));
    });
    assert_eq!(
        key.decrypt(&token, &Policy::default()).unwrap_err(),
        Error::UnknownCritical("ext".into())
    );
}

#[test]
fn tampering_and_wrong_keys_fail_decryption() {
    let key = key();
    let token = encrypt(&key, b"attack at dawn");
    let mut parts: Vec<&str> = token.split('.').collect();
    let ciphertext = base64url::decode(parts[3], "test").unwrap();
    let mut flipped = ciphertext.clone();
    flipped[0] ^= 1;
    let flipped = base64url::encode(flipped);
    parts[3] = &flipped;
    assert_eq!(
        key.decrypt(&parts.join("."), &Policy::default())
            .unwrap_err(),
        Error::DecryptionFailed
    );
    assert_eq!(
        self::key().decrypt(&token, &Policy::default()).unwrap_err(),
        Error::DecryptionFailed
    );
    assert_eq!(
        key.decrypt("a.b.c.d", &Policy::default()).unwrap_err(),
        Error::MalformedJwe("a compact JWE has five parts")
    );
}

#[test]
fn encrypting_to_a_signature_key_is_refused() {
    let signing_key =
        crate::Signer::public_jwk(&crate::SoftwareSigner::generate().unwrap()).clone();
    let signing_key = signing_key.with_use(KeyUse::Sig);
    assert_eq!(
        encrypt_compact(
            b"x",
            &signing_key,
            KeyManagement::EcdhEs,
            ContentEncryption::A128Gcm,
            &Map::new()
        )
        .unwrap_err(),
        Error::KeyAlgorithmMismatch("ECDH-ES")
    );
}

fn encrypt_cbc(key: &DecryptionKey, plaintext: &[u8]) -> String {
    encrypt_compact(
        plaintext,
        key.public_jwk(),
        KeyManagement::EcdhEs,
        ContentEncryption::A128CbcHs256,
        &Map::new(),
    )
    .expect("encryption")
}

/// Replaces part `index` (0 header, 2 IV, 3 ciphertext, 4 tag) after `edit` of its bytes.
fn with_part(token: &str, index: usize, edit: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut bytes = base64url::decode(&parts[index], "test").unwrap();
    edit(&mut bytes);
    parts[index] = base64url::encode(bytes);
    parts.join(".")
}

#[test]
fn a128cbc_hs256_round_trips_every_block_boundary() {
    let key = key();
    // Lengths around the 16-byte block size: the PKCS#7 padding is 1 to 16 bytes.
    for length in [0, 1, 15, 16, 17, 32, 1000] {
        let plaintext = vec![0x5Au8; length];
        let decrypted = key
            .decrypt(&encrypt_cbc(&key, &plaintext), &every_enc())
            .expect("decrypts");
        assert_eq!(decrypted.plaintext, plaintext);
        assert_eq!(decrypted.header["enc"], "A128CBC-HS256");
    }
}

/// RFC 7518 s5.2.2.2: any change to the header (the AAD), IV, ciphertext or tag fails the
/// tag check, before the padding is looked at.
#[test]
fn a128cbc_hs256_with_a_tampered_tag_iv_ciphertext_or_header_is_refused() {
    let key = key();
    let token = encrypt_cbc(&key, b"attack at dawn");
    let tampered = [
        with_part(&token, 4, |tag| tag[0] ^= 1),
        with_part(&token, 2, |iv| iv[15] ^= 1),
        with_part(&token, 3, |ciphertext| ciphertext[0] ^= 1),
        // The last block decides the padding: flipping it would be a padding oracle probe.
        with_part(&token, 3, |ciphertext| {
            let last = ciphertext.len() - 1;
            ciphertext[last] ^= 1;
        }),
        with_header(&token, |h| {
            h.insert("kid".into(), json!("another"));
        }),
    ];
    for token in tampered {
        assert_eq!(
            key.decrypt(&token, &every_enc()).unwrap_err(),
            Error::DecryptionFailed
        );
    }
}

#[test]
fn a128cbc_hs256_is_accepted_only_when_the_policy_names_it() {
    let key = key();
    assert_eq!(
        key.decrypt(&encrypt_cbc(&key, b"x"), &Policy::default())
            .unwrap_err(),
        Error::UnsupportedContentEncryption("A128CBC-HS256".into())
    );
}

/// The tag computation agrees with josekit's (which produced the token), byte for byte.
#[test]
fn a128cbc_hs256_decrypter_reads_what_josekit_writes() {
    use josekit::jwe::JweContentEncryption;
    let cek: Vec<u8> = (0u8..32).collect();
    let iv = [7u8; 16];
    let aad = b"eyJhbGciOiJFQ0RILUVTIn0";
    let (ciphertext, tag) = josekit::jwe::enc::A128CBC_HS256
        .encrypt(&cek, Some(&iv), b"interoperable", aad)
        .unwrap();
    let tag = tag.unwrap();
    let ours = cbc_hmac::A128CbcHs256;
    assert_eq!(
        ours.decrypt(&cek, Some(&iv), &ciphertext, aad, Some(&tag))
            .unwrap(),
        b"interoperable"
    );
    let mut wrong_tag = tag.clone();
    wrong_tag[15] ^= 0x80;
    assert!(
        ours.decrypt(&cek, Some(&iv), &ciphertext, aad, Some(&wrong_tag))
            .is_err()
    );
    assert!(
        ours.decrypt(&cek[..16], Some(&iv), &ciphertext, aad, Some(&tag))
            .is_err()
    );
    assert!(
        ours.decrypt(&cek, None, &ciphertext, aad, Some(&tag))
            .is_err()
    );
    assert!(
        ours.decrypt(&cek, Some(&iv), &ciphertext, aad, None)
            .is_err()
    );
}

/// RFC 7518 s5.3 and s5.2.3: the IV and the tag have exactly the lengths `enc` defines; a
/// truncated GCM tag (1 to 15 bytes), a longer one, or another IV length is refused before
/// anything is decrypted.
#[test]
fn an_iv_or_tag_of_another_length_is_refused() {
    let key = key();
    for (token, iv_len) in [(encrypt(&key, b"gcm"), 12), (encrypt_cbc(&key, b"cbc"), 16)] {
        key.decrypt(&token, &every_enc())
            .expect("the untouched token decrypts");
        for tag_len in (0..16).chain([17, 32]) {
            let edited = with_part(&token, 4, |tag| tag.resize(tag_len, 0));
            assert_eq!(
                key.decrypt(&edited, &every_enc()).unwrap_err(),
                Error::MalformedJwe("the authentication tag has the wrong length for enc"),
                "tag of {tag_len} bytes"
            );
        }
        for length in [0, 8, 11, 13, 15, 17, 32]
            .into_iter()
            .filter(|&l| l != iv_len)
        {
            let edited = with_part(&token, 2, |iv| iv.resize(length, 0));
            assert_eq!(
                key.decrypt(&edited, &every_enc()).unwrap_err(),
                Error::MalformedJwe("the IV has the wrong length for enc"),
                "IV of {length} bytes"
            );
        }
    }
}
