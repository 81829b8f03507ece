//! The SDK set-up of a Lambda cold start: configuration from the environment
//! only, one HTTP client shared by every service client, and a bounded
//! warm-up call per client so the first request finds its connection ready.
//!
//! Lambda hands a function everything it needs in reserved environment
//! variables (region, the execution role's credentials, `AWS_ENDPOINT_URL`
//! when set):
//! <https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime>.
//! Reading them directly, instead of `aws_config::load_defaults`, skips the
//! shared config files, the IMDS/ECS/SSO/STS providers and their code, which
//! the cold start and the binary otherwise pay for.

use std::time::{Duration, Instant};

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::SharedCredentialsProvider;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};

use crate::config::optional;
use crate::telemetry::ErrorChain;

/// The longest a cold start spends on one warm-up call. A reachable region
/// answers in tens of milliseconds (TLS handshake included); anything slower
/// is left to the first request rather than holding up init.
pub const WARM_UP_TIMEOUT: Duration = Duration::from_millis(1000);

/// The SDK configuration of a Lambda function, read from the environment:
/// `AWS_REGION` (else `AWS_DEFAULT_REGION`), the credentials in
/// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, and
/// `AWS_ENDPOINT_URL` when set. Touches no file and no network; credentials
/// are read on the first call. Every client built from it shares one HTTP
/// client, so one warm-up readies the connection pool and TLS set-up of all
/// clients of that endpoint.
pub fn lambda_sdk_config() -> SdkConfig {
    let endpoint_url = optional("AWS_ENDPOINT_URL");
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(tls_context(
            endpoint_url
                .as_deref()
                .is_some_and(|url| url.starts_with("https:")),
        ))
        .build_https();
    let region = optional("AWS_REGION").or_else(|| optional("AWS_DEFAULT_REGION"));
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region.map(Region::new))
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .http_client(http);
    if let Some(url) = endpoint_url {
        builder = builder.endpoint_url(url);
    }
    builder.build()
}

/// The root certificates AWS service endpoints chain to: the five roots
/// Amazon Trust Services recommends a custom trust store holds, Amazon Root
/// CA 1-4 and Starfield Services Root CA G2
/// (<https://www.amazontrust.com/repository/>). AWS service endpoints serve
/// ATS certificates
/// (<https://aws.amazon.com/blogs/security/how-to-prepare-for-aws-move-to-its-own-certificate-authority/>).
const AWS_ROOTS_PEM: &[u8] = include_bytes!("amazon-trust-services-roots.pem");

/// Which roots the HTTPS client trusts. Against AWS, only the five roots its
/// endpoints use: parsing them costs microseconds, where loading the
/// system's whole store (a hundred and more certificates, file by file) cost
/// the cold start milliseconds. Against another HTTPS endpoint
/// (`AWS_ENDPOINT_URL`: an emulator, a proxy) its CA is unknown, so the
/// system's store as well.
fn tls_context(custom_https_endpoint: bool) -> TlsContext {
    let store = TrustStore::empty()
        .with_native_roots(custom_https_endpoint)
        .with_pem_certificate(AWS_ROOTS_PEM);
    TlsContext::builder()
        .with_trust_store(store)
        .build()
        .unwrap_or_default()
}

/// Logs a warm-up's result: never fatal, since the first request retries
/// whatever failed here with the full retry policy.
fn report<T, E: std::error::Error + 'static>(
    client: &'static str,
    started: Instant,
    result: Result<T, E>,
) {
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(_) => tracing::info!(stage = "init", client, elapsed_ms, "client warmed up"),
        Err(err) => tracing::warn!(
            stage = "init",
            client,
            elapsed_ms,
            error = %ErrorChain(&err),
            "warm-up failed: the first request sets up its connection"
        ),
    }
}

/// The timeout of a warm-up call: [`WARM_UP_TIMEOUT`] for the whole
/// operation. `TimeoutConfig` and `RetryConfig` are `aws_smithy_types` types,
/// the same in every SDK crate, so they are built here once.
fn warm_up_timeout() -> TimeoutConfig {
    TimeoutConfig::builder()
        .operation_timeout(WARM_UP_TIMEOUT)
        .build()
}

/// Sends one request of `$sdk_crate` as a warm-up: timed from before its
/// client is built (the cold start pays for both), with the per-call
/// override of no retry and [`warm_up_timeout`], and its result reported.
/// A macro because each SDK crate has its own fluent builder and `Config`
/// types, with no trait they share.
macro_rules! warm_up {
    ($client:literal, $sdk_crate:ident, $request:expr) => {{
        let started = Instant::now();
        let result = $request
            .customize()
            .config_override(
                $sdk_crate::Config::builder()
                    .retry_config(RetryConfig::disabled())
                    .timeout_config(warm_up_timeout()),
            )
            .send()
            .await;
        report($client, started, result);
    }};
}

/// One `GetQueueAttributes` on the queue (no retry, [`WARM_UP_TIMEOUT`]).
pub async fn warm_up_queue(sdk: &SdkConfig, queue_url: &str) {
    warm_up!(
        "sqs",
        aws_sdk_sqs,
        aws_sdk_sqs::Client::new(sdk)
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
    );
}

/// One `DescribeTable` on the table (no retry, [`WARM_UP_TIMEOUT`]).
pub async fn warm_up_table(sdk: &SdkConfig, table_name: &str) {
    warm_up!(
        "dynamodb",
        aws_sdk_dynamodb,
        aws_sdk_dynamodb::Client::new(sdk)
            .describe_table()
            .table_name(table_name)
    );
}

/// One `GetTopicAttributes` on the topic (no retry, [`WARM_UP_TIMEOUT`]).
pub async fn warm_up_topic(sdk: &SdkConfig, topic_arn: &str) {
    warm_up!(
        "sns",
        aws_sdk_sns,
        aws_sdk_sns::Client::new(sdk)
            .get_topic_attributes()
            .topic_arn(topic_arn)
    );
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_sdk_sqs::config::Credentials;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::telemetry::LogCapture;

    /// An endpoint that answers every request `500 InternalFailure`, a
    /// fault the SDK's standard retry policy retries, and counts them.
    async fn failing_endpoint() -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let counted = counted.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0_u8; 64 * 1024];
                    // One read holds the small request of a warm-up.
                    if stream.read(&mut buf).await.unwrap_or(0) == 0 {
                        return;
                    }
                    counted.fetch_add(1, Ordering::SeqCst);
                    let body = r#"{"__type":"InternalFailure","message":"down"}"#;
                    let answer = format!(
                        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        (url, requests)
    }

    fn sdk_config(endpoint_url: &str) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKIDTEST", "secret", None, None, "test",
            )))
            .endpoint_url(endpoint_url)
            .build()
    }

    #[tokio::test]
    async fn given_a_failing_endpoint_when_each_client_warms_up_then_it_calls_once_and_logs_the_failure()
     {
        // Given an endpoint that fails every call with a retryable fault
        let (url, requests) = failing_endpoint().await;
        let sdk = sdk_config(&url);
        let capture = LogCapture::default();
        let _guard = capture.set_default();
        // When each warm-up runs
        warm_up_queue(&sdk, &format!("{url}/123456789012/orders.fifo")).await;
        warm_up_table(&sdk, "orders").await;
        warm_up_topic(&sdk, "arn:aws:sns:eu-west-1:123456789012:order-events").await;
        // Then each made one call, never retried, and its failure is a
        // warning naming the client
        assert_eq!(requests.load(Ordering::SeqCst), 3);
        let logs = capture.contents();
        for client in ["sqs", "dynamodb", "sns"] {
            let line = logs
                .lines()
                .find(|line| line.contains(&format!(r#""client":"{client}""#)))
                .unwrap_or_else(|| panic!("no line for {client} in {logs}"));
            assert!(line.contains("warm-up failed"), "{line}");
            assert!(line.contains(r#""level":"WARN""#), "{line}");
        }
    }
}
