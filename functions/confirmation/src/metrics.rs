//! The `ConfirmationFailed` metric: one count per confirmation SES refused
//! for good, in CloudWatch's embedded metric format (EMF).
//!
//! An EMF document is a JSON log event with an `_aws` member naming the
//! namespace, the dimension sets and the metrics, and a top-level member per
//! metric value
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>).
//! CloudWatch Logs extracts the metric from the function's log group, with
//! no `PutMetricData` call and no metric filter. The dimension set is empty
//! (`[[]]`), so the alarm reads one series whatever the reason; the reason
//! code is a plain member, for Logs Insights. No address, no order content.
//!
//! The document is written as one line of its own on stdout
//! ([`EmfMetrics`]), beside the tracing lines: a `provided` runtime's
//! output reaches CloudWatch Logs as written. Tests use a recorder
//! (`memory::RecordingMetrics`, with the `test-support` feature).

use std::time::{SystemTime, UNIX_EPOCH};

use orders_domain::confirmation::RefusalCode;
use serde_json::json;

/// The metric's name, as the template's alarm reads it.
pub const CONFIRMATION_FAILED_METRIC: &str = "ConfirmationFailed";

/// Where the function's metrics go.
pub trait Metrics: Send + Sync {
    /// One confirmation refused for good, with `reason`.
    fn refused(&self, reason: RefusalCode);
}

/// The EMF document counting one refusal, at `timestamp_ms` (epoch ms).
pub fn refused_document(namespace: &str, reason: RefusalCode, timestamp_ms: u64) -> String {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [[]],
                "Metrics": [{"Name": CONFIRMATION_FAILED_METRIC, "Unit": "Count"}],
            }],
        },
        CONFIRMATION_FAILED_METRIC: 1,
        "stage": "confirmation",
        "reason": reason.as_str(),
    })
    .to_string()
}

/// [`Metrics`] as EMF lines on stdout, in the stack's metric namespace.
#[derive(Debug, Clone)]
pub struct EmfMetrics {
    namespace: String,
}

impl EmfMetrics {
    /// Metrics in `namespace`.
    pub fn new(namespace: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
        }
    }
}

impl Metrics for EmfMetrics {
    fn refused(&self, reason: RefusalCode) {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let line = refused_document(&self.namespace, reason, now_ms);
        // One write of one line: the tracing lines are written whole too,
        // so the two never interleave within a line.
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

#[cfg(any(test, feature = "test-support"))]
pub mod memory {
    //! A [`Metrics`] that keeps what it counts, for tests.

    use std::sync::Mutex;

    use orders_adapters::sync::lock;

    use super::*;

    /// Keeps every refusal counted.
    #[derive(Debug, Default)]
    pub struct RecordingMetrics(Mutex<Vec<RefusalCode>>);

    impl RecordingMetrics {
        /// The refusals counted so far.
        pub fn refused(&self) -> Vec<RefusalCode> {
            lock(&self.0).clone()
        }
    }

    impl Metrics for RecordingMetrics {
        fn refused(&self, reason: RefusalCode) {
            lock(&self.0).push(reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_emf_with_one_count_and_the_reason() {
        let doc: serde_json::Value = serde_json::from_str(&refused_document(
            "Orders",
            RefusalCode::InvalidAddress,
            1_700_000_000_000,
        ))
        .unwrap();
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert_eq!(directive["Namespace"], "Orders");
        assert_eq!(directive["Dimensions"], json!([[]]));
        assert_eq!(directive["Metrics"][0]["Name"], CONFIRMATION_FAILED_METRIC);
        assert_eq!(doc[CONFIRMATION_FAILED_METRIC], 1);
        assert_eq!(doc["reason"], "invalid-address");
    }
}
