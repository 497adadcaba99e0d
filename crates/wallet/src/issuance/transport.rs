//! HTTP exchanges with bounded bodies; an error answer becomes [`WalletError::Refused`] with the
//! service's OAuth `error` code.
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::Value;

use crate::{Wallet, WalletError};

/// A response read in full (up to the configured bound).
pub(crate) struct Fetched {
    /// The public URL asked for (not where the bytes travelled).
    pub url: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Wallet {
    /// Sends `request` (built for `self.locate(url)`) and reads the body, at most
    /// `max_response_bytes`.
    pub(crate) async fn exchange(
        &self,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Fetched, WalletError> {
        let unreachable = |reason: String| WalletError::Unreachable {
            url: url.to_owned(),
            reason,
        };
        self.config()
            .outbound
            .check(&self.locate(url))
            .map_err(|refusal| unreachable(refusal.to_string()))?;
        let mut response = request
            .send()
            .await
            .map_err(|err| unreachable(err.to_string()))?;
        let limit = self.config().max_response_bytes;
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| unreachable(err.to_string()))?
        {
            if body.len() + chunk.len() > limit {
                return Err(WalletError::UnexpectedResponse {
                    url: url.to_owned(),
                    reason: format!("body larger than {limit} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            url: url.to_owned(),
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body,
        })
    }

    /// `POST url` with a JSON body, expecting a 2xx JSON object.
    pub(crate) async fn post_json(&self, url: &str, body: &Value) -> Result<Value, WalletError> {
        let request = self.http().post(self.locate(url)).json(body);
        self.exchange(url, request).await?.success()?.json()
    }
}

impl Fetched {
    /// Itself when 2xx; otherwise the service's OAuth error.
    pub fn success(self) -> Result<Self, WalletError> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        Err(self.refusal())
    }

    /// The OAuth error of a non-2xx answer (RFC 6749 s5.2), or what the body said.
    pub fn refusal(&self) -> WalletError {
        let body: Option<Value> = serde_json::from_slice(&self.body).ok();
        let text = |name: &str| {
            body.as_ref()
                .and_then(|body| body.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        WalletError::Refused {
            url: self.url.clone(),
            status: self.status,
            error: text("error").unwrap_or_else(|| "http_error".into()),
            description: text("error_description").unwrap_or_default(),
        }
    }

    /// The OAuth `error` code of a non-2xx answer, if it has one.
    pub fn error_code(&self) -> Option<String> {
        match self.refusal() {
            WalletError::Refused { error, .. } if self.status >= 400 => Some(error),
            _ => None,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The media type, without parameters, lower-cased.
    pub fn media_type(&self) -> String {
        self.header(CONTENT_TYPE.as_str())
            .and_then(|value| value.split(';').next())
            .map(|value| value.trim().to_ascii_lowercase())
            .unwrap_or_default()
    }

    pub fn json(&self) -> Result<Value, WalletError> {
        match serde_json::from_slice(&self.body) {
            Ok(value @ Value::Object(_)) => Ok(value),
            _ => Err(self.unexpected("the body is not a JSON object")),
        }
    }

    pub fn text(&self) -> Result<String, WalletError> {
        String::from_utf8(self.body.clone()).map_err(|_| self.unexpected("the body is not UTF-8"))
    }

    pub fn unexpected(&self, reason: impl Into<String>) -> WalletError {
        WalletError::UnexpectedResponse {
            url: self.url.clone(),
            reason: reason.into(),
        }
    }
}
