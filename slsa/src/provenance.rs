//! SLSA Provenance predicates as typed values: v1 (https://slsa.dev/provenance/v1, schema
//! `provenance.cue` of SLSA v1.0/v1.1) and v0.2 (https://slsa.dev/provenance/v0.2).
//!
//! Parsing rules both share (SLSA provenance v1, "Parsing rules"): unrecognised fields are
//! ignored; optional fields MAY be unset or null and are then equivalent to empty.

use crate::error::SlsaError;
use crate::json::null_as_empty;
use crate::statement::{DigestSet, ResourceDescriptor};
use crate::time::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// SLSA Provenance v1 predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvenanceV1 {
    pub build_definition: BuildDefinition,
    pub run_details: RunDetails,
}

/// The inputs of the build (REQUIRED for Build L1: `buildType`, `externalParameters`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    pub build_type: String,
    /// Parameters under the control of the build's tenant (an object; SLSA v1 schema).
    pub external_parameters: Map<String, Value>,
    /// Parameters under the builder's control (GitHub builders put `GITHUB_*` here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_parameters: Option<Map<String, Value>>,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

/// This particular execution of the build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDetails {
    pub builder: Builder,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BuildMetadata>,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub byproducts: Vec<ResourceDescriptor>,
}

/// The trusted build platform (`id` REQUIRED).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Builder {
    pub id: String,
    /// Version numbers of the builder's components (map string to string).
    #[serde(
        default,
        deserialize_with = "null_as_empty_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub version: BTreeMap<String, String>,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub builder_dependencies: Vec<ResourceDescriptor>,
}

/// Metadata of the run; all optional.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_on: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_on: Option<Timestamp>,
}

impl ProvenanceV1 {
    pub(crate) fn validate(&self) -> Result<(), SlsaError> {
        if self.build_definition.build_type.is_empty() {
            return Err(SlsaError::MalformedPredicate(
                "buildDefinition.buildType is empty".into(),
            ));
        }
        if self.run_details.builder.id.is_empty() {
            return Err(SlsaError::MalformedPredicate(
                "runDetails.builder.id is empty".into(),
            ));
        }
        Ok(())
    }
}

/// SLSA Provenance v0.2 predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvenanceV02 {
    pub builder: BuilderV02,
    pub build_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation: Option<Invocation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<MetadataV02>,
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub materials: Vec<Material>,
}

/// v0.2 `builder` (`id` REQUIRED).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuilderV02 {
    pub id: String,
}

/// v0.2 `invocation`: what started the build.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invocation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_source: Option<ConfigSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Value>,
}

/// v0.2 `invocation.configSource`: the top-level build configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_empty_digest",
        skip_serializing_if = "DigestSet::is_empty"
    )]
    pub digest: DigestSet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<String>,
}

/// v0.2 `metadata`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataV02 {
    /// The spec spells it `buildInvocationId`; slsa-github-generator writes
    /// `buildInvocationID` (Go's decoder matches either). Both present is a duplicate field.
    #[serde(
        default,
        alias = "buildInvocationID",
        skip_serializing_if = "Option::is_none"
    )]
    pub build_invocation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_started_on: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_finished_on: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completeness: Option<Completeness>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproducible: Option<bool>,
}

/// v0.2 `metadata.completeness`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Completeness {
    #[serde(default)]
    pub parameters: bool,
    #[serde(default)]
    pub environment: bool,
    #[serde(default)]
    pub materials: bool,
}

/// v0.2 `materials[]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Material {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_empty_digest",
        skip_serializing_if = "DigestSet::is_empty"
    )]
    pub digest: DigestSet,
}

impl ProvenanceV02 {
    pub(crate) fn validate(&self) -> Result<(), SlsaError> {
        if self.builder.id.is_empty() {
            return Err(SlsaError::MalformedPredicate("builder.id is empty".into()));
        }
        if self.build_type.is_empty() {
            return Err(SlsaError::MalformedPredicate("buildType is empty".into()));
        }
        Ok(())
    }
}

fn null_as_empty_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<String, String>>::deserialize(d)?.unwrap_or_default())
}

fn null_as_empty_digest<'de, D: Deserializer<'de>>(d: D) -> Result<DigestSet, D::Error> {
    Ok(Option::<DigestSet>::deserialize(d)?.unwrap_or_default())
}
