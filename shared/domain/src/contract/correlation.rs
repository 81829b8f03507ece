//! The correlation id: one request's identity through every stage.

use serde::{Deserialize, Serialize};

use crate::model::{MAX_CORRELATION_ID_LEN, MAX_ID_LEN, is_id_char};

/// Carries one request's identity through every stage (queue message, item,
/// event and every log line). 1–128 printable ASCII characters without spaces
/// when read back; what a client may choose is narrower ([`Self::from_client`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CorrelationId(String);

impl CorrelationId {
    /// Accepts a client's `X-Correlation-Id` when it is an id by the rule
    /// every client-chosen id follows (1 to [`MAX_ID_LEN`] of
    /// [`crate::model::ID_CHARS`]): it reaches log lines and the admin
    /// e-mail, so a client can put neither a long text nor markup, spaces or
    /// look-alike characters there. Anything else is replaced by a minted id
    /// (the caller's choice, not an error: the header is advisory).
    pub fn from_client(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty() && raw.len() <= MAX_ID_LEN && raw.chars().all(is_id_char);
        ok.then(|| Self(raw.to_owned()))
    }

    /// Accepts an id that is 1 to [`MAX_CORRELATION_ID_LEN`] visible ASCII
    /// characters: API Gateway's request ids (base64, with `=`), and every id
    /// already written to a message or an item, so readers never turn an old
    /// message into poison.
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_CORRELATION_ID_LEN
            && raw.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Self(raw.to_owned()))
    }

    /// A fresh random id, for requests that came with none.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for CorrelationId {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
            .ok_or_else(|| "correlation id must be 1-128 visible ASCII characters".into())
    }
}

impl From<CorrelationId> for String {
    fn from(id: CorrelationId) -> String {
        id.0
    }
}
