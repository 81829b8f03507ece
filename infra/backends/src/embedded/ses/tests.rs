//! The embedded SES's AWS rules, on a clock moved by hand, and its files.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use time::macros::datetime;

use super::*;
use crate::embedded::sns::ManualClock;

fn temp_outbox(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "orders-ses-{name}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn email(to: &str) -> OutgoingEmail {
    OutgoingEmail {
        from: "orders@example.com".into(),
        to: to.into(),
        subject: "Your order A-1 is confirmed".into(),
        text: "Hello Zoë,\nyour order A-1.\n".into(),
        html: "<p>Hello Zo&euml;</p>".into(),
        configuration_set: Some("orders".into()),
    }
}

/// Removes a test's outbox when the test ends, however it ends.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An account sending at `rate` from the verified domain `example.com`, in
/// the configuration set `orders`, on a clock moved by hand.
async fn account(name: &str, rate: f64) -> (EmbeddedSes, ManualClock, Cleanup) {
    let clock = ManualClock::new(datetime!(2026-11-24 10:00 UTC));
    let outbox = temp_outbox(name);
    let ses = EmbeddedSes::with_clock(outbox.clone(), rate, Arc::new(clock.clone()));
    ses.verify_identity("example.com").await.unwrap();
    ses.create_configuration_set("orders").await.unwrap();
    (ses, clock, Cleanup(outbox))
}

fn code(result: Result<String, MailError>) -> String {
    match result {
        Err(MailError::Refused { code, .. }) => code,
        other => panic!("not refused: {other:?}"),
    }
}

fn files(ses: &EmbeddedSes) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(ses.outbox())
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[tokio::test]
async fn only_a_verified_identity_may_send() {
    let (ses, _, _cleanup) = account("verified", 14.0).await;
    let mut unverified = email("harry@example.org");
    unverified.from = "orders@elsewhere.example".into();
    assert_eq!(code(ses.send_email(&unverified).await), "MessageRejected");
    // A verified domain covers its addresses; an address identity itself.
    assert!(ses.send_email(&email("harry@example.org")).await.is_ok());
    ses.verify_identity("sender@elsewhere.example")
        .await
        .unwrap();
    unverified.from = "sender@elsewhere.example".into();
    assert!(ses.send_email(&unverified).await.is_ok());
    assert_eq!(ses.sent(), 2);
}

#[tokio::test]
async fn a_named_configuration_set_must_exist() {
    let (ses, _, _cleanup) = account("config-set", 14.0).await;
    let mut mail = email("harry@example.org");
    mail.configuration_set = Some("missing".into());
    assert_eq!(code(ses.send_email(&mail).await), "NotFoundException");
    mail.configuration_set = None;
    assert!(ses.send_email(&mail).await.is_ok());
}

#[tokio::test]
async fn sends_above_the_max_send_rate_are_throttled_and_dropped() {
    let (ses, clock, _cleanup) = account("rate", 2.0).await;
    assert!(ses.send_email(&email("a@example.org")).await.is_ok());
    clock.advance(Duration::from_millis(400));
    assert!(ses.send_email(&email("b@example.org")).await.is_ok());
    clock.advance(Duration::from_millis(400));
    // A third within one second of the first
    assert_eq!(
        code(ses.send_email(&email("c@example.org")).await),
        "TooManyRequestsException"
    );
    assert_eq!(ses.throttled(), 1);
    // Once the first is a second old, one more may go
    clock.advance(Duration::from_millis(200));
    assert!(ses.send_email(&email("c@example.org")).await.is_ok());
    assert_eq!(ses.sent(), 3);
    assert_eq!(files(&ses).len(), 3, "the throttled send wrote nothing");
}

#[tokio::test]
async fn a_suppressed_address_is_accepted_and_not_sent() {
    let (ses, _, _cleanup) = account("suppressed", 14.0).await;
    ses.suppress("Bounced@Example.org");
    let id = ses.send_email(&email("bounced@example.org")).await.unwrap();
    assert!(!id.is_empty());
    assert_eq!(ses.suppressed(), 1);
    assert_eq!(ses.sent(), 0);
    assert!(files(&ses).is_empty());
}

#[tokio::test]
async fn a_message_over_40_mb_is_rejected() {
    let (ses, _, _cleanup) = account("size", 14.0).await;
    let mut big = email("harry@example.org");
    big.html = "x".repeat(MAX_MESSAGE_BYTES);
    assert_eq!(code(ses.send_email(&big).await), "MessageRejected");
}

#[tokio::test]
async fn each_message_is_an_rfc_5322_file_with_both_parts() {
    let (ses, _, _cleanup) = account("eml", 14.0).await;
    let id = ses.send_email(&email("harry@example.org")).await.unwrap();
    let written = files(&ses);
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].extension().and_then(|e| e.to_str()), Some("eml"));
    let text = std::fs::read_to_string(&written[0]).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    for field in [
        "From: orders@example.com",
        "To: harry@example.org",
        "Subject: Your order A-1 is confirmed",
        "Date: Tue, 24 Nov 2026 10:00:00 +0000",
        "MIME-Version: 1.0",
        "Content-Type: multipart/alternative; boundary=",
    ] {
        assert!(head.contains(field), "{field} in\n{head}");
    }
    assert!(head.contains(&format!("Message-ID: <{id}@email.amazonses.com>")));
    assert!(text.lines().all(|l| l.len() <= 998), "RFC 5322 line limit");
    let boundary = head
        .split("boundary=\"")
        .nth(1)
        .and_then(|b| b.split('"').next())
        .unwrap();
    let parts: Vec<&str> = body
        .split(&format!("--{boundary}"))
        .filter(|p| p.contains("Content-Type"))
        .collect();
    assert_eq!(parts.len(), 2);
    let decode = |part: &str| {
        let (_, data) = part.split_once("\r\n\r\n").unwrap();
        let data: String = data.split_whitespace().collect();
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap(),
        )
        .unwrap()
    };
    assert!(parts[0].contains("text/plain; charset=UTF-8"));
    assert_eq!(decode(parts[0]), "Hello Zoë,\nyour order A-1.\n");
    assert!(parts[1].contains("text/html; charset=UTF-8"));
    assert_eq!(decode(parts[1]), "<p>Hello Zo&euml;</p>");
    assert!(body.trim_end().ends_with(&format!("--{boundary}--")));
}

#[test]
fn a_subject_that_is_not_ascii_is_an_encoded_word() {
    let mut mail = email("harry@example.org");
    mail.subject = "Commande confirmée".into();
    let text = render_eml(&mail, "0100abc-000000", datetime!(2026-11-24 10:00 UTC));
    assert!(text.contains("Subject: =?UTF-8?B?"), "{text}");
}
