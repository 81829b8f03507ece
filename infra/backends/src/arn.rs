//! ARNs and URLs of the emulated resources, and the ARN of any queue URL.

/// Account id of every embedded resource (the one LocalStack uses too).
pub const EMBEDDED_ACCOUNT: &str = "000000000000";

/// The ARN of a queue from its URL (`…/<account>/<name>`), as SQS builds it.
/// Works for AWS, moto, LocalStack and embedded URLs.
pub fn queue_arn(queue_url: &str, region: &str) -> String {
    let mut parts = queue_url.trim_end_matches('/').rsplit('/');
    let name = parts.next().unwrap_or_default();
    let account = parts
        .next()
        .filter(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or(EMBEDDED_ACCOUNT);
    format!("arn:aws:sqs:{region}:{account}:{name}")
}

/// The name of a queue from its URL.
pub fn queue_name(queue_url: &str) -> &str {
    queue_url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(queue_url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_arns_come_from_the_account_and_name_in_the_url() {
        assert_eq!(
            queue_arn(
                "http://localhost:5000/123456789012/orders.fifo",
                "eu-west-1"
            ),
            "arn:aws:sqs:eu-west-1:123456789012:orders.fifo"
        );
        assert_eq!(
            queue_arn(
                "https://sqs.us-east-1.amazonaws.com/111122223333/q",
                "us-east-1"
            ),
            "arn:aws:sqs:us-east-1:111122223333:q"
        );
        assert_eq!(queue_name("http://x/1/q.fifo"), "q.fifo");
    }
}
