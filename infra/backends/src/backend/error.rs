//! What a backend call can fail with.

use orders_adapters::ports::BoxError;

/// A backend call failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The named queue, table, topic or receipt does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The call was refused or could not be made.
    #[error("backend call failed")]
    Call(#[source] BoxError),
    /// The stream no longer keeps the records asked for: they were older
    /// than its 24-hour retention (`TrimmedDataAccessException`,
    /// <https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_streams_GetRecords.html>).
    #[error("{0}: records trimmed from the stream")]
    Trimmed(String),
    /// A shard iterator was used more than 15 minutes after it was taken
    /// (`ExpiredIteratorException`); a fresh one reads on from the same
    /// position.
    #[error("{0}: shard iterator expired")]
    IteratorExpired(String),
    /// Another runner holds the lease on the stream this one asked to read.
    #[error(transparent)]
    LeaseHeld(LeaseHeld),
    /// This runner's lease on the stream was taken over after it went
    /// unrenewed: it must stop reading (another runner reads the stream now).
    #[error("runner {owner} lost its lease on the stream to another runner")]
    LeaseLost {
        /// This runner's owner id.
        owner: String,
    },
}

/// Who holds a stream's lease, as a runner refused it sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the stream's lease is held by {owner} until {expires_at} unless renewed")]
pub struct LeaseHeld {
    /// The holder's owner id.
    pub owner: String,
    /// When the lease expires unless its holder renews it (RFC 3339, the
    /// holder's clock).
    pub expires_at: String,
}

/// Result of a backend call.
pub type BackendResult<T> = Result<T, BackendError>;
