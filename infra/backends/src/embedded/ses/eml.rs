//! One sent message as an RFC 5322 file: the header fields a mail client
//! needs (From, To, Subject, Date, Message-ID, MIME-Version) and a
//! `multipart/alternative` body (RFC 2046, section 5.1.4) with the text
//! part first and the HTML part last, the one clients prefer. Each part is
//! UTF-8 in base64 (RFC 2045), so any name or line is carried exactly and no
//! line is longer than 76 characters; a subject that is not ASCII is an
//! encoded word (RFC 2047).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

use crate::backend::OutgoingEmail;

/// The message `email`, sent at `now` as `message_id`, as an `.eml` file's
/// text (CRLF line ends, as RFC 5322 requires).
pub fn render(email: &OutgoingEmail, message_id: &str, now: OffsetDateTime) -> String {
    let boundary = format!("=_orders_{}", &message_id[..message_id.len().min(24)]);
    let date = now.format(&Rfc2822).unwrap_or_default();
    let mut lines = vec![
        format!("From: {}", email.from),
        format!("To: {}", email.to),
        format!("Subject: {}", subject(&email.subject)),
        format!("Date: {date}"),
        format!("Message-ID: <{message_id}@email.amazonses.com>"),
        "MIME-Version: 1.0".to_owned(),
        format!("Content-Type: multipart/alternative; boundary=\"{boundary}\""),
        String::new(),
    ];
    for (kind, body) in [("text/plain", &email.text), ("text/html", &email.html)] {
        lines.push(format!("--{boundary}"));
        lines.push(format!("Content-Type: {kind}; charset=UTF-8"));
        lines.push("Content-Transfer-Encoding: base64".to_owned());
        lines.push(String::new());
        let encoded = STANDARD.encode(body.as_bytes());
        lines.extend(
            encoded
                .as_bytes()
                .chunks(76)
                .map(|chunk| String::from_utf8_lossy(chunk).into_owned()),
        );
    }
    lines.push(format!("--{boundary}--"));
    lines.push(String::new());
    lines.join("\r\n")
}

/// The subject as it is when printable ASCII, else one RFC 2047 encoded
/// word.
fn subject(subject: &str) -> String {
    if subject.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        subject.to_owned()
    } else {
        format!("=?UTF-8?B?{}?=", STANDARD.encode(subject.as_bytes()))
    }
}
