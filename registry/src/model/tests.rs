use super::*;
use immerse_jose::{Signer, SoftwareSigner};

const T0: i64 = 1_800_000_000;
const HOUR: i64 = 3600;

fn key() -> KeyRecord {
    let jwk = SoftwareSigner::generate().unwrap().public_jwk().clone();
    KeyRecord {
        kid: jwk.thumbprint_b64(),
        entity_id: "https://issuer.example".into(),
        jwk,
        key_use: KeyUseName::Sig,
        alg: "ES256".into(),
        nbf: Some(T0),
        exp: Some(T0 + 100 * HOUR),
        status: KeyStatus::Active,
        created_at: T0,
        retired_at: None,
        revoked_at: None,
        revocation_reason: None,
        log_index: 0,
    }
}

#[test]
fn validity_follows_one_rule() {
    let retention = Retention(48 * HOUR);
    let active = key();
    let retired = KeyRecord {
        status: KeyStatus::Retired,
        retired_at: Some(T0 + 10 * HOUR),
        ..key()
    };
    let superseded = KeyRecord {
        status: KeyStatus::Revoked,
        revoked_at: Some(T0 + 10 * HOUR),
        revocation_reason: Some(RevocationReason::Superseded),
        ..key()
    };
    let compromised = KeyRecord {
        revocation_reason: Some(RevocationReason::Compromised),
        ..superseded.clone()
    };
    let cases = [
        (&active, T0 - 1, Err(KeyInvalid::NotYetValid)),
        (&active, T0, Ok(())),
        (&active, T0 + 100 * HOUR, Err(KeyInvalid::Expired)),
        (&retired, T0 + 11 * HOUR, Ok(())),
        (&retired, T0 + 58 * HOUR - 1, Ok(())),
        (&retired, T0 + 58 * HOUR, Err(KeyInvalid::Retired)),
        (&superseded, T0 + 10 * HOUR - 1, Ok(())),
        (&superseded, T0 + 10 * HOUR, Err(KeyInvalid::Revoked)),
        (&compromised, T0 + HOUR, Err(KeyInvalid::Revoked)),
    ];
    for (key, at, expected) in cases {
        assert_eq!(
            key_valid_at(key, EntityStatus::Active, at, retention),
            expected,
            "{:?} at {at}",
            key.status
        );
    }
    assert_eq!(
        key_valid_at(&active, EntityStatus::Suspended, T0 + HOUR, retention),
        Err(KeyInvalid::EntitySuspended)
    );
}

#[test]
fn rows_round_trip_and_a_kid_that_is_not_the_thumbprint_is_corrupt() {
    let record = key();
    assert_eq!(KeyRecord::try_from(record.to_row()).unwrap(), record);
    let mut row = record.to_row();
    row.kid = "someone-else".into();
    assert!(matches!(
        KeyRecord::try_from(row),
        Err(RegistryError::Corrupt(_))
    ));
}
