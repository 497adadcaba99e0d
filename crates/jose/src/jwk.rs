//! Public JWKs (RFC 7517, RFC 7518 s6) that are valid by construction.
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey, EcPoint, PointConversionForm};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Public};
use openssl::rsa::Rsa;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{Algorithm, Error, base64url, json};

/// Members that only a private or symmetric key has (RFC 7518 s6.2.2, s6.3.2, s6.4.1).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The smallest RSA modulus accepted (RFC 7518 s3.3, NIST SP 800-57).
pub const MIN_RSA_BITS: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    P256,
    P384,
    Ed25519,
}

impl Curve {
    pub fn name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
            Self::Ed25519 => "Ed25519",
        }
    }

    /// Length in bytes of one coordinate, which JWK requires at full size (RFC 7518 s6.2.1.2).
    fn coordinate_len(self) -> usize {
        match self {
            Self::P256 | Self::Ed25519 => 32,
            Self::P384 => 48,
        }
    }

    fn openssl_nid(self) -> Option<Nid> {
        match self {
            Self::P256 => Some(Nid::X9_62_PRIME256V1),
            Self::P384 => Some(Nid::SECP384R1),
            Self::Ed25519 => None,
        }
    }
}

/// The public key itself, without JWK metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    /// A point on P-256 or P-384, checked to lie on its curve.
    Ec {
        curve: Curve,
        x: Vec<u8>,
        y: Vec<u8>,
    },
    /// An Ed25519 public key.
    Okp { x: Vec<u8> },
    /// An RSA public key of at least [`MIN_RSA_BITS`].
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    Sig,
    Enc,
}

/// A public JWK. The parser refuses private members, symmetric keys, unknown types and curves,
/// points off their curve and short RSA moduli, so holding one means the key is usable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct PublicJwk {
    material: KeyMaterial,
    kid: Option<String>,
    key_use: Option<KeyUse>,
    alg: Option<String>,
}

impl PublicJwk {
    /// Wraps key material that was already validated; metadata members start empty.
    fn from_material(material: KeyMaterial) -> Self {
        Self {
            material,
            kid: None,
            key_use: None,
            alg: None,
        }
    }

    /// Parses a JWK from JSON text.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        Self::from_object(json::parse_object(text.as_bytes(), "jwk")?)
    }

    /// Parses a JWK from a JSON object.
    pub fn from_object(object: Map<String, Value>) -> Result<Self, Error> {
        let kty = string_member(&object, "kty")?
            .ok_or_else(|| Error::MalformedJwk("kty is missing".into()))?;
        if kty == "oct" {
            return Err(Error::SymmetricKey);
        }
        if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| object.contains_key(**m)) {
            return Err(Error::PrivateKeyMember(member));
        }
        let material = match kty {
            "EC" => {
                let curve = match required(&object, "crv")? {
                    "P-256" => Curve::P256,
                    "P-384" => Curve::P384,
                    other => return Err(Error::UnsupportedCurve(other.to_owned())),
                };
                let x = coordinate(&object, "x", curve)?;
                let y = coordinate(&object, "y", curve)?;
                ec_material(curve, x, y)?
            }
            "OKP" => match required(&object, "crv")? {
                "Ed25519" => KeyMaterial::Okp {
                    x: coordinate(&object, "x", Curve::Ed25519)?,
                },
                other => return Err(Error::UnsupportedCurve(other.to_owned())),
            },
            "RSA" => rsa_material(
                base64url::decode(required(&object, "n")?, "jwk n")?,
                base64url::decode(required(&object, "e")?, "jwk e")?,
            )?,
            other => return Err(Error::UnsupportedKeyType(other.to_owned())),
        };
        let key_use = match string_member(&object, "use")? {
            None => None,
            Some("sig") => Some(KeyUse::Sig),
            Some("enc") => Some(KeyUse::Enc),
            Some(other) => return Err(Error::MalformedJwk(format!("unknown use {other:?}"))),
        };
        Ok(Self {
            material,
            kid: string_member(&object, "kid")?.map(str::to_owned),
            key_use,
            alg: string_member(&object, "alg")?.map(str::to_owned),
        })
    }

    /// Builds a JWK from an uncompressed SEC1 point (`04 || x || y`), as PKCS#11 returns it.
    pub fn from_sec1_point(curve: Curve, point: &[u8]) -> Result<Self, Error> {
        let len = curve.coordinate_len();
        match point {
            [0x04, rest @ ..] if rest.len() == 2 * len => {
                let (x, y) = rest.split_at(len);
                Ok(Self::from_material(ec_material(
                    curve,
                    x.to_vec(),
                    y.to_vec(),
                )?))
            }
            _ => Err(Error::MalformedJwk("not an uncompressed SEC1 point".into())),
        }
    }

    /// Parses a SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn from_spki_pem(pem: &str) -> Result<Self, Error> {
        let key = PKey::public_key_from_pem(pem.as_bytes())
            .map_err(|err| Error::MalformedJwk(format!("SPKI PEM: {err}")))?;
        let material = match key.id() {
            Id::EC => {
                let ec = key.ec_key().map_err(openssl_key_error)?;
                let curve = match ec.group().curve_name() {
                    Some(Nid::X9_62_PRIME256V1) => Curve::P256,
                    Some(Nid::SECP384R1) => Curve::P384,
                    other => return Err(Error::UnsupportedCurve(format!("{other:?}"))),
                };
                let mut ctx = BigNumContext::new().map_err(openssl_key_error)?;
                let point = ec
                    .public_key()
                    .to_bytes(ec.group(), PointConversionForm::UNCOMPRESSED, &mut ctx)
                    .map_err(openssl_key_error)?;
                return Self::from_sec1_point(curve, &point);
            }
            Id::ED25519 => KeyMaterial::Okp {
                x: key.raw_public_key().map_err(openssl_key_error)?,
            },
            Id::RSA => {
                let rsa = key.rsa().map_err(openssl_key_error)?;
                rsa_material(rsa.n().to_vec(), rsa.e().to_vec())?
            }
            other => return Err(Error::UnsupportedKeyType(format!("{other:?}"))),
        };
        Ok(Self::from_material(material))
    }

    /// Encodes the key as a SubjectPublicKeyInfo PEM.
    pub fn to_spki_pem(&self) -> Result<String, Error> {
        let pem = self
            .to_openssl()?
            .public_key_to_pem()
            .map_err(openssl_key_error)?;
        String::from_utf8(pem).map_err(|err| Error::Key(err.to_string()))
    }

    pub fn material(&self) -> &KeyMaterial {
        &self.material
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub fn key_use(&self) -> Option<KeyUse> {
        self.key_use
    }

    /// The `alg` member, if the key is bound to one algorithm.
    pub fn alg(&self) -> Option<&str> {
        self.alg.as_deref()
    }

    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    pub fn with_use(mut self, key_use: KeyUse) -> Self {
        self.key_use = Some(key_use);
        self
    }

    pub fn with_alg(mut self, alg: Algorithm) -> Self {
        self.alg = Some(alg.name().to_owned());
        self
    }

    /// The curve of an EC or OKP key.
    pub fn curve(&self) -> Option<Curve> {
        match &self.material {
            KeyMaterial::Ec { curve, .. } => Some(*curve),
            KeyMaterial::Okp { .. } => Some(Curve::Ed25519),
            KeyMaterial::Rsa { .. } => None,
        }
    }

    /// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order.
    pub fn thumbprint(&self) -> [u8; 32] {
        let canonical = match &self.material {
            KeyMaterial::Ec { curve, x, y } => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                curve.name(),
                base64url::encode(x),
                base64url::encode(y)
            ),
            KeyMaterial::Okp { x } => format!(
                r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                base64url::encode(x)
            ),
            KeyMaterial::Rsa { n, e } => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                base64url::encode(e),
                base64url::encode(n)
            ),
        };
        Sha256::digest(canonical.as_bytes()).into()
    }

    /// The RFC 7638 thumbprint in base64url, the form used as a `kid` across IMMERSE.
    pub fn thumbprint_b64(&self) -> String {
        base64url::encode(self.thumbprint())
    }

    /// Refuses the key for `alg` when its type or curve does not fit, or when its own `alg`
    /// member names another algorithm (RFC 8725 s3.1: one key, one algorithm).
    pub fn check_algorithm(&self, alg: Algorithm) -> Result<(), Error> {
        let fits = matches!(
            (alg, &self.material),
            (
                Algorithm::Es256,
                KeyMaterial::Ec {
                    curve: Curve::P256,
                    ..
                }
            ) | (
                Algorithm::Es384,
                KeyMaterial::Ec {
                    curve: Curve::P384,
                    ..
                }
            ) | (Algorithm::EdDsa, KeyMaterial::Okp { .. })
                | (Algorithm::Rs256 | Algorithm::Ps256, KeyMaterial::Rsa { .. })
        );
        let alg_member_fits = self.alg.as_deref().is_none_or(|own| own == alg.name());
        let use_fits = self.key_use != Some(KeyUse::Enc);
        if fits && alg_member_fits && use_fits {
            Ok(())
        } else {
            Err(Error::KeyAlgorithmMismatch(alg.name()))
        }
    }

    /// The JSON object form, with `kid`, `use` and `alg` when set.
    pub fn to_object(&self) -> Map<String, Value> {
        let mut object = Map::new();
        let mut put = |name: &str, value: String| {
            object.insert(name.to_owned(), Value::String(value));
        };
        match &self.material {
            KeyMaterial::Ec { curve, x, y } => {
                put("kty", "EC".into());
                put("crv", curve.name().into());
                put("x", base64url::encode(x));
                put("y", base64url::encode(y));
            }
            KeyMaterial::Okp { x } => {
                put("kty", "OKP".into());
                put("crv", "Ed25519".into());
                put("x", base64url::encode(x));
            }
            KeyMaterial::Rsa { n, e } => {
                put("kty", "RSA".into());
                put("n", base64url::encode(n));
                put("e", base64url::encode(e));
            }
        }
        if let Some(kid) = &self.kid {
            put("kid", kid.clone());
        }
        if let Some(key_use) = self.key_use {
            let name = match key_use {
                KeyUse::Sig => "sig",
                KeyUse::Enc => "enc",
            };
            put("use", name.into());
        }
        if let Some(alg) = &self.alg {
            put("alg", alg.clone());
        }
        object
    }

    /// The key as an OpenSSL public key, for signature checks and PEM output.
    pub(crate) fn to_openssl(&self) -> Result<PKey<Public>, Error> {
        match &self.material {
            KeyMaterial::Ec { curve, x, y } => {
                let ec = ec_key(*curve, x, y)?;
                PKey::from_ec_key(ec).map_err(openssl_key_error)
            }
            KeyMaterial::Okp { x } => {
                PKey::public_key_from_raw_bytes(x, Id::ED25519).map_err(openssl_key_error)
            }
            KeyMaterial::Rsa { n, e } => {
                let rsa = Rsa::from_public_components(
                    BigNum::from_slice(n).map_err(openssl_key_error)?,
                    BigNum::from_slice(e).map_err(openssl_key_error)?,
                )
                .map_err(openssl_key_error)?;
                PKey::from_rsa(rsa).map_err(openssl_key_error)
            }
        }
    }

    /// The key in josekit's form; only the members josekit needs, so nothing of ours leaks.
    pub(crate) fn to_josekit(&self) -> Result<josekit::jwk::Jwk, Error> {
        let mut object = self.to_object();
        object.remove("use");
        object.remove("alg");
        josekit::jwk::Jwk::from_map(object).map_err(|err| Error::Key(err.to_string()))
    }
}

impl TryFrom<Value> for PublicJwk {
    type Error = Error;
    fn try_from(value: Value) -> Result<Self, Error> {
        match value {
            Value::Object(object) => Self::from_object(object),
            _ => Err(Error::MalformedJwk("a JWK is a JSON object".into())),
        }
    }
}

impl From<PublicJwk> for Value {
    fn from(jwk: PublicJwk) -> Value {
        Value::Object(jwk.to_object())
    }
}

/// A JWK Set (RFC 7517 s5) of public keys; one bad key refuses the whole set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwkSet {
    pub keys: Vec<PublicJwk>,
}

impl PublicJwkSet {
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let object = json::parse_object(text.as_bytes(), "jwks")?;
        match object.get("keys") {
            Some(Value::Array(keys)) => keys
                .iter()
                .cloned()
                .map(PublicJwk::try_from)
                .collect::<Result<Vec<_>, _>>()
                .map(|keys| Self { keys }),
            _ => Err(Error::MalformedJwk("a JWK Set needs a keys array".into())),
        }
    }

    /// The key whose `kid` is `kid`, if exactly one has it.
    pub fn find(&self, kid: &str) -> Option<&PublicJwk> {
        let mut matching = self.keys.iter().filter(|key| key.kid() == Some(kid));
        match (matching.next(), matching.next()) {
            (Some(key), None) => Some(key),
            _ => None,
        }
    }
}

fn string_member<'a>(object: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, Error> {
    match object.get(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(Error::MalformedJwk(format!("{name} is not a string"))),
    }
}

fn required<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a str, Error> {
    string_member(object, name)?.ok_or_else(|| Error::MalformedJwk(format!("{name} is missing")))
}

fn coordinate(
    object: &Map<String, Value>,
    name: &'static str,
    curve: Curve,
) -> Result<Vec<u8>, Error> {
    let bytes = base64url::decode(required(object, name)?, name)?;
    if bytes.len() != curve.coordinate_len() {
        return Err(Error::MalformedJwk(format!(
            "{name} is {} bytes, {} needs {}",
            bytes.len(),
            curve.name(),
            curve.coordinate_len()
        )));
    }
    Ok(bytes)
}

/// Checks that (x, y) is a point of `curve` other than the identity, in pure Rust.
fn ec_material(curve: Curve, x: Vec<u8>, y: Vec<u8>) -> Result<KeyMaterial, Error> {
    let sec1 = sec1_uncompressed(&x, &y);
    // from_sec1_bytes refuses the identity and any point that does not satisfy the curve equation.
    let on_curve = match curve {
        Curve::P256 => p256::PublicKey::from_sec1_bytes(&sec1).is_ok(),
        Curve::P384 => p384::PublicKey::from_sec1_bytes(&sec1).is_ok(),
        Curve::Ed25519 => return Err(Error::UnsupportedCurve(curve.name().into())),
    };
    if on_curve {
        Ok(KeyMaterial::Ec { curve, x, y })
    } else {
        Err(Error::PointNotOnCurve)
    }
}

/// `04 || x || y`, the SEC1 uncompressed encoding.
fn sec1_uncompressed(x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut sec1 = Vec::with_capacity(1 + x.len() + y.len());
    sec1.push(0x04);
    sec1.extend_from_slice(x);
    sec1.extend_from_slice(y);
    sec1
}

fn rsa_material(n: Vec<u8>, e: Vec<u8>) -> Result<KeyMaterial, Error> {
    // RFC 7518 s6.3.1: both use the minimum number of octets, so no leading zero.
    if n.first().is_none_or(|b| *b == 0) || e.first().is_none_or(|b| *b == 0) {
        return Err(Error::MalformedJwk(
            "RSA n or e is empty or zero-padded".into(),
        ));
    }
    if e.len() > 8 || e.last().is_some_and(|b| b & 1 == 0) || e == [1] {
        return Err(Error::MalformedJwk(
            "RSA exponent must be odd, above 1, at most 64 bits".into(),
        ));
    }
    let bits = n.len() * 8 - n[0].leading_zeros() as usize;
    if bits < MIN_RSA_BITS {
        return Err(Error::RsaKeyTooSmall(bits));
    }
    Ok(KeyMaterial::Rsa { n, e })
}

fn ec_key(curve: Curve, x: &[u8], y: &[u8]) -> Result<EcKey<Public>, Error> {
    let nid = curve
        .openssl_nid()
        .ok_or_else(|| Error::UnsupportedCurve(curve.name().into()))?;
    let group = EcGroup::from_curve_name(nid).map_err(openssl_key_error)?;
    let mut ctx = BigNumContext::new().map_err(openssl_key_error)?;
    let point = EcPoint::from_bytes(&group, &sec1_uncompressed(x, y), &mut ctx)
        .map_err(|_| Error::PointNotOnCurve)?;
    EcKey::from_public_key(&group, &point).map_err(openssl_key_error)
}

fn openssl_key_error(err: openssl::error::ErrorStack) -> Error {
    Error::Key(err.to_string())
}

#[cfg(test)]
mod tests;
