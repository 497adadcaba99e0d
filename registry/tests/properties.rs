//! No JWK holding a private member is ever stored, whatever else it holds.
mod common;

use common::*;
use immerse_jose::{Signer, SoftwareSigner};
use immerse_registry::{AdminKey, RegistryError};
use proptest::prelude::*;
use serde_json::{Value, json};

fn member_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[A-Za-z0-9_-]{0,64}".prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(Value::Null),
        Just(json!({})),
        Just(json!([])),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn no_jwk_with_a_private_member_is_stored(
        members in prop::collection::btree_map(
            prop::sample::select(vec!["d", "p", "q", "dp", "dq", "qi", "oth", "k"]),
            member_value(),
            1..4,
        ),
        kty in prop::sample::select(vec!["EC", "RSA", "OKP", "oct"]),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let clock = TestClock::new();
            let registry = registry(&clock).await;
            enrol(&registry, "https://issuer.test").await;
            let mut jwk = SoftwareSigner::generate().unwrap().public_jwk().to_object();
            jwk.insert("kty".into(), json!(kty));
            for (name, value) in members {
                jwk.insert(name.to_owned(), value);
            }
            let request: AdminKey = serde_json::from_value(json!({"jwk": jwk, "alg": "ES256"})).unwrap();
            let result = registry.add_key("admin:test", "https://issuer.test", request).await;
            prop_assert!(matches!(result, Err(RegistryError::InvalidKey(_))), "{result:?}");
            prop_assert!(registry.keys("https://issuer.test").await.unwrap().is_empty());
            Ok(())
        })?;
    }
}
