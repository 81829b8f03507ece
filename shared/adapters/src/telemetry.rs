//! Logging set-up: JSON in Lambda, readable text locally.
//!
//! In Lambda the format follows `AWS_LAMBDA_LOG_FORMAT` (`JSON` or `Text`) and
//! the level `AWS_LAMBDA_LOG_LEVEL`; `RUST_LOG` overrides the level anywhere.
//! Log lines carry ids (`order_id`, `correlation_id`, message ids), never
//! names, addresses, e-mails or whole events.
//!
//! With the `test-support` feature, [`LogCapture`] keeps log lines in memory
//! for tests to assert on.

#[cfg(any(test, feature = "test-support"))]
mod capture;

#[cfg(any(test, feature = "test-support"))]
pub use capture::{CaptureGuard, LogCapture};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// How log lines are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for CloudWatch Logs Insights.
    Json,
    /// Human-readable lines.
    Text,
}

impl LogFormat {
    /// `AWS_LAMBDA_LOG_FORMAT=JSON` selects JSON; anything else is text.
    pub fn from_env() -> Self {
        match std::env::var("AWS_LAMBDA_LOG_FORMAT") {
            Ok(v) if v.eq_ignore_ascii_case("json") => Self::Json,
            _ => Self::Text,
        }
    }
}

/// The level filter: `RUST_LOG` if set, else `AWS_LAMBDA_LOG_LEVEL`, else `info`.
pub fn env_filter() -> EnvFilter {
    if let Ok(filter) = EnvFilter::try_from_default_env() {
        return filter;
    }
    let level = match std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .unwrap_or_default()
        .to_ascii_uppercase()
        .as_str()
    {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "WARN" => "warn",
        "ERROR" | "FATAL" => "error",
        _ => "info",
    };
    EnvFilter::new(level)
}

/// Installs the global subscriber. Safe to call more than once (later calls do
/// nothing), so tests and the local runner can share it.
pub fn init() {
    init_with(LogFormat::from_env(), std::io::stdout);
}

/// Installs the global subscriber with an explicit format and writer.
pub fn init_with<W>(format: LogFormat, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter())
        .with_writer(writer)
        .with_target(false);
    let _already_set = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .try_init(),
        LogFormat::Text => builder.with_ansi(false).compact().try_init(),
    };
}

/// Installs the global subscriber like [`init_with`], plus `extra`, a layer
/// that sees every event at `INFO` and above whatever `RUST_LOG` says (the
/// level filter applies to the printed lines only). The local runner uses it
/// to keep its dashboard's recent orders from the stages' outcome lines, the
/// same lines the deployed stack's metric filters read.
pub fn init_with_layer<W, L>(format: LogFormat, writer: W, extra: L)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    L: tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync + 'static,
{
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let printed = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_target(false);
    let printed = match format {
        LogFormat::Json => printed
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .boxed(),
        LogFormat::Text => printed.with_ansi(false).compact().boxed(),
    };
    let extra = extra.with_filter(tracing_subscriber::filter::LevelFilter::INFO);
    let _already_set = tracing_subscriber::registry()
        .with(extra)
        .with(printed.with_filter(env_filter()))
        .try_init();
}

/// The name of the numeric log field every stage's outcome line carries: the
/// order's age since intake accepted it (`acceptedAt`), in milliseconds. The
/// stack's metric filters turn it into the `AcceptedToEnqueuedMs`,
/// `AcceptedToPersistedMs` and `AcceptedToNotifiedMs` metrics (p50/p99 on the
/// dashboard, p99 of the last one alarmed).
pub const AGE_MS_FIELD: &str = "age_ms";

/// Milliseconds from `accepted_at` to `now`: the `age_ms` field. Clamped to 0
/// when the clocks of two machines disagree, so a metric never goes negative.
pub fn age_ms(accepted_at: time::OffsetDateTime, now: time::OffsetDateTime) -> u64 {
    u64::try_from((now - accepted_at).whole_milliseconds()).unwrap_or(0)
}

/// Displays an error and every source below it, `outer: inner: root`, so a log
/// line keeps the whole cause chain (`tracing::error!(error = %ErrorChain(&err))`).
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_an_age_then_it_is_whole_milliseconds_and_never_negative() {
        let accepted = time::OffsetDateTime::UNIX_EPOCH;
        let later =
            accepted + time::Duration::milliseconds(1_234) + time::Duration::microseconds(999);
        assert_eq!(age_ms(accepted, later), 1_234);
        assert_eq!(age_ms(later, accepted), 0, "clock skew clamps to 0");
        assert_eq!(age_ms(accepted, accepted), 0);
    }
}
