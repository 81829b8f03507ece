//! Small helpers over the SQS SDK, for checking queues independently of the
//! adapters under test.

/// One attribute of a queue (`QueueArn`, `ApproximateNumberOfMessages`, ...).
pub async fn queue_attribute(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    name: aws_sdk_sqs::types::QueueAttributeName,
) -> Option<String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .ok()?
        .attributes?
        .remove(&name)
}

/// A string message attribute of a message received with the SQS SDK.
pub fn string_attribute(message: &aws_sdk_sqs::types::Message, name: &str) -> Option<String> {
    message
        .message_attributes()
        .and_then(|a| a.get(name))
        .and_then(|v| v.string_value())
        .map(str::to_owned)
}
