//! The SDK configuration of the tools that call a chosen endpoint (the local
//! runner's `--endpoint-url`, `orders-ops --endpoint-url`): AWS's default
//! chain, pointed at the endpoint, with dummy credentials where no real ones
//! are needed. The Lambda functions build theirs with
//! `orders_adapters::aws::lambda_sdk_config` instead.

use std::net::IpAddr;

use aws_config::SdkConfig;

/// The environment variables that name real credentials (keys, a profile, a
/// web identity); with one of them set the default chain's credentials are used
/// even on a loopback endpoint.
const CREDENTIAL_VARIABLES: [&str; 3] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
];

/// The SDK configuration for `endpoint` (`None`: AWS's own endpoints) in
/// `region` (`None`: the default chain's region, which may be none: the
/// caller checks `region()` when it needs one). A loopback endpoint with no
/// credentials in the environment gets dummy ones: moto and LocalStack accept
/// any, and the default chain would otherwise go looking for real ones.
pub async fn endpoint_sdk_config(endpoint: Option<&str>, region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint);
        let has_credentials = CREDENTIAL_VARIABLES
            .iter()
            .any(|v| std::env::var_os(v).is_some());
        if is_loopback(endpoint) && !has_credentials {
            loader = loader.credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test",
                "test",
                None,
                None,
                "loopback-endpoint",
            ));
        }
    }
    loader.load().await
}

/// Whether an endpoint URL points at this machine (`localhost` or a loopback
/// address).
pub fn is_loopback(url: &str) -> bool {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split(['/', ':'])
        .next()
        .unwrap_or_default();
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_endpoints_are_recognised() {
        assert!(is_loopback("http://127.0.0.1:5000"));
        assert!(is_loopback("http://localhost:4566/"));
        assert!(!is_loopback("https://sqs.us-east-1.amazonaws.com"));
        assert!(!is_loopback("http://10.0.0.5:4566"));
    }

    #[tokio::test]
    async fn the_endpoint_and_region_given_are_the_configs() {
        let sdk = endpoint_sdk_config(Some("http://127.0.0.1:5000"), Some("eu-west-1")).await;
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert_eq!(
            sdk.region().map(ToString::to_string).as_deref(),
            Some("eu-west-1")
        );
    }
}
