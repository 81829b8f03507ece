//! The page at `GET /`: a live view of the pipeline for people.
//!
//! One static HTML file ([`PAGE`], `dashboard.html`) with its own CSS and a
//! small script, no build step and no framework: it asks `GET /_local/status`
//! every second and redraws the stage diagram (counters per stage, queue and
//! DLQ depths), the last orders (ids, status, age at each stage) and the last
//! failures with their reasons, without reloading. It sets every value from
//! the status as text, never as markup. The browser test
//! (`tests/tests/dashboard_browser.rs`) checks it in headless Chromium.

/// Where the page is served.
pub const PATH: &str = "/";

/// The page.
pub const PAGE: &str = include_str!("dashboard.html");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{QueueStatus, Stages, Status};

    #[test]
    fn the_page_reads_the_fields_the_status_answer_has() {
        let status = Status {
            backend: "embedded".into(),
            stages: Stages {
                accepted: 1,
                rejected: 0,
                persisted: 1,
                notified: 1,
                failed: 0,
            },
            queues: ["orders", "ordersDlq", "notifierOnFailure", "events"]
                .into_iter()
                .map(|k| {
                    let q = QueueStatus {
                        url: String::new(),
                        visible: 0,
                        in_flight: 0,
                    };
                    (k.to_owned(), q)
                })
                .collect(),
            invocations: Default::default(),
            recent_orders: Vec::new(),
            recent_failures: Vec::new(),
        };
        let json = serde_json::to_value(&status).unwrap();
        let object = json.as_object().unwrap();
        for key in [
            "stages",
            "queues",
            "backend",
            "recentOrders",
            "recentFailures",
        ] {
            assert!(object.contains_key(key), "status has no {key}");
            assert!(PAGE.contains(key), "page does not read {key}");
        }
        for key in json["queues"].as_object().unwrap().keys() {
            assert!(
                PAGE.contains(&format!("\"{key}\"")),
                "page ignores queue {key}"
            );
        }
        for field in [
            "orderId",
            "enqueuedMs",
            "persistedMs",
            "notifiedMs",
            "reason",
            "stage",
            "outcome",
        ] {
            assert!(PAGE.contains(field), "page does not show {field}");
        }
        assert!(PAGE.contains(crate::gateway::STATUS_PATH));
        // Values go in as text only.
        assert!(!PAGE.contains("innerHTML"));
    }
}
