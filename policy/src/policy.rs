//! Policies compiled for enforcement: every pattern, key and regular expression checked once at
//! load, so that a policy that cannot be enforced as written is refused up front, never
//! half-applied at admission time.

use std::collections::BTreeMap;
use std::path::Path;

use immerse_registry::model::Role;
use immerse_sigstore::{IdentityPolicy, Matcher, VerificationKey};
use immerse_slsa::{SLSA_PROVENANCE_V0_2, SLSA_PROVENANCE_V1, SourceRefPolicy};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::error::PolicyError;
use crate::glob::ImageGlob;
use crate::spec::{Authority, ImagePolicy, ImagePolicySpec, LabelSelector, Mode, SlsaRequirement};

/// The most a policy file may hold; policies are small documents.
const MAX_POLICY_FILE: u64 = 1 << 20;

/// Who an authority is, ready to verify with.
#[derive(Debug, Clone)]
pub enum Signer {
    Key {
        key: VerificationKey,
        allow_missing_tlog: bool,
    },
    /// Keys are looked up in the Key Registry at verification time (they rotate).
    RegistryEntity {
        entity: String,
        role: Role,
        allow_missing_tlog: bool,
    },
    Keyless(IdentityPolicy),
}

#[derive(Debug, Clone)]
pub struct CompiledAuthority {
    pub name: String,
    pub signer: Signer,
}

/// An SLSA provenance requirement: the builders at or above the minimum level, and the source.
#[derive(Debug, Clone)]
pub struct CompiledAttestation {
    pub name: String,
    pub predicate_type: String,
    pub builder_ids: Vec<String>,
    pub source_uri: String,
    pub source_ref: Option<SourceRefPolicy>,
}

#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    pub name: String,
    /// SHA-256 of the spec as JSON, hex: part of every cache key, so a changed policy re-runs
    /// every check.
    pub hash: String,
    pub images: Vec<ImageGlob>,
    pub authorities: Vec<CompiledAuthority>,
    pub threshold: usize,
    pub attestations: Vec<CompiledAttestation>,
    pub mode: Mode,
    pub namespace_selector: Option<LabelSelector>,
}

impl CompiledPolicy {
    pub fn compile(name: &str, spec: &ImagePolicySpec) -> Result<Self, PolicyError> {
        let invalid = |reason: String| PolicyError::InvalidPolicy {
            policy: name.to_owned(),
            reason,
        };
        if spec.images.is_empty() {
            return Err(invalid("images is empty".into()));
        }
        let images = spec
            .images
            .iter()
            .map(|p| ImageGlob::new(p).map_err(&invalid))
            .collect::<Result<Vec<_>, _>>()?;
        if spec.authorities.is_empty() {
            return Err(invalid("authorities is empty".into()));
        }
        let mut authorities = Vec::with_capacity(spec.authorities.len());
        for authority in &spec.authorities {
            if authorities
                .iter()
                .any(|a: &CompiledAuthority| a.name == authority.name)
            {
                return Err(invalid(format!(
                    "authority {:?} is named twice",
                    authority.name
                )));
            }
            authorities.push(compile_authority(authority).map_err(&invalid)?);
        }
        let threshold = spec.threshold.unwrap_or(1) as usize;
        if threshold == 0 || threshold > authorities.len() {
            return Err(invalid(format!(
                "threshold {threshold} must be between 1 and the {} authorities",
                authorities.len()
            )));
        }
        let attestations = spec
            .attestations
            .iter()
            .map(|a| {
                let is_slsa = a.predicate_type == SLSA_PROVENANCE_V1
                    || a.predicate_type == SLSA_PROVENANCE_V0_2;
                match (&a.slsa, is_slsa) {
                    (Some(slsa), true) => compile_slsa(&a.name, &a.predicate_type, slsa),
                    (None, true) => Err(format!(
                        "attestation {:?}: SLSA provenance needs its `slsa` requirements",
                        a.name
                    )),
                    // Only provenance is judged here; requiring what cannot be judged would
                    // admit on the mere presence of a signed document.
                    (_, false) => Err(format!(
                        "attestation {:?}: predicate type {:?} is not SLSA provenance ({SLSA_PROVENANCE_V1} or {SLSA_PROVENANCE_V0_2}), the only kind this webhook judges",
                        a.name, a.predicate_type
                    )),
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let json = serde_json::to_vec(spec).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            name: name.to_owned(),
            hash: hex::encode(Sha256::digest(&json)),
            images,
            authorities,
            threshold,
            attestations,
            mode: spec.mode.unwrap_or_default(),
            namespace_selector: spec.namespace_selector.clone(),
        })
    }

    pub fn governs_image(&self, name: &str) -> bool {
        self.images.iter().any(|g| g.matches(name))
    }

    pub fn governs_namespace(&self, labels: &BTreeMap<String, String>) -> bool {
        self.namespace_selector
            .as_ref()
            .is_none_or(|s| s.matches(labels))
    }
}

fn compile_authority(authority: &Authority) -> Result<CompiledAuthority, String> {
    let name = authority.name.clone();
    let signer = match (
        &authority.key,
        &authority.registry_entity,
        &authority.keyless,
    ) {
        (Some(key), None, None) => Signer::Key {
            key: VerificationKey::from_pem(key.public_key.as_bytes())
                .map_err(|e| format!("authority {name:?}: public key refused: {e}"))?,
            allow_missing_tlog: key.allow_missing_tlog,
        },
        (None, Some(entity), None) => {
            if entity.entity.is_empty() {
                return Err(format!("authority {name:?}: empty entity"));
            }
            Signer::RegistryEntity {
                entity: entity.entity.clone(),
                role: entity
                    .role
                    .parse()
                    .map_err(|e| format!("authority {name:?}: {e}"))?,
                allow_missing_tlog: entity.allow_missing_tlog,
            }
        }
        (None, None, Some(keyless)) => {
            let matcher =
                |exact: &Option<String>, regex: &Option<String>, what: &str| match (exact, regex) {
                    (Some(e), None) => Ok(Matcher::exact(e.clone())),
                    (None, Some(r)) => Matcher::regex(r)
                        .map_err(|e| format!("authority {name:?}: {what} pattern: {e}")),
                    _ => Err(format!(
                        "authority {name:?}: give exactly one of {what} and {what}RegExp"
                    )),
                };
            Signer::Keyless(IdentityPolicy {
                identity: matcher(&keyless.subject, &keyless.subject_reg_exp, "subject")?,
                issuer: matcher(&keyless.issuer, &keyless.issuer_reg_exp, "issuer")?,
            })
        }
        _ => {
            return Err(format!(
                "authority {name:?}: give exactly one of key, registryEntity and keyless"
            ));
        }
    };
    Ok(CompiledAuthority { name, signer })
}

fn compile_slsa(
    name: &str,
    predicate_type: &str,
    slsa: &SlsaRequirement,
) -> Result<CompiledAttestation, String> {
    if slsa.source_uri.is_empty() {
        return Err(format!("attestation {name:?}: sourceUri is empty"));
    }
    let min_level = slsa.min_build_level.unwrap_or(0);
    if min_level > 3
        || slsa
            .builders
            .iter()
            .any(|b| !(1..=3).contains(&b.build_level))
    {
        return Err(format!(
            "attestation {name:?}: SLSA build levels run from 1 to 3"
        ));
    }
    let builder_ids: Vec<String> = slsa
        .builders
        .iter()
        .filter(|b| b.build_level >= min_level)
        .map(|b| b.id.clone())
        .collect();
    if builder_ids.is_empty() {
        return Err(format!(
            "attestation {name:?}: no trusted builder meets build level {min_level}"
        ));
    }
    let source_ref = match (
        &slsa.source_branch,
        &slsa.source_tag,
        &slsa.source_versioned_tag,
    ) {
        (None, None, None) => None,
        (Some(b), None, None) => Some(SourceRefPolicy::Branch(b.clone())),
        (None, Some(t), None) => Some(SourceRefPolicy::Tag(t.clone())),
        (None, None, Some(v)) => Some(SourceRefPolicy::VersionedTag(v.clone())),
        _ => {
            return Err(format!(
                "attestation {name:?}: give at most one of sourceBranch, sourceTag and sourceVersionedTag"
            ));
        }
    };
    Ok(CompiledAttestation {
        name: name.to_owned(),
        predicate_type: predicate_type.to_owned(),
        builder_ids,
        source_uri: slsa.source_uri.clone(),
        source_ref,
    })
}

/// The policies in force, in name order.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    pub policies: Vec<CompiledPolicy>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DocumentHead {
    api_version: Option<String>,
    kind: Option<String>,
}

const API_VERSION: &str = "immerse.dev/v1alpha1";

impl PolicySet {
    pub fn compile(documents: &[ImagePolicy]) -> Result<Self, PolicyError> {
        let mut policies = Vec::with_capacity(documents.len());
        for doc in documents {
            let name =
                doc.metadata.name.clone().ok_or_else(|| {
                    PolicyError::Load("an ImagePolicy has no metadata.name".into())
                })?;
            if policies.iter().any(|p: &CompiledPolicy| p.name == name) {
                return Err(PolicyError::Load(format!(
                    "ImagePolicy {name} is defined twice"
                )));
            }
            policies.push(CompiledPolicy::compile(&name, &doc.spec)?);
        }
        policies.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self { policies })
    }

    /// Every `ImagePolicy` document in the YAML files (`.yaml`, `.yml`) of `dir`; documents of
    /// other kinds are refused, so a typo in `kind` cannot silently drop a policy.
    pub fn load_dir(dir: &Path) -> Result<Self, PolicyError> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| PolicyError::Load(format!("{}: {e}", dir.display())))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect();
        files.sort();
        let mut documents = Vec::new();
        for file in &files {
            documents.extend(parse_policies(&read_bounded(file)?, file)?);
        }
        if documents.is_empty() {
            return Err(PolicyError::Load(format!(
                "{}: no ImagePolicy documents",
                dir.display()
            )));
        }
        Self::compile(&documents)
    }

    /// The policies that govern `image_name` in a namespace with `labels`.
    pub fn matching<'a>(
        &'a self,
        image_name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Vec<&'a CompiledPolicy> {
        self.policies
            .iter()
            .filter(|p| p.governs_image(image_name) && p.governs_namespace(labels))
            .collect()
    }
}

pub(crate) fn read_bounded(path: &Path) -> Result<String, PolicyError> {
    let load = |e: String| PolicyError::Load(format!("{}: {e}", path.display()));
    let len = std::fs::metadata(path)
        .map_err(|e| load(e.to_string()))?
        .len();
    if len > MAX_POLICY_FILE {
        return Err(load(format!("larger than {MAX_POLICY_FILE} bytes")));
    }
    std::fs::read_to_string(path).map_err(|e| load(e.to_string()))
}

fn parse_policies(text: &str, file: &Path) -> Result<Vec<ImagePolicy>, PolicyError> {
    let load = |e: String| PolicyError::Load(format!("{}: {e}", file.display()));
    let values: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(text).map_err(|e| load(e.to_string()))?;
    let mut policies = Vec::new();
    for value in values {
        if value.is_null() {
            continue;
        }
        let head: DocumentHead =
            serde_json::from_value(value.clone()).map_err(|e| load(e.to_string()))?;
        if head.kind.as_deref() != Some("ImagePolicy")
            || head.api_version.as_deref() != Some(API_VERSION)
        {
            return Err(load(format!(
                "expected only kind ImagePolicy, apiVersion {API_VERSION}; found {:?} {:?}",
                head.kind, head.api_version
            )));
        }
        policies.push(serde_json::from_value(value).map_err(|e| load(e.to_string()))?);
    }
    Ok(policies)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{AttestationRequirement, KeylessAuthority, TrustedBuilder};

    fn keyless(subject: Option<&str>, subject_re: Option<&str>) -> Authority {
        Authority {
            name: "release".into(),
            key: None,
            registry_entity: None,
            keyless: Some(KeylessAuthority {
                issuer: Some("https://token.actions.githubusercontent.com".into()),
                issuer_reg_exp: None,
                subject: subject.map(str::to_owned),
                subject_reg_exp: subject_re.map(str::to_owned),
            }),
        }
    }

    fn spec(authorities: Vec<Authority>) -> ImagePolicySpec {
        ImagePolicySpec {
            images: vec!["ghcr.io/immerse/*".into()],
            authorities,
            threshold: None,
            attestations: Vec::new(),
            mode: None,
            namespace_selector: None,
        }
    }

    fn refused(spec: &ImagePolicySpec) -> String {
        match CompiledPolicy::compile("p", spec) {
            Err(PolicyError::InvalidPolicy { reason, .. }) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn policies_that_cannot_be_enforced_as_written_are_refused() {
        assert!(refused(&spec(Vec::new())).contains("authorities is empty"));
        assert!(refused(&spec(vec![keyless(None, None)])).contains("exactly one of subject"));
        assert!(
            refused(&spec(vec![keyless(Some("a"), Some("b"))])).contains("exactly one of subject")
        );
        assert!(refused(&spec(vec![keyless(None, Some("("))])).contains("pattern"));
        let mut two = spec(vec![keyless(Some("a"), None)]);
        two.threshold = Some(2);
        assert!(refused(&two).contains("threshold 2"));
        let mut zero = spec(vec![keyless(Some("a"), None)]);
        zero.threshold = Some(0);
        assert!(refused(&zero).contains("threshold 0"));
        let mut twice = spec(vec![keyless(Some("a"), None), keyless(Some("b"), None)]);
        twice.threshold = Some(1);
        assert!(refused(&twice).contains("named twice"));
        let mut no_images = spec(vec![keyless(Some("a"), None)]);
        no_images.images.clear();
        assert!(refused(&no_images).contains("images is empty"));
        let mut bad_key = spec(vec![keyless(Some("a"), None)]);
        bad_key.authorities[0].keyless = None;
        assert!(refused(&bad_key).contains("exactly one of key"));
    }

    #[test]
    fn attestation_requirements_are_checked_at_load() {
        let slsa = |builders: Vec<(&str, u8)>, min: Option<u8>| SlsaRequirement {
            builders: builders
                .into_iter()
                .map(|(id, level)| TrustedBuilder {
                    id: id.into(),
                    build_level: level,
                })
                .collect(),
            min_build_level: min,
            source_uri: "github.com/immerse/immerse".into(),
            source_branch: None,
            source_tag: None,
            source_versioned_tag: None,
        };
        let with = |predicate_type: &str, slsa: Option<SlsaRequirement>| {
            let mut s = spec(vec![keyless(Some("a"), None)]);
            s.attestations.push(AttestationRequirement {
                name: "provenance".into(),
                predicate_type: predicate_type.into(),
                slsa,
            });
            s
        };
        assert!(refused(&with("https://spdx.dev/Document", None)).contains("not SLSA provenance"));
        assert!(refused(&with(SLSA_PROVENANCE_V1, None)).contains("needs its `slsa`"));
        assert!(
            refused(&with(
                SLSA_PROVENANCE_V1,
                Some(slsa(vec![("b", 2)], Some(3)))
            ))
            .contains("no trusted builder meets build level 3")
        );
        assert!(
            refused(&with(SLSA_PROVENANCE_V1, Some(slsa(vec![("b", 4)], None))))
                .contains("from 1 to 3")
        );
        let mut both_refs = slsa(vec![("b", 3)], None);
        both_refs.source_branch = Some("main".into());
        both_refs.source_tag = Some("v1".into());
        assert!(refused(&with(SLSA_PROVENANCE_V1, Some(both_refs))).contains("at most one"));

        let ok = CompiledPolicy::compile(
            "p",
            &with(
                SLSA_PROVENANCE_V1,
                Some(slsa(vec![("low", 1), ("high", 3)], Some(2))),
            ),
        )
        .expect("compiles");
        assert_eq!(
            ok.attestations[0].builder_ids,
            ["high"],
            "level 1 filtered out"
        );
    }

    #[test]
    fn the_hash_changes_with_any_part_of_the_spec() {
        let a = spec(vec![keyless(Some("a"), None)]);
        let mut b = a.clone();
        b.mode = Some(Mode::Warn);
        let ha = CompiledPolicy::compile("p", &a).unwrap().hash;
        let hb = CompiledPolicy::compile("p", &b).unwrap().hash;
        assert_ne!(ha, hb);
        assert_eq!(ha, CompiledPolicy::compile("p", &a).unwrap().hash);
    }

    #[test]
    fn policy_files_hold_only_image_policies() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("p.yaml"),
            "apiVersion: immerse.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: p}\nspec:\n  images: [\"ghcr.io/x/*\"]\n  authorities:\n  - name: a\n    keyless: {issuer: i, subject: s}\n",
        )
        .unwrap();
        let set = PolicySet::load_dir(dir.path()).expect("loads");
        assert_eq!(set.policies.len(), 1);
        std::fs::write(
            dir.path().join("q.yml"),
            "apiVersion: immerse.dev/v1alpha1\nkind: ImagePolcy\nmetadata: {name: q}\n",
        )
        .unwrap();
        assert!(matches!(
            PolicySet::load_dir(dir.path()),
            Err(PolicyError::Load(m)) if m.contains("ImagePolcy")
        ));
        std::fs::write(
            dir.path().join("q.yml"),
            "apiVersion: immerse.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: q}\nspec:\n  images: [x]\n  authorities: []\n  surprise: 1\n",
        )
        .unwrap();
        assert!(matches!(
            PolicySet::load_dir(dir.path()),
            Err(PolicyError::Load(m)) if m.contains("surprise")
        ));
    }
}
