use std::future::Future;
use std::pin::Pin;

use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
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

/// An ES256 key in process memory. The secret scalar is zeroized when the signer is dropped
/// (p256's `SigningKey` is `ZeroizeOnDrop`).
pub struct SoftwareSigner {
    key: p256::ecdsa::SigningKey,
    public: PublicJwk,
}

impl SoftwareSigner {
    /// A fresh P-256 key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        Self::from_key(p256::ecdsa::SigningKey::random(&mut rand_core::OsRng))
    }

    /// Loads a P-256 private key from PKCS#8 PEM.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, Error> {
        p256::ecdsa::SigningKey::from_pkcs8_pem(pem)
            .map(Self::from_key)
            .map_err(|err| Error::Key(format!("PKCS#8: {err}")))
    }

    /// The private key as PKCS#8 PEM, in memory that is wiped on drop.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, Error> {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|err| Error::Key(format!("PKCS#8: {err}")))
    }

    fn from_key(key: p256::ecdsa::SigningKey) -> Self {
        let point = key.verifying_key().to_encoded_point(false);
        let public = PublicJwk::from_sec1_point(Curve::P256, point.as_bytes())
            .expect("a point derived from a P-256 scalar lies on P-256");
        let kid = public.thumbprint_b64();
        Self {
            key,
            public: public.with_kid(kid).with_alg(Algorithm::Es256),
        }
    }
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
        let signature: p256::ecdsa::Signature = self.key.sign(message);
        Box::pin(std::future::ready(Ok(signature.to_bytes().to_vec())))
    }
}

impl std::fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareSigner")
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}
