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

#[test]
fn every_algorithm_pair_round_trips() {
    for curve in [Curve::P256, Curve::P384] {
        let key = DecryptionKey::generate(curve).unwrap();
        for alg in KeyManagement::ALL {
            for enc in ContentEncryption::ALL {
                let extra = json!({"typ":"oauth-authz-res+jwt"})
                    .as_object()
                    .unwrap()
                    .clone();
                let token =
                    encrypt_compact(b"secret", key.public_jwk(), *alg, *enc, &extra).unwrap();
                let decrypted = key.decrypt(&token, &Policy::default()).expect("decrypts");
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
