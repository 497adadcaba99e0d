//! Why the wallet refuses a presentation request, or could not answer one. Each refusal is a
//! variant precise enough to test; [`PresentationError::code`] is the stable text the JSON API
//! and the consent page show.
use immerse_registry::RegistryError;
use immerse_verifier::dcql::DcqlError;

#[derive(Debug, thiserror::Error)]
pub enum PresentationError {
    /// The authorization request URI is not one this wallet answers (OpenID4VP 1.0 s5).
    #[error("invalid authorization request: {0}")]
    InvalidRequest(String),
    /// OpenID4VP 1.0 s5.10: `request_uri_method` other than `get` or `post`.
    #[error("request_uri_method {0:?} is not supported")]
    InvalidRequestUriMethod(String),
    /// The request parameters came in clear, or the request object is not a JWS (`alg: none`
    /// included): HAIP s5 and SYSTEM.md s2 demand a signed request object.
    #[error("the request object is not signed")]
    UnsignedRequest,
    /// The request object's signature, `typ`, `aud` or time claims do not verify with the key
    /// its Client Identifier names: the `x5c` leaf's, or the registered key of its `kid` (RFC
    /// 9101 s6.2, RFC 8725 s3.11).
    #[error("request object refused: {0}")]
    RequestSignature(immerse_jose::Error),
    /// The `x5c` header is missing, empty, or its leaf is not a certificate in force.
    #[error("request object certificate refused: {0}")]
    Certificate(String),
    /// OpenID4VP 1.0 s5.9.3: the `x509_hash` Client Identifier is not the hash of the leaf.
    #[error("client_id {client_id} is not the x509_hash of the request's certificate")]
    X509HashMismatch { client_id: String },
    /// RFC 9101 s5: the `client_id` inside the request object differs from the one outside.
    #[error("request object client_id {inside:?} differs from the request's {outside:?}")]
    ClientIdMismatch { outside: String, inside: String },
    /// A Client Identifier prefix this wallet does not trust (only `x509_hash` and
    /// `openid_federation`, OpenID4VP 1.0 s5.9.3).
    #[error("client identifier prefix of {0:?} is not supported")]
    UnsupportedClientIdPrefix(String),
    /// OpenID4VP 1.0 s5.10.1: the `wallet_nonce` sent is not echoed in the request object.
    #[error("wallet_nonce of the request object does not match")]
    WalletNonceMismatch,
    /// A request object member is missing or malformed.
    #[error("request object {0}")]
    InvalidRequestObject(String),
    #[error("DCQL query refused: {0}")]
    Dcql(#[from] DcqlError),
    /// The wallet answers `direct_post.jwt` only, so that presentations never travel in clear.
    #[error("response_mode {0:?} is not supported (only direct_post.jwt)")]
    UnsupportedResponseMode(String),
    /// `client_metadata` names no ECDH-ES P-256 key, or no content encryption we implement.
    #[error("no usable response encryption: {0}")]
    ResponseEncryption(String),
    /// OpenID4VP 1.0 s5.9.3 `openid_federation`: the Entity Identifier is not an entity the
    /// registry knows, or the entity is not an active verifier. OAuth `invalid_client`: the
    /// client could not be authenticated as anyone the Trust Anchor vouches for.
    #[error("the registry does not vouch for client {entity}: {reason}")]
    FederationClient {
        entity: String,
        reason: FederationClientRefusal,
    },
    /// `openid_federation`: the request object's `kid` names no signing key the registry
    /// lists, valid now, for the verifier's entity.
    #[error("request object key {kid:?} is not a registered signing key of {entity}")]
    RequestKeyNotRegistered { entity: String, kid: String },
    /// The Client Identifier is not mapped to a registry entity in the wallet's directory.
    #[error("verifier {0} is not known to this wallet")]
    UnknownVerifier(String),
    /// The registry entity is not an active verifier, or the leaf key is not one of its
    /// registered signing keys: the registry does not vouch for this request.
    #[error("the registry does not vouch for verifier {entity}: {reason}")]
    VerifierNotRegistered { entity: String, reason: String },
    /// The privacy policy: the request asks for a claim the verifier is not registered to ask
    /// for (SYSTEM.md s3, "malicious relying party").
    #[error("verifier {entity} is not registered to ask for {path}")]
    ClaimNotAllowed { entity: String, path: String },
    /// No stored, unexpired, unrevoked credential answers the query.
    #[error("no credential held answers the request: {0}")]
    NoMatchingCredential(String),
    #[error("no pending request {0}")]
    UnknownPendingRequest(String),
    /// The request object's `exp` passed before the holder answered.
    #[error("the request expired")]
    RequestExpired,
    /// A claim chosen that is not an optional claim of the request.
    #[error("{0} is not an optional claim of this request")]
    UnknownClaim(String),
    /// The holder's choice leaves every claim set of a credential query unsatisfied.
    #[error("the claims chosen for {0} satisfy none of its claim sets")]
    SelectionIncomplete(String),
    /// A credential became unusable between the request and the consent.
    #[error("credential {0} is no longer valid")]
    CredentialNoLongerValid(String),
    #[error("registry: {0}")]
    Registry(#[from] RegistryError),
    #[error("{url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    /// The verifier answered with an error or something that is not what the protocol says.
    #[error("{url} answered {status}: {body}")]
    VerifierRefused {
        url: String,
        status: u16,
        body: String,
    },
    #[error("building the presentation: {0}")]
    SdJwt(#[from] immerse_sd_jwt::Error),
    #[error(transparent)]
    Jose(#[from] immerse_jose::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why the registry does not vouch for an `openid_federation` client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FederationClientRefusal {
    #[error("the registry knows no such entity")]
    UnknownEntity,
    #[error("the entity is not a verifier")]
    NotAVerifier,
    #[error("the entity is suspended")]
    Suspended,
}

impl PresentationError {
    /// A stable code for the JSON API, in the spirit of OAuth `error` values.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidRequestUriMethod(_) => "invalid_request_uri_method",
            Self::UnsignedRequest => "unsigned_request",
            Self::RequestSignature(_) => "invalid_request_object",
            Self::Certificate(_) => "invalid_certificate",
            Self::X509HashMismatch { .. } => "x509_hash_mismatch",
            Self::ClientIdMismatch { .. } => "client_id_mismatch",
            Self::UnsupportedClientIdPrefix(_) => "unsupported_client_id_prefix",
            Self::WalletNonceMismatch => "wallet_nonce_mismatch",
            Self::InvalidRequestObject(_) => "invalid_request_object",
            Self::Dcql(_) => "invalid_dcql_query",
            Self::UnsupportedResponseMode(_) => "unsupported_response_mode",
            Self::ResponseEncryption(_) => "unsupported_response_encryption",
            Self::FederationClient { .. } => "invalid_client",
            Self::RequestKeyNotRegistered { .. } => "invalid_request_object",
            Self::UnknownVerifier(_) => "unknown_verifier",
            Self::VerifierNotRegistered { .. } => "verifier_not_registered",
            Self::ClaimNotAllowed { .. } => "claim_not_allowed",
            Self::NoMatchingCredential(_) => "no_matching_credential",
            Self::UnknownPendingRequest(_) => "unknown_request",
            Self::RequestExpired => "request_expired",
            Self::UnknownClaim(_) => "unknown_claim",
            Self::SelectionIncomplete(_) => "selection_incomplete",
            Self::CredentialNoLongerValid(_) => "credential_no_longer_valid",
            Self::Registry(_) => "registry_unavailable",
            Self::Unreachable { .. } => "verifier_unreachable",
            Self::VerifierRefused { .. } => "verifier_refused",
            Self::SdJwt(_) | Self::Jose(_) | Self::Internal(_) => "server_error",
        }
    }

    /// Whether the fault is the wallet's own, not the request's or the holder's.
    pub fn is_internal(&self) -> bool {
        matches!(self, Self::SdJwt(_) | Self::Jose(_) | Self::Internal(_))
    }
}
