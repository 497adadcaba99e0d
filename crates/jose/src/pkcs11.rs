//! ES256 signing with a non-exportable key in a PKCS#11 token (SoftHSM2 in tests and dev).
//!
//! The private key never leaves the token: it is generated there with CKA_SENSITIVE and without
//! CKA_EXTRACTABLE, and a key found by label is refused unless the token reports it was always
//! sensitive, never extractable and generated on the token (CKA_LOCAL). PKCS#11 calls block, so
//! signing runs on tokio's blocking pool over a pool of sessions, which lets signatures proceed
//! concurrently.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{Algorithm, Curve, Error, PublicJwk, SignFuture, Signer};

/// Debian's SoftHSM2 module.
pub const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// DER of the P-256 curve OID 1.2.840.10045.3.1.7, the CKA_EC_PARAMS of every key we make.
const P256_OID_DER: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// Idle sessions kept for reuse; more are opened under load and closed afterwards.
const MAX_IDLE_SESSIONS: usize = 16;

/// Where the user PIN comes from: never from a command-line argument, which other users see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSource {
    /// The name of an environment variable holding the PIN.
    Env(String),
    /// A file holding the PIN; one trailing newline is ignored.
    File(PathBuf),
}

impl PinSource {
    fn read(&self) -> Result<Zeroizing<String>, Error> {
        let mut pin = match self {
            Self::Env(name) => Zeroizing::new(
                std::env::var(name)
                    .map_err(|_| Error::Pkcs11(format!("PIN variable {name} is not set")))?,
            ),
            Self::File(path) => Zeroizing::new(
                std::fs::read_to_string(path)
                    .map_err(|err| Error::Pkcs11(format!("PIN file {}: {err}", path.display())))?,
            ),
        };
        while pin.ends_with(['\n', '\r']) {
            pin.pop();
        }
        Ok(pin)
    }
}

/// Which token and key to use.
#[derive(Debug, Clone)]
pub struct Pkcs11Config {
    pub module: PathBuf,
    pub token_label: String,
    pub pin: PinSource,
    pub key_label: String,
}

impl Pkcs11Config {
    /// A key `key_label` on token `token_label` of Debian's SoftHSM2, PIN from `pin`.
    pub fn softhsm(
        token_label: impl Into<String>,
        key_label: impl Into<String>,
        pin: PinSource,
    ) -> Self {
        Self {
            module: PathBuf::from(DEFAULT_MODULE),
            token_label: token_label.into(),
            pin,
            key_label: key_label.into(),
        }
    }
}

/// Makes a SoftHSM2 configuration whose token directory is `dir/tokens` and initialises a token
/// `token_label` there with `user_pin` (and a random SO PIN, never needed again). Returns the
/// configuration file's path, which the process must export as `SOFTHSM2_CONF` before it first
/// loads the module: SoftHSM2 reads its configuration from that variable only.
///
/// For tests, benchmarks and the demo; production tokens are provisioned by their operators.
pub fn init_softhsm_token(dir: &Path, token_label: &str, user_pin: &str) -> Result<PathBuf, Error> {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens)
        .map_err(|err| Error::Pkcs11(format!("{}: {err}", tokens.display())))?;
    let conf = dir.join("softhsm2.conf");
    let settings = format!(
        "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
        tokens.display()
    );
    std::fs::write(&conf, settings)
        .map_err(|err| Error::Pkcs11(format!("{}: {err}", conf.display())))?;
    let mut so_pin = [0u8; 16];
    openssl::rand::rand_bytes(&mut so_pin).map_err(|err| Error::Pkcs11(err.to_string()))?;
    let so_pin = Zeroizing::new(crate::base64url::encode(so_pin));
    let output = std::process::Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args(["--init-token", "--free", "--label", token_label])
        .args(["--so-pin", so_pin.as_str(), "--pin", user_pin])
        .output()
        .map_err(|err| Error::Pkcs11(format!("softhsm2-util: {err}")))?;
    if !output.status.success() {
        return Err(Error::Pkcs11(format!(
            "softhsm2-util --init-token: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(conf)
}

/// An ES256 [`Signer`] whose private key lives in a PKCS#11 token.
#[derive(Clone)]
pub struct Pkcs11Signer {
    token: Arc<TokenKey>,
    public: PublicJwk,
}

struct TokenKey {
    context: Pkcs11,
    slot: Slot,
    key: ObjectHandle,
    label: String,
    idle_sessions: Mutex<Vec<Session>>,
    /// Held open for the signer's lifetime: PKCS#11 login state lasts while any session does.
    _login_session: Mutex<Session>,
}

impl Pkcs11Signer {
    /// Opens the existing key `config.key_label`; refuses it unless it is protected.
    pub fn open(config: &Pkcs11Config) -> Result<Self, Error> {
        let (context, slot, session) = login(config)?;
        let key =
            find_one(&session, ObjectClass::PRIVATE_KEY, &config.key_label)?.ok_or_else(|| {
                Error::Pkcs11(format!("no private key labelled {:?}", config.key_label))
            })?;
        Self::from_handle(context, slot, session, key, &config.key_label)
    }

    /// Generates a new P-256 key pair on the token under `config.key_label`; refuses to
    /// generate a second key with a label that is already taken.
    pub fn generate(config: &Pkcs11Config) -> Result<Self, Error> {
        // One generation at a time per process: it makes the "label is free" check and the
        // generation one step, and SoftHSM2's file store fails (CKR_GENERAL_ERROR) when two
        // sessions create token objects at the same moment.
        static GENERATION: Mutex<()> = Mutex::new(());
        let _one_at_a_time = GENERATION.lock().map_err(|_| poisoned())?;
        let (context, slot, session) = login(config)?;
        if find_one(&session, ObjectClass::PRIVATE_KEY, &config.key_label)?.is_some() {
            return Err(Error::Pkcs11(format!(
                "a key labelled {:?} exists",
                config.key_label
            )));
        }
        let label = config.key_label.as_bytes().to_vec();
        let public_template = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::EcParams(P256_OID_DER.to_vec()),
            Attribute::Label(label.clone()),
            Attribute::Id(label.clone()),
        ];
        let private_template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Derive(false),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Label(label.clone()),
            Attribute::Id(label),
        ];
        let (_, private_key) = session
            .generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &public_template,
                &private_template,
            )
            .map_err(pkcs11_error)?;
        Self::from_handle(context, slot, session, private_key, &config.key_label)
    }

    /// Opens the key if it exists, otherwise generates it.
    pub fn open_or_generate(config: &Pkcs11Config) -> Result<Self, Error> {
        let (_, _, session) = login(config)?;
        let exists = find_one(&session, ObjectClass::PRIVATE_KEY, &config.key_label)?.is_some();
        drop(session);
        if exists {
            Self::open(config)
        } else {
            Self::generate(config)
        }
    }

    pub fn label(&self) -> &str {
        &self.token.label
    }

    /// The labels of the EC private keys on the token of `config` (its `key_label` is not
    /// used): how a restarted service finds the keys rotation made.
    pub fn key_labels(config: &Pkcs11Config) -> Result<Vec<String>, Error> {
        let (_, _, session) = login(config)?;
        let handles = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(KeyType::EC),
            ])
            .map_err(pkcs11_error)?;
        let mut labels = Vec::with_capacity(handles.len());
        for handle in handles {
            for attribute in session
                .get_attributes(handle, &[AttributeType::Label])
                .map_err(pkcs11_error)?
            {
                if let Attribute::Label(label) = attribute {
                    labels.push(String::from_utf8_lossy(&label).into_owned());
                }
            }
        }
        labels.sort();
        Ok(labels)
    }

    fn from_handle(
        context: Pkcs11,
        slot: Slot,
        session: Session,
        key: ObjectHandle,
        label: &str,
    ) -> Result<Self, Error> {
        check_protection(&session, key, label)?;
        let public_handle = find_one(&session, ObjectClass::PUBLIC_KEY, label)?
            .ok_or_else(|| Error::Pkcs11(format!("no public key labelled {label:?}")))?;
        let public = read_public_key(&session, public_handle)?;
        let kid = public.thumbprint_b64();
        Ok(Self {
            token: Arc::new(TokenKey {
                context,
                slot,
                key,
                label: label.to_owned(),
                idle_sessions: Mutex::new(Vec::new()),
                _login_session: Mutex::new(session),
            }),
            public: public.with_kid(kid).with_alg(Algorithm::Es256),
        })
    }
}

impl TokenKey {
    /// ECDSA over SHA-256 computed here: SoftHSM2 offers CKM_ECDSA only, which signs a digest
    /// and already returns the raw `r || s` that JOSE wants.
    fn sign_blocking(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let digest = Sha256::digest(message);
        let session = self.take_session()?;
        let signature = session.sign(&Mechanism::Ecdsa, self.key, &digest);
        self.return_session(session);
        let signature = signature.map_err(pkcs11_error)?;
        if signature.len() != 64 {
            return Err(Error::Signing(format!(
                "token returned a {}-byte ECDSA signature",
                signature.len()
            )));
        }
        Ok(signature)
    }

    fn take_session(&self) -> Result<Session, Error> {
        let idle = self.idle_sessions.lock().map_err(|_| poisoned())?.pop();
        match idle {
            Some(session) => Ok(session),
            None => self
                .context
                .open_ro_session(self.slot)
                .map_err(pkcs11_error),
        }
    }

    fn return_session(&self, session: Session) {
        if let Ok(mut idle) = self.idle_sessions.lock()
            && idle.len() < MAX_IDLE_SESSIONS
        {
            idle.push(session);
        }
    }
}

impl Signer for Pkcs11Signer {
    fn algorithm(&self) -> Algorithm {
        Algorithm::Es256
    }

    fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    fn kid(&self) -> &str {
        self.public.kid().unwrap_or_default()
    }

    fn sign<'a>(&'a self, message: &'a [u8]) -> SignFuture<'a> {
        let token = Arc::clone(&self.token);
        let message = message.to_vec();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || token.sign_blocking(&message))
                .await
                .map_err(|err| Error::Signing(format!("signing task failed: {err}")))?
        })
    }
}

impl std::fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("label", &self.token.label)
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

/// Loads and initialises each module once per process: a second C_Initialize fails, and
/// dropping a second context would C_Finalize the module under the first.
fn module(path: &Path) -> Result<Pkcs11, Error> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut modules = MODULES
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .map_err(|_| poisoned())?;
    if let Some(context) = modules.get(path) {
        return Ok(context.clone());
    }
    let context = Pkcs11::new(path)
        .map_err(|err| Error::Pkcs11(format!("cannot load module {}: {err}", path.display())))?;
    context
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(pkcs11_error)?;
    modules.insert(path.to_owned(), context.clone());
    Ok(context)
}

/// Finds the token by label, opens a read-write session and logs the user in.
fn login(config: &Pkcs11Config) -> Result<(Pkcs11, Slot, Session), Error> {
    let context = module(&config.module)?;
    let slot = context
        .get_slots_with_initialized_token()
        .map_err(pkcs11_error)?
        .into_iter()
        .find(|slot| {
            context
                .get_token_info(*slot)
                .is_ok_and(|info| info.label().trim_end() == config.token_label)
        })
        .ok_or_else(|| Error::Pkcs11(format!("no token labelled {:?}", config.token_label)))?;
    let session = context.open_rw_session(slot).map_err(pkcs11_error)?;
    let pin = config.pin.read()?;
    match session.login(
        UserType::User,
        Some(&AuthPin::from(pin.as_str().to_owned())),
    ) {
        Ok(()) | Err(cryptoki::error::Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(err) => return Err(pkcs11_error(err)),
    }
    Ok((context, slot, session))
}

fn find_one(
    session: &Session,
    class: ObjectClass,
    label: &str,
) -> Result<Option<ObjectHandle>, Error> {
    let found = session
        .find_objects(&[
            Attribute::Class(class),
            Attribute::KeyType(KeyType::EC),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map_err(pkcs11_error)?;
    match found.as_slice() {
        [] => Ok(None),
        [handle] => Ok(Some(*handle)),
        _ => Err(Error::Pkcs11(format!(
            "more than one key labelled {label:?}"
        ))),
    }
}

/// Refuses a private key that could ever have left the token, or that can do more than sign.
fn check_protection(session: &Session, key: ObjectHandle, label: &str) -> Result<(), Error> {
    use AttributeType as T;
    let required: [(T, bool, &'static str); 9] = [
        (T::Sensitive, true, "CKA_SENSITIVE"),
        (T::AlwaysSensitive, true, "CKA_ALWAYS_SENSITIVE"),
        (T::Extractable, false, "CKA_EXTRACTABLE=false"),
        (T::NeverExtractable, true, "CKA_NEVER_EXTRACTABLE"),
        (T::Local, true, "CKA_LOCAL"),
        (T::Sign, true, "CKA_SIGN"),
        (T::Derive, false, "CKA_DERIVE=false"),
        (T::Decrypt, false, "CKA_DECRYPT=false"),
        (T::Unwrap, false, "CKA_UNWRAP=false"),
    ];
    let types: Vec<T> = required.iter().map(|(kind, _, _)| *kind).collect();
    let attributes = session.get_attributes(key, &types).map_err(pkcs11_error)?;
    for (kind, wanted, name) in required {
        let value = attributes
            .iter()
            .find_map(|attribute| match (kind, attribute) {
                (T::Sensitive, Attribute::Sensitive(v))
                | (T::AlwaysSensitive, Attribute::AlwaysSensitive(v))
                | (T::Extractable, Attribute::Extractable(v))
                | (T::NeverExtractable, Attribute::NeverExtractable(v))
                | (T::Local, Attribute::Local(v))
                | (T::Sign, Attribute::Sign(v))
                | (T::Derive, Attribute::Derive(v))
                | (T::Decrypt, Attribute::Decrypt(v))
                | (T::Unwrap, Attribute::Unwrap(v)) => Some(*v),
                _ => None,
            });
        if value != Some(wanted) {
            return Err(Error::KeyNotProtected {
                label: label.to_owned(),
                attribute: name,
            });
        }
    }
    Ok(())
}

fn read_public_key(session: &Session, handle: ObjectHandle) -> Result<PublicJwk, Error> {
    let attributes = session
        .get_attributes(handle, &[AttributeType::EcParams, AttributeType::EcPoint])
        .map_err(pkcs11_error)?;
    let mut params = None;
    let mut point = None;
    for attribute in attributes {
        match attribute {
            Attribute::EcParams(value) => params = Some(value),
            Attribute::EcPoint(value) => point = Some(value),
            _ => {}
        }
    }
    if params.as_deref() != Some(P256_OID_DER.as_slice()) {
        return Err(Error::UnsupportedCurve("token key is not P-256".into()));
    }
    let point = point.ok_or_else(|| Error::Pkcs11("public key has no CKA_EC_POINT".into()))?;
    PublicJwk::from_sec1_point(Curve::P256, unwrap_der_octet_string(&point))
}

/// PKCS#11 v2.x wraps CKA_EC_POINT in a DER OCTET STRING; some modules return the raw point.
/// The 65-byte raw point and the 67-byte wrapped one are told apart by length.
fn unwrap_der_octet_string(point: &[u8]) -> &[u8] {
    match point {
        [0x04, len, rest @ ..] if point.len() == 67 && usize::from(*len) == rest.len() => rest,
        _ => point,
    }
}

fn pkcs11_error(err: cryptoki::error::Error) -> Error {
    Error::Pkcs11(err.to_string())
}

fn poisoned() -> Error {
    Error::Pkcs11("a PKCS#11 lock was poisoned by a panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_point_is_unwrapped_only_when_der_wrapped() {
        let raw: Vec<u8> = std::iter::once(0x04).chain([7u8; 64]).collect();
        let mut wrapped = vec![0x04, 65];
        wrapped.extend_from_slice(&raw);
        assert_eq!(unwrap_der_octet_string(&wrapped), raw.as_slice());
        assert_eq!(unwrap_der_octet_string(&raw), raw.as_slice());
    }
}
