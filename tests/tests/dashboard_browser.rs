//! The dashboard `orders-local` serves at `/`, in a real browser.
//!
//! Starts the `orders-local` binary, posts orders (five good ones, one that
//! reuses an id with other content, one invalid), waits until the status
//! endpoint has seen them through, then lets headless Chromium (Debian's
//! `chromium`; `make test` installs it) load `/`, run its script and dump the
//! rendered DOM. The counters, queue depths, order ids and failure reasons in
//! that DOM must be the ones `GET /_local/status` reports: the page is only
//! right if its script fetched and drew them. Without Chromium the test fails,
//! naming the install command; it never skips.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use orders_tests::local::LocalPipeline;
use serde_json::{Value, json};

/// How long the pipeline may take to work the orders off (scaled time).
const DEADLINE: Duration = Duration::from_secs(30);

/// The `chromium` on `PATH`, or `$CHROMIUM`.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("chromium"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "chromium is not installed: `make test` installs it \
                 (apt-get install -y chromium), or set CHROMIUM to a Chromium binary"
            )
        })
}

/// The page as Chromium renders it once its script has run for `budget_ms`
/// of virtual time (network requests complete inside the budget).
fn rendered_dom(url: &str, budget_ms: u32) -> String {
    let profile = std::env::temp_dir().join(format!("orders-chromium-{}", uuid::Uuid::new_v4()));
    let output = Command::new(chromium())
        .args([
            "--headless",
            // Root in CI containers: Chromium's sandbox needs user namespaces.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--virtual-time-budget={budget_ms}"),
            "--dump-dom",
            url,
        ])
        .output()
        .expect("run chromium");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        output.status.success(),
        "chromium failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 DOM")
}

/// The text inside the element with `id` (a leaf element: no children).
fn text_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let marker = format!("id=\"{id}\"");
    let at = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("no element #{id} in the DOM:\n{dom}"));
    let start = at + dom[at..].find('>').unwrap() + 1;
    let end = start + dom[start..].find('<').unwrap();
    &dom[start..end]
}

/// The markup inside `<tbody id="…">`.
fn tbody<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!("<tbody id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no tbody #{id}"));
    let end = at + dom[at..].find("</tbody>").unwrap();
    &dom[at..end]
}

fn order(id: &str, quantity: u32) -> Value {
    json!({"orderID": id, "customerName": "Ada Lovelace",
           "items": [{"itemId": "item456", "quantity": quantity}],
           "shippingAddress": "12 St James's Square, London"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_renders_what_the_status_reports_in_headless_chromium() {
    let chromium = chromium(); // fail first, before starting anything
    assert!(chromium.is_file());
    let outbox = std::env::temp_dir().join(format!("orders-dashboard-{}", uuid::Uuid::new_v4()));
    let outbox_arg = outbox.display().to_string();
    let prefix = format!("dash{}-", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let pipeline = LocalPipeline::start(
        &[
            "--outbox",
            &outbox_arg,
            "--name-prefix",
            &prefix,
            "--time-scale",
            "0.05",
        ],
        &[],
    );
    let http = reqwest::Client::new();
    let ids: Vec<String> = (1..=5).map(|n| format!("dash-{n}")).collect();
    for id in &ids {
        let response = http
            .post(format!("{}/orders", pipeline.url))
            .json(&order(id, 2))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "{id}");
    }
    // Same id, other content: the worker dead-letters it as a conflict.
    let response = http
        .post(format!("{}/orders", pipeline.url))
        .json(&order("dash-1", 3))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    // Invalid: intake rejects it.
    let response = http
        .post(format!("{}/orders", pipeline.url))
        .json(&json!({"items": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);

    let status_url = format!("{}/_local/status", pipeline.url);
    let started = Instant::now();
    let status: Value = loop {
        let status: Value = http
            .get(&status_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let failures = status["recentFailures"].as_array().map_or(0, Vec::len);
        let orders_queue = &status["queues"]["orders"];
        if status["stages"]["notified"] == 5
            && status["stages"]["failed"] == 1
            && failures >= 2
            && orders_queue["visible"] == 0
            && orders_queue["inFlight"] == 0
        {
            break status;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the pipeline did not settle: {status}\n{}",
            pipeline.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Nothing more flows: the page must show these numbers. A browser that
    // came up too slowly to run the script within its budget shows
    // "connecting"; it gets two more tries (the numbers are checked on the
    // last one either way).
    let mut dom = String::new();
    for _ in 0..3 {
        dom = rendered_dom(&format!("{}/", pipeline.url), 5_000);
        if text_of(&dom, "connection") == "live" {
            break;
        }
    }

    assert_eq!(
        text_of(&dom, "connection"),
        "live",
        "the script reached the runner"
    );
    assert_eq!(
        text_of(&dom, "backend"),
        status["backend"].as_str().unwrap()
    );
    for stage in ["accepted", "rejected", "persisted", "notified", "failed"] {
        assert_eq!(
            text_of(&dom, &format!("count-{stage}")),
            status["stages"][stage].to_string(),
            "count-{stage}"
        );
    }
    assert_eq!(text_of(&dom, "count-accepted"), "6");
    assert_eq!(text_of(&dom, "count-rejected"), "1");
    // (Not the admin digest's queue: it may still be gathering its batch.)
    for queue in [
        "orders",
        "ordersDlq",
        "notifierOnFailure",
        "events",
        "adminDigestDlq",
    ] {
        assert_eq!(
            text_of(&dom, &format!("depth-{queue}")),
            status["queues"][queue]["visible"].to_string(),
            "depth-{queue}"
        );
    }
    assert_eq!(text_of(&dom, "depth-ordersDlq"), "1", "the conflict");

    let orders = tbody(&dom, "recent-orders");
    for id in &ids {
        assert!(
            orders.contains(&format!("data-order-id=\"{id}\"")),
            "{id} missing:\n{orders}"
        );
    }
    for recent in status["recentOrders"].as_array().unwrap() {
        let id = recent["orderId"].as_str().unwrap();
        assert!(ids.contains(&id.to_owned()), "unexpected order {id}");
        // All five were announced (the conflicting repeat of dash-1 changed
        // nothing stored), and the page shows each one's age at notification.
        assert_eq!(recent["status"], "notified", "{recent}");
        let ms = recent["notifiedMs"].as_u64().unwrap();
        assert!(
            orders.contains(&format!(">{ms}<")),
            "{id}'s {ms} ms not shown"
        );
    }
    assert!(orders.contains("badge notified"), "{orders}");

    let failures = tbody(&dom, "recent-failures");
    assert!(failures.contains(">conflict<"), "{failures}");
    assert!(failures.contains(">rejected<"), "{failures}");
    assert!(failures.contains(">dash-1<"), "{failures}");
    // Ids only: the customer's name and address never reach the page.
    assert!(!dom.contains("Ada Lovelace") && !dom.contains("St James"));
    drop(pipeline);
    let _ = std::fs::remove_dir_all(&outbox);
}
