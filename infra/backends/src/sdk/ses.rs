//! [`MailService`] over SES API v2: `CreateEmailIdentity`,
//! `CreateConfigurationSet` and `SendEmail` with simple content, as the
//! confirmation function's `SesCustomerMailer` sends it.

use async_trait::async_trait;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use crate::backend::{BackendError, BackendResult, MailError, MailService, OutgoingEmail};

/// SES API v2 through the SDK.
#[derive(Debug, Clone)]
pub struct AwsMail {
    client: aws_sdk_sesv2::Client,
}

impl AwsMail {
    /// Wraps a client.
    pub fn new(client: aws_sdk_sesv2::Client) -> Self {
        Self { client }
    }
}

/// Whether an error says the thing to create exists already. SES v2 names
/// it `AlreadyExistsException`
/// (<https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_CreateConfigurationSet.html>);
/// moto answers a second `CreateConfigurationSet` with SES v1's
/// `ConfigurationSetAlreadyExistsException`, so a restart over moto reuses
/// the set as it would on AWS.
fn exists<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.code().is_some_and(|c| {
        c == "AlreadyExistsException"
            || c == "AlreadyExists"
            || c == "ConfigurationSetAlreadyExistsException"
    })
}

fn content(data: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|err| MailError::Call(Box::new(err)))
}

#[async_trait]
impl MailService for AwsMail {
    async fn verify_identity(&self, identity: &str) -> BackendResult<()> {
        match self
            .client
            .create_email_identity()
            .email_identity(identity)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if exists(&err) => Ok(()),
            Err(err) => Err(BackendError::Call(Box::new(err))),
        }
    }

    async fn create_configuration_set(&self, name: &str) -> BackendResult<()> {
        match self
            .client
            .create_configuration_set()
            .configuration_set_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if exists(&err) => Ok(()),
            Err(err) => Err(BackendError::Call(Box::new(err))),
        }
    }

    async fn send_email(&self, email: &OutgoingEmail) -> Result<String, MailError> {
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(
                Body::builder()
                    .text(content(&email.text)?)
                    .html(content(&email.html)?)
                    .build(),
            )
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(&email.from)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(message).build())
            .set_configuration_set_name(email.configuration_set.clone())
            .send()
            .await
            .map_err(|err| match &err {
                SdkError::ServiceError(ctx) => MailError::Refused {
                    code: ctx.err().code().unwrap_or("Unknown").to_owned(),
                    status: ctx.raw().status().as_u16(),
                },
                _ => MailError::Call(Box::new(err)),
            })?;
        Ok(out.message_id.unwrap_or_default())
    }
}
