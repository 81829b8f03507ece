//! The content hash: what tells a redelivery from a conflict.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::order::Order;
use super::owner::OwnerKey;
use super::values::OrderId;

/// SHA-256 of an order's owner, id and content, hex encoded: equal hashes mean
/// the same order sent twice, different hashes under one (owner, id) mean a
/// conflict. The owner is part of it because the hash is also the FIFO
/// deduplication id: two owners' equal orders must not drop each other.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContentHash(String);

impl ContentHash {
    /// Hashes the canonical JSON of the id and the content. Serialisation order is
    /// fixed by the struct definitions, so the hash is stable across processes.
    pub fn of(owner: &OwnerKey, order_id: &OrderId, order: &Order) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(owner.as_str().as_bytes());
        hasher.update([0u8]);
        hasher.update(order_id.as_str().as_bytes());
        hasher.update([0u8]);
        // Serialising plain strings and integers cannot fail.
        if let Ok(json) = serde_json::to_vec(order) {
            hasher.update(json);
        }
        Self(hex::encode(hasher.finalize()))
    }

    /// Wraps a hash read back from storage (not re-computed).
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
