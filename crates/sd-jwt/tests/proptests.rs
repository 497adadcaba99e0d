//! Properties: issue -> present(any subset) -> verify reveals exactly the chosen claims; the
//! verifier and the holder's parser never panic on arbitrary input.
mod common;

use std::collections::BTreeSet;
use std::sync::LazyLock;

use common::*;
use immerse_jose::{Signer, SoftwareSigner};
use immerse_sd_jwt::{
    ClaimPath, DisclosurePolicy, IssueOptions, KeyBindingInput, Limits, PathElement, SdJwt, issue,
    present, verify,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

static ISSUER: LazyLock<SoftwareSigner> = LazyLock::new(signer);
static HOLDER: LazyLock<SoftwareSigner> = LazyLock::new(signer);

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// A small claims object: scalars, objects of scalars and arrays of scalars.
fn claims() -> impl Strategy<Value = Map<String, Value>> {
    let scalar = prop_oneof![
        any::<i32>().prop_map(Value::from),
        "[a-zA-Z0-9 äöü]{0,8}".prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
    ];
    let member = prop_oneof![
        scalar.clone(),
        prop::collection::btree_map("[a-e]", scalar.clone(), 1..4)
            .prop_map(|members| Value::Object(members.into_iter().collect())),
        prop::collection::vec(scalar, 1..4).prop_map(Value::Array),
    ];
    prop::collection::btree_map("[k-t]{1,3}", member, 1..6)
        .prop_map(|members| members.into_iter().collect())
}

/// Every path into `claims` (top-level members, their members and elements).
fn all_paths(claims: &Map<String, Value>) -> Vec<ClaimPath> {
    let mut paths = Vec::new();
    for (name, value) in claims {
        let top = ClaimPath::claim(name);
        paths.push(top.clone());
        match value {
            Value::Object(members) => {
                paths.extend(members.keys().map(|member| top.clone().name(member)));
            }
            Value::Array(items) => paths.extend((0..items.len()).map(|i| top.clone().index(i))),
            _ => {}
        }
    }
    paths
}

fn pick(paths: &[ClaimPath], mask: &[bool]) -> BTreeSet<ClaimPath> {
    paths
        .iter()
        .zip(mask.iter().cycle())
        .filter(|(_, keep)| **keep)
        .map(|(path, _)| path.clone())
        .collect()
}

fn lookup<'a>(claims: &'a Map<String, Value>, path: &ClaimPath) -> Option<&'a Value> {
    let mut current: Option<&Value> = None;
    for (position, element) in path.elements().iter().enumerate() {
        current = match (position, current, element) {
            (0, _, PathElement::Name(name)) => claims.get(name),
            (_, Some(Value::Object(members)), PathElement::Name(name)) => members.get(name),
            _ => return None,
        };
    }
    current
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_reveals_exactly_the_chosen_claims(
        mut claims in claims(),
        policy_mask in prop::collection::vec(any::<bool>(), 1..24),
        selection_mask in prop::collection::vec(any::<bool>(), 1..24),
        decoys in 0usize..3,
    ) {
        claims.insert("exp".into(), json!(NOW + 3600));
        let paths = all_paths(&claims);
        let exp = ClaimPath::claim("exp");
        let sd_paths: Vec<ClaimPath> =
            pick(&paths, &policy_mask).into_iter().filter(|p| *p != exp).collect();
        let policy = sd_paths
            .iter()
            .fold(DisclosurePolicy::new(), |policy, path| policy.disclose(path.clone()));
        let selection: Vec<ClaimPath> = pick(&sd_paths, &selection_mask).into_iter().collect();

        let options = IssueOptions::default()
            .decoys(decoys)
            .holder_key(HOLDER.public_jwk().clone());
        let issued = block_on(issue(&*ISSUER, Value::Object(claims.clone()), &policy, &options))
            .expect("issues");
        prop_assert_eq!(issued.disclosures().len(), sd_paths.len());
        // The holder stores the compact text and parses it back.
        let stored = SdJwt::parse(&issued.to_compact(), &Limits::default()).expect("parses");
        let input = KeyBindingInput { audience: AUDIENCE, nonce: NONCE, issued_at: Some(NOW) };
        let presentation = block_on(present(
            &stored,
            &selection,
            Some((&*HOLDER as &dyn Signer, input)),
            &Limits::default(),
        ))
        .expect("presents");
        let verified = verify(&presentation, &kb_validation(), ISSUER.public_jwk())
            .expect("verifies");

        // Revealed: each selected claim, what lies on the way to it and everything inside it.
        let expected: BTreeSet<ClaimPath> = sd_paths
            .iter()
            .filter(|p| selection.iter().any(|s| p.is_prefix_of(s) || s.is_prefix_of(p)))
            .cloned()
            .collect();
        let disclosed: BTreeSet<ClaimPath> =
            verified.disclosed_paths().iter().cloned().collect();
        prop_assert_eq!(&disclosed, &expected);

        for path in &paths {
            let named_only =
                path.elements().iter().all(|e| matches!(e, PathElement::Name(_)));
            let hidden_by = sd_paths.iter().find(|p| p.is_prefix_of(path) && !expected.contains(*p));
            match (named_only, hidden_by) {
                // Not revealed: the claim must not appear.
                (true, Some(_)) => prop_assert!(lookup(verified.claims(), path).is_none()),
                // Always visible or revealed: the claim appears with a value equal to the
                // original, once undisclosed members below it are left out.
                (true, None) => {
                    let shown = lookup(verified.claims(), path).expect("visible claim");
                    let original = lookup(&claims, path).expect("original claim");
                    if !sd_paths.iter().any(|p| path.is_prefix_of(p) && !expected.contains(p)) {
                        prop_assert_eq!(shown, original);
                    }
                }
                _ => {}
            }
        }
    }

    #[test]
    fn verifier_never_panics_on_arbitrary_text(text in "[A-Za-z0-9_~.\\-=+/]{0,400}") {
        let _ = verify(&text, &kb_validation(), ISSUER.public_jwk());
        let _ = SdJwt::parse(&text, &Limits::default());
    }

    #[test]
    fn verifier_never_panics_on_mutated_presentations(
        position in any::<prop::sample::Index>(),
        byte in prop_oneof![Just(b'~'), Just(b'.'), Just(b'A'), Just(b'_'), any::<u8>()],
        delete in any::<bool>(),
    ) {
        let mut bytes = VALID.as_bytes().to_vec();
        let index = position.index(bytes.len());
        if delete { bytes.remove(index); } else { bytes[index] = byte; }
        let text = String::from_utf8_lossy(&bytes);
        let _ = verify(&text, &kb_validation(), ISSUER.public_jwk());
        let _ = SdJwt::parse(&text, &Limits::default());
    }
}

/// A valid presentation with nested and array disclosures and a KB-JWT, to mutate.
static VALID: LazyLock<String> = LazyLock::new(|| {
    let claims = json!({
        "exp": NOW + 3600,
        "address": {"street": "Main St", "city": "Springfield"},
        "nationalities": ["DE", "FR"],
    });
    let policy = DisclosurePolicy::new()
        .disclose(ClaimPath::claim("address"))
        .disclose(ClaimPath::claim("address").name("street"))
        .disclose(ClaimPath::claim("nationalities").index(1));
    let options = IssueOptions::default().holder_key(HOLDER.public_jwk().clone());
    let issued = block_on(issue(&*ISSUER, claims, &policy, &options)).expect("issues");
    let input = KeyBindingInput {
        audience: AUDIENCE,
        nonce: NONCE,
        issued_at: Some(NOW),
    };
    let selection = [
        ClaimPath::claim("address"),
        ClaimPath::claim("nationalities").index(1),
    ];
    let text = block_on(present(
        &issued,
        &selection,
        Some((&*HOLDER, input)),
        &Limits::default(),
    ))
    .expect("presents");
    verify(&text, &kb_validation(), ISSUER.public_jwk()).expect("the baseline verifies");
    text
});
