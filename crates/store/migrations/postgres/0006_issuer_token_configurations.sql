-- The credential configurations an access token grants (a JSON array): the offer's for the
-- pre-authorized code, what scope or authorization_details authorized for the authorization
-- code. The credential endpoint issues nothing else (OpenID4VCI 1.0 s8.3.1.2). A token issued
-- before this column grants nothing; tokens live minutes.
ALTER TABLE issuer_access_tokens ADD COLUMN configuration_ids TEXT NOT NULL DEFAULT '[]';
