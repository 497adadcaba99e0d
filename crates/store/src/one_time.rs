//! Stateless one-time values: the nonces and challenges that unauthenticated endpoints hand
//! out. Issuing one writes nothing; the value carries its own expiry under a MAC whose key the
//! replicas share through the database, and only spending it records it in the replay cache,
//! until its expiry. So a caller who asks for a million nonces adds no row, and a value is
//! still accepted once, by any replica.
//!
//! A value is hex of `version (1) || expires_at (8, big-endian) || random (16) || MAC (16)`,
//! the MAC being HMAC-SHA-256 truncated to 128 bits over the purpose and the bytes before it.

use std::sync::Arc;

use openssl::hash::MessageDigest;
use openssl::memcmp;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use tokio::sync::OnceCell;

use crate::replay::{Replay, record};
use crate::{Store, StoreError};

const VERSION: u8 = 1;
const KEY_LEN: usize = 32;
const RANDOM_LEN: usize = 16;
const MAC_LEN: usize = 16;
const BODY_LEN: usize = 1 + 8 + RANDOM_LEN;
const VALUE_LEN: usize = BODY_LEN + MAC_LEN;

/// Issues and spends the one-time values of one purpose (its replay-cache scope too).
#[derive(Debug, Clone)]
pub struct OneTimeValues {
    store: Store,
    purpose: Arc<str>,
    key: Arc<OnceCell<[u8; KEY_LEN]>>,
}

impl Store {
    /// The one-time values of `purpose` (a short name chosen by code, at most
    /// [`crate::MAX_SCOPE_LEN`] bytes). Their key is read, or made, on first use.
    pub fn one_time_values(&self, purpose: &str) -> OneTimeValues {
        OneTimeValues {
            store: self.clone(),
            purpose: purpose.into(),
            key: Arc::new(OnceCell::new()),
        }
    }
}

impl OneTimeValues {
    /// A fresh value that [`OneTimeValues::spend`] accepts once before `expires_at` (unix
    /// seconds). Writes nothing, except the purpose's key the first time any replica needs it.
    pub async fn issue(&self, expires_at: i64) -> Result<String, StoreError> {
        let mut value = Vec::with_capacity(VALUE_LEN);
        value.push(VERSION);
        value.extend_from_slice(&expires_at.to_be_bytes());
        let mut random = [0u8; RANDOM_LEN];
        openssl::rand::rand_bytes(&mut random)?;
        value.extend_from_slice(&random);
        let mac = self.mac(&value).await?;
        value.extend_from_slice(&mac);
        Ok(hex::encode(value))
    }

    /// True exactly once for a value this purpose issued, while `now` is before its expiry;
    /// false for anything else (malformed, forged, of another purpose, expired, spent).
    pub async fn spend(&self, value: &str, now: i64) -> Result<bool, StoreError> {
        let Some(bytes) = (value.len() == 2 * VALUE_LEN)
            .then(|| hex::decode(value).ok())
            .flatten()
        else {
            return Ok(false);
        };
        let (body, mac) = bytes.split_at(BODY_LEN);
        if body[0] != VERSION || !memcmp::eq(&self.mac(body).await?, mac) {
            return Ok(false);
        }
        let mut expiry = [0u8; 8];
        expiry.copy_from_slice(&body[1..9]);
        let expires_at = i64::from_be_bytes(expiry);
        if expires_at <= now {
            return Ok(false);
        }
        let spent = record(&self.store.pool, &self.purpose, value, expires_at, now).await?;
        Ok(spent == Replay::Fresh)
    }

    async fn mac(&self, body: &[u8]) -> Result<[u8; MAC_LEN], StoreError> {
        let key = self.key.get_or_try_init(|| self.load_key()).await?;
        let key = PKey::hmac(key)?;
        let mut signer = Signer::new(MessageDigest::sha256(), &key)?;
        signer.update(self.purpose.as_bytes())?;
        // The separator keeps (purpose, body) pairs from colliding.
        signer.update(&[0])?;
        signer.update(body)?;
        let full = signer.sign_to_vec()?;
        let mut mac = [0u8; MAC_LEN];
        mac.copy_from_slice(&full[..MAC_LEN]);
        Ok(mac)
    }

    /// The purpose's key: the one stored, or a new one stored by whichever replica is first
    /// (the primary key lets exactly one insert win; everyone then reads the winner's).
    async fn load_key(&self) -> Result<[u8; KEY_LEN], StoreError> {
        let mut candidate = [0u8; KEY_LEN];
        openssl::rand::rand_bytes(&mut candidate)?;
        sqlx::query(
            "INSERT INTO one_time_value_keys (purpose, key_hex) VALUES ($1, $2) \
             ON CONFLICT (purpose) DO NOTHING",
        )
        .bind(&*self.purpose)
        .bind(hex::encode(candidate))
        .execute(&self.store.pool)
        .await?;
        let stored: String =
            sqlx::query_scalar("SELECT key_hex FROM one_time_value_keys WHERE purpose = $1")
                .bind(&*self.purpose)
                .fetch_one(&self.store.pool)
                .await?;
        let mut key = [0u8; KEY_LEN];
        hex::decode_to_slice(&stored, &mut key).map_err(|_| StoreError::CorruptKey)?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[tokio::test]
    async fn a_value_is_spent_once_and_issuing_writes_no_replay_row() {
        let store = Store::connect_in_memory().await.unwrap();
        let nonces = store.one_time_values("test:nonce");
        let mut issued = Vec::new();
        for _ in 0..100 {
            issued.push(nonces.issue(NOW + 60).await.unwrap());
        }
        assert_eq!(store.replay_entries("test:nonce").await.unwrap(), 0);
        assert!(nonces.spend(&issued[0], NOW).await.unwrap());
        assert!(!nonces.spend(&issued[0], NOW).await.unwrap());
        assert_eq!(store.replay_entries("test:nonce").await.unwrap(), 1);
        // Another handle on the same store (another replica) shares the key and the spend.
        let replica = store.one_time_values("test:nonce");
        assert!(!replica.spend(&issued[0], NOW).await.unwrap());
        assert!(replica.spend(&issued[1], NOW).await.unwrap());
    }

    #[tokio::test]
    async fn forged_expired_and_foreign_values_are_refused_without_a_row() {
        let store = Store::connect_in_memory().await.unwrap();
        let nonces = store.one_time_values("test:nonce");
        let value = nonces.issue(NOW + 60).await.unwrap();
        assert!(!nonces.spend(&value, NOW + 60).await.unwrap(), "expired");
        let other = store.one_time_values("test:challenge");
        assert!(!other.spend(&value, NOW).await.unwrap(), "another purpose");
        // A later expiry written into the value breaks its MAC.
        let mut bytes = hex::decode(&value).unwrap();
        bytes[8] ^= 1;
        assert!(
            !nonces.spend(&hex::encode(&bytes), NOW).await.unwrap(),
            "forged"
        );
        for malformed in ["", "zz", &value[..value.len() - 2], &format!("{value}00")] {
            assert!(
                !nonces.spend(malformed, NOW).await.unwrap(),
                "{malformed:?}"
            );
        }
        assert_eq!(store.replay_entries("test:nonce").await.unwrap(), 0);
        assert_eq!(store.replay_entries("test:challenge").await.unwrap(), 0);
        assert!(nonces.spend(&value, NOW).await.unwrap());
    }
}
