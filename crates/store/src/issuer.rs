//! OpenID4VCI issuer storage: credential offers with their pre-authorized codes, access tokens,
//! status lists and the status of every issued credential. Rows are plain data; the issuer
//! crate owns every rule about them. Secrets (codes, tx_codes, access tokens) arrive here
//! already hashed.
use sqlx::FromRow;

use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct OfferRow {
    pub offer_id: String,
    /// Hex of SHA-256 of the pre-authorized code.
    pub code_hash: String,
    /// JSON array of credential configuration ids.
    pub configuration_ids: String,
    /// JSON object of the subject's claims.
    pub claims: String,
    /// Hex of SHA-256 of the tx_code, when one is required.
    pub tx_code_hash: Option<String>,
    pub attempts_left: i64,
    /// `open`, `redeemed` or `dead`.
    pub state: String,
    /// `active` or `revoked`.
    pub status: String,
    pub offer_json: Option<String>,
    /// 1: credentials wait (deferred issuance) until the offer is `ready`.
    pub deferred: i64,
    pub ready: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

/// What happened to a pre-authorized code presented at the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// The code (and tx_code) matched: it is now spent and the offer is returned.
    Redeemed(Box<OfferRow>),
    /// No offer has this code.
    Unknown,
    /// Already redeemed, dead after too many tx_code attempts, or revoked.
    NotOpen,
    Expired,
    /// The tx_code did not match; the attempts left after this one (0: the code is now dead).
    WrongTxCode {
        attempts_left: i64,
    },
    /// The offer has a tx_code and none was presented (no attempt is spent).
    TxCodeMissing,
    /// A tx_code was presented for an offer without one.
    TxCodeUnexpected,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct AccessTokenRow {
    /// Hex of SHA-256 of the access token.
    pub token_hash: String,
    pub offer_id: String,
    pub client_id: String,
    /// RFC 7638 thumbprint (base64url) of the DPoP key the token is bound to.
    pub jkt: String,
    pub expires_at: i64,
    /// JSON array of the credential identifiers granted (OpenID4VCI 1.0 s6.2), when the grant
    /// came from `authorization_details`; `None` otherwise.
    pub credential_identifiers: Option<String>,
    /// JSON array of the credential configuration ids the token grants: the offer's for a
    /// pre-authorized code, those the scope or authorization_details authorized otherwise.
    pub configuration_ids: String,
}

/// What a handle of the authorization code flow stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationKind {
    /// A pushed authorization request's `request_uri` (RFC 9126 s2.2).
    RequestUri,
    /// An authorization code (RFC 6749 s4.1.2).
    Code,
}

impl AuthorizationKind {
    fn name(self) -> &'static str {
        match self {
            Self::RequestUri => "request_uri",
            Self::Code => "code",
        }
    }
}

/// A pushed authorization request or the code issued for it: what the token endpoint checks.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct AuthorizationRow {
    /// Hex of SHA-256 of the request_uri or code.
    pub handle_hash: String,
    pub offer_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    /// RFC 7636 s4.2 S256 `code_challenge`.
    pub code_challenge: String,
    /// The client's `state`, echoed in the authorization response.
    pub state: Option<String>,
    /// JSON array of the credential configuration ids authorized.
    pub configuration_ids: String,
    /// 1: authorized through `authorization_details` (the token response returns them).
    pub by_details: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DeferredRow {
    pub transaction_id: String,
    pub offer_id: String,
    pub configuration_id: String,
    /// JSON array of the holder keys (public JWKs) whose proofs were checked.
    pub holder_keys: String,
    /// `pending` or `done`.
    pub state: String,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct StatusListRow {
    pub list_id: String,
    pub bits: i64,
    pub capacity: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct CredentialRow {
    pub list_id: String,
    pub idx: i64,
    pub offer_id: String,
    pub status: i64,
    pub issued_at: i64,
    pub expires_at: i64,
}

macro_rules! offer_columns {
    () => {
        "offer_id, code_hash, configuration_ids, claims, tx_code_hash, attempts_left, state, \
         status, offer_json, deferred, ready, created_at, expires_at"
    };
}

impl Store {
    pub async fn insert_offer(&self, row: &OfferRow) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO issuer_offers (",
            offer_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&row.offer_id)
        .bind(&row.code_hash)
        .bind(&row.configuration_ids)
        .bind(&row.claims)
        .bind(&row.tx_code_hash)
        .bind(row.attempts_left)
        .bind(&row.state)
        .bind(&row.status)
        .bind(&row.offer_json)
        .bind(row.deferred)
        .bind(row.ready)
        .bind(row.created_at)
        .bind(row.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn offer(&self, offer_id: &str) -> Result<Option<OfferRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            offer_columns!(),
            " FROM issuer_offers WHERE offer_id = $1"
        ))
        .bind(offer_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn offer_by_code(&self, code_hash: &str) -> Result<Option<OfferRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            offer_columns!(),
            " FROM issuer_offers WHERE code_hash = $1"
        ))
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// The offer JSON of an open offer passed by reference, exactly once: one UPDATE clears it
    /// and returns it, so a second fetch (or a racing one) gets `None`.
    pub async fn take_offer_json(
        &self,
        offer_id: &str,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        let Some(OfferRow {
            offer_json: Some(json),
            ..
        }) = self.offer(offer_id).await?
        else {
            return Ok(None);
        };
        // The text never changes while set, so whoever clears it serves what it read.
        let cleared = sqlx::query(
            "UPDATE issuer_offers SET offer_json = NULL \
             WHERE offer_id = $1 AND offer_json IS NOT NULL AND state = 'open' AND expires_at > $2",
        )
        .bind(offer_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok((cleared.rows_affected() == 1).then_some(json))
    }

    /// Spends a pre-authorized code. `tx_code_hash` is the hash of the presented tx_code, or
    /// `""` when none was presented. The redemption itself is one UPDATE, so two racing token
    /// requests cannot both redeem; a wrong tx_code costs one attempt, and the last one kills
    /// the code (also one UPDATE).
    pub async fn redeem_pre_authorized(
        &self,
        code_hash: &str,
        tx_code_hash: &str,
        now: i64,
    ) -> Result<Redemption, StoreError> {
        let redeemed: Option<OfferRow> = sqlx::query_as(concat!(
            "UPDATE issuer_offers SET state = 'redeemed' \
             WHERE code_hash = $1 AND state = 'open' AND status = 'active' AND expires_at > $2 \
             AND COALESCE(tx_code_hash, '') = $3 RETURNING ",
            offer_columns!()
        ))
        .bind(code_hash)
        .bind(now)
        .bind(tx_code_hash)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = redeemed {
            return Ok(Redemption::Redeemed(Box::new(row)));
        }
        let Some(row) = self.offer_by_code(code_hash).await? else {
            return Ok(Redemption::Unknown);
        };
        if row.state != "open" || row.status != "active" {
            return Ok(Redemption::NotOpen);
        }
        if row.expires_at <= now {
            return Ok(Redemption::Expired);
        }
        match (&row.tx_code_hash, tx_code_hash.is_empty()) {
            (None, false) => return Ok(Redemption::TxCodeUnexpected),
            (Some(_), true) => return Ok(Redemption::TxCodeMissing),
            _ => {}
        }
        let left: Option<(i64,)> = sqlx::query_as(
            "UPDATE issuer_offers SET attempts_left = attempts_left - 1, \
             state = CASE WHEN attempts_left <= 1 THEN 'dead' ELSE state END \
             WHERE code_hash = $1 AND state = 'open' AND tx_code_hash IS NOT NULL AND tx_code_hash <> $2 \
             RETURNING attempts_left",
        )
        .bind(code_hash)
        .bind(tx_code_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match left {
            Some((attempts_left,)) => Redemption::WrongTxCode {
                attempts_left: attempts_left.max(0),
            },
            None => Redemption::NotOpen,
        })
    }

    /// Marks the offer revoked (its code can no longer be redeemed and its tokens get no more
    /// credentials) and sets `status` on every credential issued under it; returns how many.
    pub async fn set_offer_credential_status(
        &self,
        offer_id: &str,
        status: i64,
        revoke_offer: bool,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        if revoke_offer {
            sqlx::query("UPDATE issuer_offers SET status = 'revoked' WHERE offer_id = $1")
                .bind(offer_id)
                .execute(&mut *tx)
                .await?;
        }
        let updated = sqlx::query("UPDATE issuer_credentials SET status = $1 WHERE offer_id = $2")
            .bind(status)
            .bind(offer_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(updated.rows_affected())
    }

    /// Marks a deferred offer ready; returns whether the offer exists.
    pub async fn set_offer_ready(&self, offer_id: &str) -> Result<bool, StoreError> {
        let updated = sqlx::query("UPDATE issuer_offers SET ready = 1 WHERE offer_id = $1")
            .bind(offer_id)
            .execute(&self.pool)
            .await?;
        Ok(updated.rows_affected() == 1)
    }

    pub async fn insert_deferred(&self, row: &DeferredRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO issuer_deferred (transaction_id, offer_id, configuration_id, holder_keys, \
             state, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&row.transaction_id)
        .bind(&row.offer_id)
        .bind(&row.configuration_id)
        .bind(&row.holder_keys)
        .bind(&row.state)
        .bind(row.created_at)
        .bind(row.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The pending transaction `transaction_id` of `offer_id`, unexpired at `now`.
    pub async fn pending_deferred(
        &self,
        transaction_id: &str,
        offer_id: &str,
        now: i64,
    ) -> Result<Option<DeferredRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT transaction_id, offer_id, configuration_id, holder_keys, state, created_at, \
             expires_at FROM issuer_deferred WHERE transaction_id = $1 AND offer_id = $2 \
             AND state = 'pending' AND expires_at > $3",
        )
        .bind(transaction_id)
        .bind(offer_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Completes a pending transaction, exactly once (one UPDATE decides).
    pub async fn complete_deferred(&self, transaction_id: &str) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE issuer_deferred SET state = 'done' WHERE transaction_id = $1 AND state = 'pending'",
        )
        .bind(transaction_id)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    pub async fn insert_access_token(&self, row: &AccessTokenRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO issuer_access_tokens (token_hash, offer_id, client_id, jkt, expires_at, \
             credential_identifiers, configuration_ids) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&row.token_hash)
        .bind(&row.offer_id)
        .bind(&row.client_id)
        .bind(&row.jkt)
        .bind(row.expires_at)
        .bind(&row.credential_identifiers)
        .bind(&row.configuration_ids)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The access token with this hash, while it has not expired at `now`.
    pub async fn access_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<AccessTokenRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT token_hash, offer_id, client_id, jkt, expires_at, credential_identifiers, \
             configuration_ids FROM issuer_access_tokens \
             WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Gives an offer the (hashed) `issuer_state` of its authorization_code grant.
    pub async fn set_offer_issuer_state(
        &self,
        offer_id: &str,
        issuer_state_hash: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE issuer_offers SET issuer_state_hash = $1 WHERE offer_id = $2")
            .bind(issuer_state_hash)
            .bind(offer_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The offer whose authorization_code grant carries this `issuer_state` (hash).
    pub async fn offer_by_issuer_state(
        &self,
        issuer_state_hash: &str,
    ) -> Result<Option<OfferRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            offer_columns!(),
            " FROM issuer_offers WHERE issuer_state_hash = $1"
        ))
        .bind(issuer_state_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Spends an open, active, unexpired offer by id (the authorization code grant's
    /// counterpart of [`Store::redeem_pre_authorized`]): one UPDATE decides, so an offer yields
    /// one access token whichever grant redeems it.
    pub async fn redeem_offer(&self, offer_id: &str, now: i64) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE issuer_offers SET state = 'redeemed' \
             WHERE offer_id = $1 AND state = 'open' AND status = 'active' AND expires_at > $2",
        )
        .bind(offer_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    pub async fn insert_authorization(
        &self,
        kind: AuthorizationKind,
        row: &AuthorizationRow,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO issuer_authorizations (handle_hash, kind, offer_id, client_id, \
             redirect_uri, code_challenge, state, configuration_ids, by_details, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&row.handle_hash)
        .bind(kind.name())
        .bind(&row.offer_id)
        .bind(&row.client_id)
        .bind(&row.redirect_uri)
        .bind(&row.code_challenge)
        .bind(&row.state)
        .bind(&row.configuration_ids)
        .bind(row.by_details)
        .bind(row.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The request or code of `kind` with this hash, while unexpired at `now`. Whether it was
    /// already used is the replay cache's to say.
    pub async fn authorization(
        &self,
        kind: AuthorizationKind,
        handle_hash: &str,
        now: i64,
    ) -> Result<Option<AuthorizationRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT handle_hash, offer_id, client_id, redirect_uri, code_challenge, state, \
             configuration_ids, by_details, expires_at FROM issuer_authorizations \
             WHERE handle_hash = $1 AND kind = $2 AND expires_at > $3",
        )
        .bind(handle_hash)
        .bind(kind.name())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Creates the status list unless it exists.
    pub async fn ensure_status_list(&self, row: &StatusListRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO issuer_status_lists (list_id, bits, capacity, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (list_id) DO NOTHING",
        )
        .bind(&row.list_id)
        .bind(row.bits)
        .bind(row.capacity)
        .bind(row.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn status_lists(&self) -> Result<Vec<StatusListRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT list_id, bits, capacity, created_at FROM issuer_status_lists ORDER BY list_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn status_list(&self, list_id: &str) -> Result<Option<StatusListRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT list_id, bits, capacity, created_at FROM issuer_status_lists WHERE list_id = $1",
        )
        .bind(list_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records an issued credential; a (list, index) already taken fails with a conflict
    /// ([`StoreError::is_conflict`]) and the caller draws another index.
    pub async fn insert_credential(&self, row: &CredentialRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO issuer_credentials (list_id, idx, offer_id, status, issued_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&row.list_id)
        .bind(row.idx)
        .bind(&row.offer_id)
        .bind(row.status)
        .bind(row.issued_at)
        .bind(row.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// `(index, status)` of every credential of the list whose status is not VALID.
    pub async fn non_valid_statuses(&self, list_id: &str) -> Result<Vec<(i64, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT idx, status FROM issuer_credentials WHERE list_id = $1 AND status <> 0",
        )
        .bind(list_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(id: &str, tx_code_hash: Option<&str>) -> OfferRow {
        OfferRow {
            offer_id: id.into(),
            code_hash: format!("code-{id}"),
            configuration_ids: "[\"pid\"]".into(),
            claims: "{}".into(),
            tx_code_hash: tx_code_hash.map(str::to_owned),
            attempts_left: 2,
            state: "open".into(),
            status: "active".into(),
            offer_json: Some("{\"offer\":1}".into()),
            deferred: 0,
            ready: 1,
            created_at: 0,
            expires_at: 100,
        }
    }

    #[tokio::test]
    async fn a_code_is_redeemed_once_and_not_after_expiry() {
        let store = Store::connect_in_memory().await.expect("connect");
        store.insert_offer(&offer("a", None)).await.expect("insert");
        store.insert_offer(&offer("b", None)).await.expect("insert");
        let first = store
            .redeem_pre_authorized("code-a", "", 10)
            .await
            .expect("redeem");
        assert!(matches!(first, Redemption::Redeemed(row) if row.offer_id == "a"));
        let second = store
            .redeem_pre_authorized("code-a", "", 10)
            .await
            .expect("redeem");
        assert_eq!(second, Redemption::NotOpen);
        let late = store
            .redeem_pre_authorized("code-b", "", 100)
            .await
            .expect("redeem");
        assert_eq!(late, Redemption::Expired);
        let unknown = store
            .redeem_pre_authorized("code-x", "", 10)
            .await
            .expect("redeem");
        assert_eq!(unknown, Redemption::Unknown);
        assert_eq!(
            store
                .redeem_pre_authorized("code-b", "tx", 10)
                .await
                .expect("redeem"),
            Redemption::TxCodeUnexpected
        );
    }

    #[tokio::test]
    async fn wrong_tx_codes_spend_attempts_and_the_last_kills_the_code() {
        let store = Store::connect_in_memory().await.expect("connect");
        store
            .insert_offer(&offer("a", Some("right")))
            .await
            .expect("insert");
        assert_eq!(
            store
                .redeem_pre_authorized("code-a", "", 10)
                .await
                .expect("redeem"),
            Redemption::TxCodeMissing
        );
        assert_eq!(
            store
                .redeem_pre_authorized("code-a", "wrong", 10)
                .await
                .expect("redeem"),
            Redemption::WrongTxCode { attempts_left: 1 }
        );
        assert_eq!(
            store
                .redeem_pre_authorized("code-a", "wrong", 10)
                .await
                .expect("redeem"),
            Redemption::WrongTxCode { attempts_left: 0 }
        );
        assert_eq!(
            store
                .redeem_pre_authorized("code-a", "right", 10)
                .await
                .expect("redeem"),
            Redemption::NotOpen
        );
    }

    #[tokio::test]
    async fn offer_json_is_served_once_and_a_taken_index_conflicts() {
        let store = Store::connect_in_memory().await.expect("connect");
        store.insert_offer(&offer("a", None)).await.expect("insert");
        assert!(
            store
                .take_offer_json("a", 10)
                .await
                .expect("take")
                .is_some()
        );
        assert!(
            store
                .take_offer_json("a", 10)
                .await
                .expect("take")
                .is_none()
        );
        store
            .ensure_status_list(&StatusListRow {
                list_id: "l".into(),
                bits: 2,
                capacity: 16,
                created_at: 0,
            })
            .await
            .expect("list");
        let row = CredentialRow {
            list_id: "l".into(),
            idx: 3,
            offer_id: "a".into(),
            status: 0,
            issued_at: 0,
            expires_at: 10,
        };
        store.insert_credential(&row).await.expect("insert");
        let err = store.insert_credential(&row).await.expect_err("conflict");
        assert!(err.is_conflict());
        assert_eq!(
            store
                .set_offer_credential_status("a", 1, true)
                .await
                .expect("set"),
            1
        );
        assert_eq!(
            store.non_valid_statuses("l").await.expect("list"),
            vec![(3, 1)]
        );
        assert_eq!(
            store.offer("a").await.expect("offer").expect("row").status,
            "revoked"
        );
    }

    #[tokio::test]
    async fn authorizations_are_found_by_kind_and_only_until_they_expire() {
        let store = Store::connect_in_memory().await.expect("connect");
        store.insert_offer(&offer("a", None)).await.expect("insert");
        store
            .set_offer_issuer_state("a", "state-hash")
            .await
            .expect("issuer_state");
        assert_eq!(
            store
                .offer_by_issuer_state("state-hash")
                .await
                .expect("offer")
                .expect("row")
                .offer_id,
            "a"
        );
        let row = AuthorizationRow {
            handle_hash: "request-hash".into(),
            offer_id: "a".into(),
            client_id: "wallet".into(),
            redirect_uri: "https://wallet.test/cb".into(),
            code_challenge: "challenge".into(),
            state: None,
            configuration_ids: "[\"pid\"]".into(),
            by_details: 1,
            expires_at: 60,
        };
        store
            .insert_authorization(AuthorizationKind::RequestUri, &row)
            .await
            .expect("insert");
        let found = store
            .authorization(AuthorizationKind::RequestUri, "request-hash", 59)
            .await
            .expect("lookup");
        assert_eq!(found, Some(row));
        // A request_uri is not a code, and expired at its expiry.
        for (kind, now) in [
            (AuthorizationKind::Code, 10),
            (AuthorizationKind::RequestUri, 60),
        ] {
            assert!(
                store
                    .authorization(kind, "request-hash", now)
                    .await
                    .expect("lookup")
                    .is_none()
            );
        }
        // The offer is redeemed once, and not after its expiry.
        assert!(store.redeem_offer("a", 10).await.expect("redeem"));
        assert!(!store.redeem_offer("a", 10).await.expect("redeem"));
        store.insert_offer(&offer("b", None)).await.expect("insert");
        assert!(!store.redeem_offer("b", 100).await.expect("redeem"));
    }
}
