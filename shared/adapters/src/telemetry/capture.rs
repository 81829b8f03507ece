//! A log writer that keeps every line in memory, so a test can assert on
//! what was (and was not) logged. Compiled only with the `test-support`
//! feature.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

use crate::sync::lock;

/// A writer that keeps every log line in memory, so a test can assert on what
/// was (and was not) logged.
#[derive(Debug, Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Everything written so far.
    pub fn contents(&self) -> String {
        let bytes = lock(&self.0);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Makes this capture receive every log line written on the current
    /// thread until the guard drops.
    ///
    /// One process-wide subscriber (installed on first use) writes into the
    /// capture of the thread that logs. Per-thread subscribers would race:
    /// tracing caches each callsite's interest across all live subscribers,
    /// and a callsite first hit on one test thread while another thread's
    /// subscriber was being created could stay silent for it, which made log
    /// assertions flaky.
    pub fn set_default(&self) -> CaptureGuard {
        static INSTALL: std::sync::Once = std::sync::Once::new();
        INSTALL.call_once(|| {
            let subscriber = tracing_subscriber::fmt()
                .json()
                .flatten_event(true)
                .with_span_list(true)
                .with_max_level(tracing::Level::TRACE)
                .with_writer(ThreadCapture)
                .finish();
            // Fails only when the process already has a global subscriber.
            let _ = tracing::subscriber::set_global_default(subscriber);
        });
        let previous = CURRENT_CAPTURE.with(|c| c.replace(Some(self.clone())));
        CaptureGuard { previous }
    }

    /// The capturing subscriber, JSON like Lambda's log format.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_span_list(true)
            .with_max_level(tracing::Level::TRACE)
            .with_writer(self.clone())
            .finish()
    }
}

thread_local! {
    static CURRENT_CAPTURE: std::cell::RefCell<Option<LogCapture>> =
        const { std::cell::RefCell::new(None) };
}

/// Restores the thread's previous capture when dropped.
#[derive(Debug)]
pub struct CaptureGuard {
    previous: Option<LogCapture>,
}

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT_CAPTURE.with(|c| *c.borrow_mut() = previous);
    }
}

/// Writes each line into the logging thread's capture, or nowhere.
struct ThreadCapture;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ThreadCapture {
    type Writer = CaptureWriter;
    fn make_writer(&'a self) -> Self::Writer {
        CaptureWriter(CURRENT_CAPTURE.with(|c| c.borrow().clone()))
    }
}

/// A line's writer: the thread's capture, if any.
struct CaptureWriter(Option<LogCapture>);

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.0 {
            Some(capture) => capture.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        lock(&self.0).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_records_structured_fields() {
        let capture = LogCapture::default();
        {
            let _guard = capture.set_default();
            tracing::info!(order_id = "o-1", "persisted");
        }
        tracing::info!(order_id = "o-2", "after the guard");
        let out = capture.contents();
        assert!(out.contains("\"order_id\":\"o-1\""), "{out}");
        assert!(out.contains("persisted"));
        assert!(!out.contains("o-2"), "{out}");
    }
}
