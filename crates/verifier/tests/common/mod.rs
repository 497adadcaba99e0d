//! An in-process world for end-to-end verifier tests on 127.0.0.1: a Key Registry with the
//! issuer's key, the issuer's status list served by a tiny axum route, a verifier whose
//! request-signing certificate comes from a test CA, and a wallet that answers with
//! presentations built by `immerse_sd_jwt`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::routing::get;
use base64::Engine;
use immerse_jose::jwe::{self, ContentEncryption, KeyManagement};
use immerse_jose::jws::{self, KeySource};
use immerse_jose::{PublicJwk, Signer, SoftwareSigner, jwt};
use immerse_registry::client::{ClientOptions, RegistryClient};
use immerse_registry::model::{Allowances, Role};
use immerse_registry::{AdminKey, NewEntity, Registry};
use immerse_sd_jwt::{
    ClaimPath, Credential, DisclosurePolicy, IssueOptions, KeyBindingInput, Limits, SdJwt,
    StatusListRef, issue_vc, present,
};
use immerse_status_list::{Bits, Status, StatusList, StatusListToken};
use immerse_store::Store;
use immerse_verifier::{ClientIdentity, Config, REQUEST_OBJECT_TYP, Verifier};
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509, X509NameBuilder};
use serde_json::{Map, Value, json};

pub const REGISTRY_ID: &str = "https://registry.test";
pub const ISSUER: &str = "https://issuer.test";
pub const VCT: &str = "https://credentials.example.com/identity_credential";
pub const API_TOKEN: &str = "rp-token-0123456789";

/// A two-level test PKI (CA -> leaf for the request-signing key), made with OpenSSL.
pub fn certificate_chain(leaf_key: &PublicJwk) -> (Vec<Vec<u8>>, X509) {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let ca_key: PKey<Private> = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let name = |cn: &str| {
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", cn).unwrap();
        name.build()
    };
    let build = |subject: &str, key: &PKey<openssl::pkey::Public>, serial: u32| {
        let mut builder = X509::builder().unwrap();
        builder.set_version(2).unwrap();
        let serial = BigNum::from_u32(serial).unwrap().to_asn1_integer().unwrap();
        builder.set_serial_number(&serial).unwrap();
        builder.set_subject_name(&name(subject)).unwrap();
        builder.set_issuer_name(&name("IMMERSE test CA")).unwrap();
        builder.set_pubkey(key).unwrap();
        builder
            .set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        builder
            .set_not_after(&Asn1Time::days_from_now(30).unwrap())
            .unwrap();
        builder.sign(&ca_key, MessageDigest::sha256()).unwrap();
        builder.build()
    };
    let ca_public = PKey::public_key_from_pem(&ca_key.public_key_to_pem().unwrap()).unwrap();
    let ca = build("IMMERSE test CA", &ca_public, 1);
    let leaf_public =
        PKey::public_key_from_pem(leaf_key.to_spki_pem().unwrap().as_bytes()).unwrap();
    let leaf = build("verifier.test", &leaf_public, 2);
    (vec![leaf.to_der().unwrap(), ca.to_der().unwrap()], ca)
}

/// Knobs of the world, one per refusal that needs a different set-up.
#[derive(Default, Clone)]
pub struct Options {
    /// Registry client retention (seconds); default 48 h.
    pub retention: Option<i64>,
    /// Point credentials at a status URI nobody serves.
    pub status_unreachable: bool,
    pub allow_direct_post: bool,
    /// The verifier's store; an in-memory SQLite database unless given.
    pub store: Option<Store>,
    /// Speak `openid_federation:<entity>` instead of `x509_hash` (the entity is not enrolled
    /// in the registry here; tests that need it enrol it).
    pub federation_entity: Option<String>,
    /// The verifier's outbound policy; the default (loopback allowed) unless given.
    pub outbound: Option<immerse_net::OutboundPolicy>,
}

pub struct World {
    pub registry: Registry,
    pub verifier: Arc<Verifier>,
    /// Another verifier process sharing the database (not served over HTTP).
    pub replica: Arc<Verifier>,
    pub base: String,
    pub issuer: SoftwareSigner,
    pub holder: SoftwareSigner,
    /// Under the issuer's origin; served at `status_base` on loopback.
    pub status_uri: String,
    pub status_base: String,
    pub status_list: Arc<Mutex<StatusList>>,
    pub http: reqwest::Client,
    pub ca: X509,
    pub store: Store,
    /// The verifier's request-signing key.
    pub verifier_key: Arc<SoftwareSigner>,
    /// The key of a second issuer, [`SECOND_ISSUER`] (not enrolled: tests enrol it as they
    /// need), whose all-VALID status list is served under its own origin.
    pub second_issuer: SoftwareSigner,
}

/// A second issuer identifier whose origin the verifier routes to loopback.
pub const SECOND_ISSUER: &str = "https://second-issuer.test";

/// Enrols entity `id` with `role`, `allowances` and a fresh signing key, which it returns.
async fn enrol(
    registry: &Registry,
    id: &str,
    role: Role,
    allowances: Allowances,
) -> SoftwareSigner {
    let signer = SoftwareSigner::generate().unwrap();
    enrol_with(registry, id, role, allowances, &signer).await;
    signer
}

/// Enrols entity `id` with `role`, `allowances` and `signer`'s key.
async fn enrol_with(
    registry: &Registry,
    id: &str,
    role: Role,
    allowances: Allowances,
    signer: &SoftwareSigner,
) {
    let entity = NewEntity {
        id: id.into(),
        role,
        display_name: id.into(),
        allowances,
    };
    registry.create_entity("admin:test", entity).await.unwrap();
    let key: AdminKey =
        serde_json::from_value(json!({"jwk": signer.public_jwk(), "alg": "ES256"})).unwrap();
    registry.add_key("admin:test", id, key).await.unwrap();
}

/// Serves `list` as a status list token signed by `signer` at `/status/1`; returns its URI.
pub async fn serve_status_list(
    signer: Arc<SoftwareSigner>,
    list: Arc<Mutex<StatusList>>,
) -> String {
    let uri = Arc::new(Mutex::new(String::new()));
    let base = serve_status_route(signer, list, uri.clone()).await;
    let status_uri = format!("{base}/status/1");
    *uri.lock().unwrap() = status_uri.clone();
    status_uri
}

/// Serves `list` signed by `signer` as the status list at `public_uri` (whose path is
/// `/status/1`), on loopback; returns the loopback base that `public_uri`'s origin routes to.
pub async fn serve_status_list_as(
    signer: Arc<SoftwareSigner>,
    list: Arc<Mutex<StatusList>>,
    public_uri: &str,
) -> String {
    serve_status_route(signer, list, Arc::new(Mutex::new(public_uri.to_owned()))).await
}

async fn serve_status_route(
    signer: Arc<SoftwareSigner>,
    list: Arc<Mutex<StatusList>>,
    sub: Arc<Mutex<String>>,
) -> String {
    let router = axum::Router::new().route(
        "/status/1",
        get(move || {
            let list = list.lock().unwrap().clone();
            let sub = sub.lock().unwrap().clone();
            let signer = signer.clone();
            async move {
                let token = StatusListToken {
                    sub,
                    iat: jwt::now(),
                    exp: Some(jwt::now() + 600),
                    ttl: Some(1),
                    list,
                };
                token.sign(&*signer).await.unwrap()
            }
        }),
    );
    serve(router).await
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

impl World {
    pub async fn start(options: Options) -> Self {
        // The Key Registry, with the issuer enrolled and its key published.
        let root = Arc::new(SoftwareSigner::generate().unwrap());
        let registry = Registry::new(
            Store::connect_in_memory().await.unwrap(),
            root.clone(),
            immerse_registry::Config::new(REGISTRY_ID),
        );
        let issuer_allowances = Allowances {
            credential_types: vec![VCT.into()],
            claims: Vec::new(),
        };
        let issuer = enrol(&registry, ISSUER, Role::Issuer, issuer_allowances).await;
        let registry_url = serve(immerse_registry::http::router(registry.clone())).await;

        // The issuer's status list, served as a signed token by a tiny route.
        let status_list = Arc::new(Mutex::new(StatusList::new(Bits::One, 1024)));
        // Under the issuer's origin, as the verifier requires; development routing takes the
        // fetch to the loopback port.
        let status_uri = format!("{ISSUER}/status/1");
        let status_base = if options.status_unreachable {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            drop(listener);
            format!("http://{address}")
        } else {
            let signer =
                Arc::new(SoftwareSigner::from_pkcs8_pem(&issuer.to_pkcs8_pem().unwrap()).unwrap());
            serve_status_list_as(signer, status_list.clone(), &status_uri).await
        };

        // The verifier, its request-signing key certified by a test CA.
        let signing = Arc::new(SoftwareSigner::generate().unwrap());
        let (chain, ca) = certificate_chain(signing.public_jwk());
        let identity_of = |signing: Arc<SoftwareSigner>| match &options.federation_entity {
            Some(entity) => ClientIdentity::openid_federation(signing, entity).unwrap(),
            None => ClientIdentity::x509_hash(signing, chain.clone()).unwrap(),
        };
        let identity = identity_of(signing.clone());
        let mut client_options = ClientOptions::default();
        if let Some(retention) = options.retention {
            client_options.retention = immerse_registry::model::Retention(retention);
        }
        let client = RegistryClient::new(
            registry_url,
            REGISTRY_ID,
            root.public_jwk().clone(),
            client_options,
        )
        .unwrap();
        let store = match options.store {
            Some(store) => store,
            None => Store::connect_in_memory().await.unwrap(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = Config::new(base.clone()).with_api_token(API_TOKEN);
        config.allow_direct_post = options.allow_direct_post;
        let second_issuer = SoftwareSigner::generate().unwrap();
        let second_base = serve_status_list_as(
            Arc::new(
                SoftwareSigner::from_pkcs8_pem(&second_issuer.to_pkcs8_pem().unwrap()).unwrap(),
            ),
            Arc::new(Mutex::new(StatusList::new(Bits::One, 1024))),
            &format!("{SECOND_ISSUER}/status/1"),
        )
        .await;
        config.origins = immerse_net::Origins::default()
            .route(ISSUER, status_base.clone())
            .route(SECOND_ISSUER, second_base);
        if let Some(outbound) = options.outbound {
            config.outbound = outbound;
        }
        config.redirect_url = Some("https://rp.test/done".into());
        // A second replica over the same database: what one spends, the other sees spent.
        let replica_identity = identity_of(signing.clone());
        let replica = Arc::new(
            Verifier::new(
                config.clone(),
                replica_identity,
                store.clone(),
                client.clone(),
            )
            .unwrap(),
        );
        let verifier = Arc::new(Verifier::new(config, identity, store.clone(), client).unwrap());
        let router = immerse_verifier::http::router(verifier.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });

        Self {
            registry,
            verifier,
            replica,
            base,
            issuer,
            holder: SoftwareSigner::generate().unwrap(),
            status_uri,
            status_base,
            status_list,
            http: reqwest::Client::new(),
            ca,
            store,
            verifier_key: signing,
            second_issuer,
        }
    }

    /// A credential as the issuer would make it; tests change one thing.
    pub fn credential(&self) -> Credential {
        let now = jwt::now();
        let Value::Object(claims) = json!({
            "given_name": "Erika",
            "family_name": "Mustermann",
            "birthdate": "1964-08-12",
            "address": {"locality": "Berlin", "postal_code": "10115"}
        }) else {
            unreachable!()
        };
        Credential {
            vct: VCT.into(),
            iss: ISSUER.into(),
            iat: now - 10,
            exp: Some(now + 3600),
            status: Some(StatusListRef {
                idx: 7,
                uri: self.status_uri.clone(),
            }),
            holder_key: Some(self.holder.public_jwk().clone()),
            claims,
        }
    }

    pub async fn issue(&self, credential: &Credential) -> SdJwt {
        self.issue_with(&self.issuer, credential).await
    }

    /// As [`World::issue`], signed by `signer` (the key of some other entity).
    pub async fn issue_with(&self, signer: &SoftwareSigner, credential: &Credential) -> SdJwt {
        let policy = DisclosurePolicy::new()
            .disclose(ClaimPath::claim("given_name"))
            .disclose(ClaimPath::claim("family_name"))
            .disclose(ClaimPath::claim("birthdate"))
            .disclose(ClaimPath::claim("address").name("locality"));
        self.issue_disclosing(signer, credential, &policy).await
    }

    /// As [`World::issue_with`], with the claims `policy` names selectively disclosable.
    pub async fn issue_disclosing(
        &self,
        signer: &SoftwareSigner,
        credential: &Credential,
        policy: &DisclosurePolicy,
    ) -> SdJwt {
        issue_vc(
            signer,
            credential,
            policy,
            &IssueOptions::default().decoys(2),
        )
        .await
        .unwrap()
    }

    pub fn set_status(&self, idx: usize, status: Status) {
        self.status_list.lock().unwrap().set(idx, status).unwrap();
    }

    /// Creates a request through the relying-party API.
    pub async fn create(&self, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/v1/requests", self.base))
            .bearer_auth(API_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "create request");
        response.json().await.unwrap()
    }

    /// Creates the default request and fetches its request object as a wallet would.
    pub async fn session(&self) -> Session {
        self.session_for(default_query()).await
    }

    pub async fn session_for(&self, query: Value) -> Session {
        self.session_with(json!({"dcql_query": query})).await
    }

    /// Creates a request from the relying party's whole `body` and fetches its request object.
    pub async fn session_with(&self, body: Value) -> Session {
        let created = self.create(body).await;
        self.fetch_session(
            created["id"].as_str().unwrap(),
            created["request_uri"].as_str().unwrap(),
        )
        .await
    }

    /// What a wallet does with a `request_uri`: fetches (POST, with a wallet_nonce) and checks
    /// the request object of session `id`.
    pub async fn fetch_session(&self, id: &str, request_uri: &str) -> Session {
        let jwt = self
            .http
            .post(request_uri)
            .form(&[("wallet_nonce", "wn-123")])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let claims = self.verify_request_object(&jwt);
        assert_eq!(claims["wallet_nonce"], "wn-123");
        Session {
            id: id.to_owned(),
            client_id: claims["client_id"].as_str().unwrap().to_owned(),
            nonce: claims["nonce"].as_str().unwrap().to_owned(),
            state: claims["state"].as_str().unwrap().to_owned(),
            response_uri: claims["response_uri"].as_str().unwrap().to_owned(),
            claims,
        }
    }

    /// What a wallet does with a request object: the signature with the x5c leaf (which chains
    /// to the test CA), typ `oauth-authz-req+jwt`, and client_id = x509_hash of the leaf; for
    /// `openid_federation`, the signature by the key its `kid` names and no x5c.
    pub fn verify_request_object(&self, token: &str) -> Map<String, Value> {
        let header_b64 = token.split('.').next().unwrap();
        let header: Value =
            serde_json::from_slice(&immerse_jose::base64url::decode(header_b64, "header").unwrap())
                .unwrap();
        if let Some(entity) = self.verifier.client_id().strip_prefix("openid_federation:") {
            assert!(header.get("x5c").is_none(), "{header}");
            assert_eq!(header["kid"], self.verifier_key.kid());
            let verified = jwt::verify(
                token,
                &jwt::Validation::new(REQUEST_OBJECT_TYP),
                &Pinned(self.verifier_key.public_jwk().clone()),
            )
            .expect("request object verifies with the kid's key");
            let claims = verified.into_inner().claims;
            assert_eq!(claims["client_id"], format!("openid_federation:{entity}"));
            return claims;
        }
        let leaf_der = base64::engine::general_purpose::STANDARD
            .decode(header["x5c"][0].as_str().unwrap())
            .unwrap();
        let leaf = X509::from_der(&leaf_der).unwrap();
        assert!(
            leaf.verify(&self.ca.public_key().unwrap()).unwrap(),
            "leaf chains to the CA"
        );
        let key = PublicJwk::from_spki_pem(
            &String::from_utf8(leaf.public_key().unwrap().public_key_to_pem().unwrap()).unwrap(),
        )
        .unwrap();
        let verified = jwt::verify(
            token,
            &jwt::Validation::new(REQUEST_OBJECT_TYP),
            &Pinned(key),
        )
        .expect("request object verifies with the x5c leaf");
        let claims = verified.into_inner().claims;
        let expected = format!(
            "x509_hash:{}",
            immerse_jose::base64url::encode(openssl::sha::sha256(&leaf_der))
        );
        assert_eq!(claims["client_id"], expected.as_str());
        claims
    }

    /// The KB-JWT bound to `session`, the default selection.
    pub async fn present(&self, sd_jwt: &SdJwt, session: &Session) -> String {
        self.present_with(
            sd_jwt,
            &self.holder,
            &session.client_id,
            &session.nonce,
            &default_selection(),
        )
        .await
    }

    pub async fn present_with(
        &self,
        sd_jwt: &SdJwt,
        holder: &dyn Signer,
        audience: &str,
        nonce: &str,
        selection: &[ClaimPath],
    ) -> String {
        let input = KeyBindingInput {
            audience,
            nonce,
            issued_at: None,
        };
        present(sd_jwt, selection, Some((holder, input)), &Limits::default())
            .await
            .unwrap()
    }

    /// Posts `vp_token` encrypted to the request's key (direct_post.jwt); returns the status
    /// and JSON body.
    pub async fn respond(&self, session: &Session, vp_token: Value) -> (u16, Value) {
        let jwks = &session.claims["client_metadata"]["jwks"]["keys"][0];
        let mut jwk = jwks.as_object().unwrap().clone();
        jwk.remove("alg");
        let recipient = PublicJwk::from_object(jwk).unwrap();
        let payload = json!({"vp_token": vp_token, "state": session.state});
        let jwe = jwe::encrypt_compact(
            payload.to_string().as_bytes(),
            &recipient,
            KeyManagement::EcdhEs,
            ContentEncryption::A128Gcm,
            &Map::new(),
        )
        .unwrap();
        self.post_form(&session.response_uri, &[("response", jwe.as_str())])
            .await
    }

    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let response = self.http.post(url).form(form).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The relying party's view of the session.
    pub async fn result(&self, session: &Session, response_code: Option<&str>) -> Value {
        let mut url = format!("{}/v1/requests/{}", self.base, session.id);
        if let Some(code) = response_code {
            url.push_str(&format!("?response_code={code}"));
        }
        let response = self
            .http
            .get(url)
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "read result");
        response.json().await.unwrap()
    }

    /// Enrols entity `id` with `role`, `allowances` and a fresh signing key, which it returns;
    /// `suspended` suspends it afterwards.
    pub async fn enrol(
        &self,
        id: &str,
        role: Role,
        allowances: Allowances,
        suspended: bool,
    ) -> SoftwareSigner {
        let signer = enrol(&self.registry, id, role, allowances).await;
        self.suspend_if(id, suspended).await;
        signer
    }

    /// Enrols [`SECOND_ISSUER`] with `allowances` and [`World::second_issuer`]'s key.
    pub async fn enrol_second_issuer(&self, allowances: Allowances) {
        let (id, signer) = (SECOND_ISSUER, &self.second_issuer);
        enrol_with(&self.registry, id, Role::Issuer, allowances, signer).await;
    }

    async fn suspend_if(&self, id: &str, suspended: bool) {
        if suspended {
            self.registry
                .set_suspended("admin:test", id, true)
                .await
                .unwrap();
        }
    }

    /// One presentation refused: the wallet gets `invalid_request`, and the relying party
    /// sees `reason` noted on the session, which stays pending (never verified) for the
    /// genuine wallet.
    pub async fn assert_refused(&self, session: &Session, vp_token: Value, reason: &str) {
        self.assert_refused_as(session, vp_token, (400, "invalid_request"), reason)
            .await;
    }

    /// A presentation the verifier could not judge (no verified status list): the wallet is
    /// told it is the verifier's trouble, 503 `temporarily_unavailable`.
    pub async fn assert_status_unavailable(&self, session: &Session, vp_token: Value) {
        self.assert_refused_as(
            session,
            vp_token,
            (503, "temporarily_unavailable"),
            "status_unavailable",
        )
        .await;
    }

    /// As [`World::assert_refused`], the wallet getting HTTP `status` and OAuth `error`.
    pub async fn assert_refused_as(
        &self,
        session: &Session,
        vp_token: Value,
        (status_code, error): (u16, &str),
        reason: &str,
    ) {
        let (status, body) = self.respond(session, vp_token).await;
        assert_eq!(status, status_code, "{body}");
        assert_eq!(body["error"], error, "{body}");
        let result = self.result(session, None).await;
        assert_eq!(result["status"], "pending", "{result}");
        assert_eq!(result["error"], reason, "{result}");
        assert!(result.get("credentials").is_none());
    }
}

pub struct Session {
    pub id: String,
    pub client_id: String,
    pub nonce: String,
    pub state: String,
    pub response_uri: String,
    pub claims: Map<String, Value>,
}

pub fn default_query() -> Value {
    json!({"credentials": [{
        "id": "pid",
        "format": "dc+sd-jwt",
        "meta": {"vct_values": [VCT]},
        "claims": [
            {"path": ["given_name"]},
            {"path": ["family_name"]},
            {"path": ["address", "locality"]}
        ]
    }]})
}

pub fn default_selection() -> Vec<ClaimPath> {
    vec![
        ClaimPath::claim("given_name"),
        ClaimPath::claim("family_name"),
        ClaimPath::claim("address").name("locality"),
    ]
}

/// One key, whatever the header's kid says (the x5c leaf key has no registry kid).
struct Pinned(PublicJwk);

impl KeySource for Pinned {
    fn resolve(&self, _header: &jws::Header) -> Result<PublicJwk, immerse_jose::Error> {
        Ok(self.0.clone())
    }
}

impl World {
    pub async fn result_of(&self, id: &str) -> Value {
        let response = self
            .http
            .get(format!("{}/v1/requests/{id}", self.base))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    }

    pub fn issuer_kid(&self) -> &str {
        self.issuer.kid()
    }
}
