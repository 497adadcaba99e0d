use std::future::Future;
use std::pin::Pin;

use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcKey, PointConversionForm};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use zeroize::Zeroizing;

use crate::{Algorithm, Curve, Error, PublicJwk};

/// The future a [`Signer`] returns; boxed so that `dyn Signer` works.
pub type SignFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, Error>> + Send + 'a>>;

/// A private key that signs for JOSE. Software and PKCS#11 keys implement it the same way, so
/// protocol code never knows where a key lives.
pub trait Signer: Send + Sync {
    fn algorithm(&self) -> Algorithm;

    /// The public half, with `kid` set, as other parties will find it in the registry.
    fn public_jwk(&self) -> &PublicJwk;

    fn kid(&self) -> &str;

    /// Signs `message` and returns the JOSE signature (for ECDSA, raw `r || s`).
    fn sign<'a>(&'a self, message: &'a [u8]) -> SignFuture<'a>;
}

/// An ES256 key in process memory, on OpenSSL. OpenSSL clears the private scalar when the key
/// is freed (`EC_KEY_free` uses `BN_clear_free`), so dropping the signer zeroizes it.
pub struct SoftwareSigner {
    key: EcKey<Private>,
    public: PublicJwk,
}

impl SoftwareSigner {
    /// A fresh P-256 key from OpenSSL's CSPRNG.
    pub fn generate() -> Result<Self, Error> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(key_error)?;
        Self::from_key(EcKey::generate(&group).map_err(key_error)?)
    }

    /// Loads a P-256 private key from PKCS#8 PEM.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, Error> {
        let key = PKey::private_key_from_pem(pem.as_bytes())
            .and_then(|key| key.ec_key())
            .map_err(|err| Error::Key(format!("PKCS#8: {err}")))?;
        if key.group().curve_name() != Some(Nid::X9_62_PRIME256V1) {
            return Err(Error::UnsupportedCurve("software keys are P-256".into()));
        }
        key.check_key().map_err(key_error)?;
        Self::from_key(key)
    }

    /// The private key as PKCS#8 PEM, in memory that is wiped on drop.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, Error> {
        let pem = Zeroizing::new(
            PKey::from_ec_key(self.key.clone())
                .and_then(|key| key.private_key_to_pem_pkcs8())
                .map_err(key_error)?,
        );
        std::str::from_utf8(&pem)
            .map(|text| Zeroizing::new(text.to_owned()))
            .map_err(|err| Error::Key(err.to_string()))
    }

    fn from_key(key: EcKey<Private>) -> Result<Self, Error> {
        let mut ctx = BigNumContext::new().map_err(key_error)?;
        let point = key
            .public_key()
            .to_bytes(key.group(), PointConversionForm::UNCOMPRESSED, &mut ctx)
            .map_err(key_error)?;
        let public = PublicJwk::from_sec1_point(Curve::P256, &point)?;
        let kid = public.thumbprint_b64();
        Ok(Self {
            key,
            public: public.with_kid(kid).with_alg(Algorithm::Es256),
        })
    }

    /// ECDSA P-256 over SHA-256, as JOSE's fixed-width `r || s` (RFC 7518 s3.4).
    fn sign_now(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let signature = EcdsaSig::sign(&openssl::sha::sha256(message), &self.key)
            .map_err(|err| Error::Signing(err.to_string()))?;
        let r = signature.r().to_vec_padded(32);
        let s = signature.s().to_vec_padded(32);
        let (mut r, s) = r
            .and_then(|r| Ok((r, s?)))
            .map_err(|err| Error::Signing(err.to_string()))?;
        r.extend_from_slice(&s);
        Ok(r)
    }
}

fn key_error(err: openssl::error::ErrorStack) -> Error {
    Error::Key(err.to_string())
}

impl Signer for SoftwareSigner {
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
        Box::pin(std::future::ready(self.sign_now(message)))
    }
}

impl std::fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareSigner")
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}
