//! `ImagePolicy`, the cluster-scoped custom resource (and the same document in YAML files for
//! use without a cluster). The CRD in deploy/ is generated from these types
//! (`immerse admission crd`), so the schema the API server enforces and the one this crate
//! parses cannot drift apart.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which images a policy governs, who must have signed them, what they must attest, and where.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "immerse.dev",
    version = "v1alpha1",
    kind = "ImagePolicy",
    plural = "imagepolicies",
    shortname = "imgpol",
    doc = "Images matching `images` are admitted only when signed by `threshold` of `authorities` and carrying every required attestation."
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImagePolicySpec {
    /// Image name patterns (`registry/repository`, no tag or digest). `*` matches within one
    /// path segment, `**` across segments, `?` one character other than `/`.
    pub images: Vec<String>,
    /// Who may sign the images.
    pub authorities: Vec<Authority>,
    /// How many distinct authorities must have signed (N of M); 1 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u32>,
    /// Signed attestations every image must carry, each from one of the authorities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attestations: Vec<AttestationRequirement>,
    /// `enforce` (deny on failure, the default) or `warn` (admit with a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// The namespaces this policy governs; absent means every namespace the webhook sees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Enforce,
    Warn,
}

/// One signer. Exactly one of `key`, `registryEntity` and `keyless` is set.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Authority {
    /// Named in denials and metrics.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyAuthority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_entity: Option<RegistryEntityAuthority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyless: Option<KeylessAuthority>,
}

/// A public key (PEM: ECDSA P-256/P-384, Ed25519, RSA of 2048 bits or more).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyAuthority {
    pub public_key: String,
    /// Accept signatures that have no transparency-log entry (private signing without Rekor).
    #[serde(default)]
    pub allow_missing_tlog: bool,
}

/// The current verification keys of a Key Registry entity, as the registry's signed
/// statement lists them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistryEntityAuthority {
    pub entity: String,
    /// The role the entity must have in the registry (`issuer`, `verifier`, `attester`,
    /// `wallet-provider`): an entity of another role, or a suspended one, signs nothing here.
    pub role: String,
    /// Accept signatures that have no transparency-log entry.
    #[serde(default)]
    pub allow_missing_tlog: bool,
}

/// A Fulcio certificate identity: the OIDC issuer and the subject (SAN), each exact or an
/// anchored regular expression (exactly one of each pair).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeylessAuthority {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_reg_exp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_reg_exp: Option<String>,
}

/// A signed in-toto attestation the image must carry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttestationRequirement {
    /// Named in denials.
    pub name: String,
    /// The in-toto predicate type, e.g. `https://slsa.dev/provenance/v1`.
    pub predicate_type: String,
    /// Required (and only allowed) for SLSA provenance predicate types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slsa: Option<SlsaRequirement>,
}

/// What SLSA provenance must say (slsa-verifier's checks).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlsaRequirement {
    /// Trusted builders and the SLSA build level each achieves.
    pub builders: Vec<TrustedBuilder>,
    /// Builders below this level are not accepted (0 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_build_level: Option<u8>,
    /// The source repository, e.g. `github.com/immerse/immerse`.
    pub source_uri: String,
    /// At most one of branch, tag and versioned tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_tag: Option<String>,
    /// A semantic-version tag prefix: `v1` accepts `v1.4.2`, refuses `v2.0.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_versioned_tag: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrustedBuilder {
    /// The builder id (`runDetails.builder.id`), with `@ref` forms as slsa-verifier reads them.
    pub id: String,
    /// The SLSA build level this builder meets (1 to 3).
    pub build_level: u8,
}

/// A Kubernetes label selector (metav1.LabelSelector), evaluated against namespace labels.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: SelectorOperator,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl LabelSelector {
    /// metav1 semantics: every `matchLabels` pair and every expression must hold; an empty
    /// selector matches everything.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|e| {
                let value = labels.get(&e.key);
                match e.operator {
                    SelectorOperator::In => value.is_some_and(|v| e.values.contains(v)),
                    SelectorOperator::NotIn => value.is_none_or(|v| !e.values.contains(v)),
                    SelectorOperator::Exists => value.is_some(),
                    SelectorOperator::DoesNotExist => value.is_none(),
                }
            })
    }
}

/// The CRD as YAML, for deploy/ (a test keeps the committed file equal to this).
pub fn crd_yaml() -> Result<String, serde_saphyr::SerializeError> {
    use kube::CustomResourceExt;
    let header = "# Generated by `immerse admission crd` from policy/src/spec.rs; do not edit.\n";
    Ok(format!(
        "{header}{}",
        serde_saphyr::to_string(&ImagePolicy::crd())?
    ))
}
