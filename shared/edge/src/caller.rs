//! Who is calling: the identity API Gateway's authorizer put in the request
//! context, read the one way every HTTP function reads it, and turned into
//! the order's owner key at once.
//!
//! The function is told the API's authorization ([`AuthMode`], the stack's
//! `AuthMode` parameter) and insists on the identity that mode guarantees:
//! a request without it (a route left without its authorizer, a hand-built
//! event) is refused with `401`, never served as someone else.

use std::str::FromStr;

use http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use orders_domain::model::{Caller, OwnerKey, OwnerSecret};

use orders_adapters::config::{ConfigError, FromVars, Vars};

use crate::Problem;

/// Environment variable naming the API's authorization, as the stack's
/// `AuthMode` parameter does: `JWT`, `IAM` or `NONE`.
pub const AUTH_MODE: &str = "AUTH_MODE";
/// Environment variable with the owner keys' HMAC secret (required unless
/// `AUTH_MODE` is `NONE`).
pub const OWNER_KEY_SECRET: &str = "OWNER_KEY_SECRET";

/// How the API authorizes its callers, and so what identity owns an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// A JWT authorizer: the owner is the token's issuer and subject.
    Jwt,
    /// IAM (SigV4): the owner is the caller's principal.
    Iam,
    /// The API is open: every order has the one owner `anonymous`.
    None,
}

impl FromStr for AuthMode {
    type Err = String;

    /// Accepts `JWT`, `IAM` or `NONE`, ignoring case and surrounding space.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim().to_ascii_uppercase().as_str() {
            "JWT" => Ok(Self::Jwt),
            "IAM" => Ok(Self::Iam),
            "NONE" => Ok(Self::None),
            _ => Err("expected JWT, IAM or NONE".to_owned()),
        }
    }
}

/// What an HTTP function needs to tell whose request it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owners {
    mode: AuthMode,
    secret: Option<OwnerSecret>,
}

impl Owners {
    /// Owners under `mode`; `secret` is needed unless the API is open, and
    /// [`Self::owner`] refuses every identified caller without it.
    pub fn new(mode: AuthMode, secret: Option<OwnerSecret>) -> Self {
        Self { mode, secret }
    }

    /// The open API's: every caller is `anonymous`.
    pub fn open() -> Self {
        Self::new(AuthMode::None, None)
    }

    /// The API's authorization.
    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// The owner key of the request's caller, or the `401` problem to answer
    /// when the request lacks the identity the API's authorization
    /// guarantees (or the function cannot key it).
    pub fn owner(&self, request: &Request) -> Result<OwnerKey, Unidentified> {
        let caller = caller(request.request_context_ref(), self.mode).ok_or(Unidentified)?;
        OwnerKey::of(&caller, self.secret.as_ref()).map_err(|_| Unidentified)
    }
}

/// `AUTH_MODE` is required (a function never guesses how its API is
/// guarded); `OWNER_KEY_SECRET` is required unless it is `NONE`, with at
/// least [`MIN_OWNER_SECRET_LEN`](orders_domain::model::MIN_OWNER_SECRET_LEN)
/// bytes.
impl FromVars for Owners {
    fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        let mode: AuthMode =
            vars.required(AUTH_MODE)?
                .parse()
                .map_err(|reason| ConfigError::Invalid {
                    name: AUTH_MODE,
                    reason,
                })?;
        if mode == AuthMode::None {
            return Ok(Self::open());
        }
        let secret = OwnerSecret::new(vars.required(OWNER_KEY_SECRET)?).map_err(|err| {
            ConfigError::Invalid {
                name: OWNER_KEY_SECRET,
                // The rule broken, never the value.
                reason: err.to_string(),
            }
        })?;
        Ok(Self::new(mode, Some(secret)))
    }
}

/// The request carries no identity the function can own an order by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request carries no caller identity for the API's authorization")]
pub struct Unidentified;

impl Unidentified {
    /// The answer: `401`, the same words whatever was missing, so the
    /// answer tells nothing about the function's configuration.
    pub fn problem(&self) -> Problem {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Unauthenticated",
            "the request does not identify its caller",
        )
    }
}

/// The caller the authorizer of `mode` put in `context`, if it is there.
///
/// HTTP API (payload 2.0): `requestContext.authorizer.jwt.claims` (`iss`,
/// `sub`) or `requestContext.authorizer.iam.userArn`
/// (<https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html>).
/// REST API: `requestContext.authorizer.claims` of a Cognito authorizer, or
/// `requestContext.identity.userArn` under IAM.
fn caller(context: Option<&RequestContext>, mode: AuthMode) -> Option<Caller> {
    match mode {
        AuthMode::None => Some(Caller::Anonymous),
        AuthMode::Jwt => {
            let (issuer, subject) = match context? {
                RequestContext::ApiGatewayV2(v2) => {
                    let claims = &v2.authorizer.as_ref()?.jwt.as_ref()?.claims;
                    (claims.get("iss")?.clone(), claims.get("sub")?.clone())
                }
                RequestContext::ApiGatewayV1(v1) => {
                    let claims = v1.authorizer.fields.get("claims")?;
                    let claim = |name: &str| claims.get(name)?.as_str().map(str::to_owned);
                    (claim("iss")?, claim("sub")?)
                }
                _ => return None,
            };
            (!issuer.is_empty() && !subject.is_empty()).then_some(Caller::Token { issuer, subject })
        }
        AuthMode::Iam => {
            let arn = match context? {
                RequestContext::ApiGatewayV2(v2) => {
                    v2.authorizer.as_ref()?.iam.as_ref()?.user_arn.clone()?
                }
                RequestContext::ApiGatewayV1(v1) => v1.identity.user_arn.clone()?,
                _ => return None,
            };
            (!arn.is_empty()).then_some(Caller::Principal { arn })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orders_domain::model::MIN_OWNER_SECRET_LEN;
    use serde_json::json;

    fn secret() -> OwnerSecret {
        OwnerSecret::new(vec![3u8; MIN_OWNER_SECRET_LEN]).unwrap()
    }

    /// An HTTP API (payload 2.0) request with `authorizer` in its context.
    fn request(authorizer: serde_json::Value) -> Request {
        let event = json!({
            "version": "2.0",
            "routeKey": "GET /orders/{orderId}",
            "rawPath": "/orders/1",
            "rawQueryString": "",
            "headers": {},
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "api",
                "authorizer": authorizer,
                "domainName": "example.com",
                "domainPrefix": "example",
                "http": {"method": "GET", "path": "/orders/1", "protocol": "HTTP/1.1",
                         "sourceIp": "192.0.2.1", "userAgent": "test"},
                "requestId": "r",
                "routeKey": "GET /orders/{orderId}",
                "stage": "$default",
                "time": "03/Dec/2026:10:00:00 +0000",
                "timeEpoch": 1_796_292_000_000_i64
            },
            "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    fn jwt(iss: &str, sub: &str) -> serde_json::Value {
        json!({"jwt": {"claims": {"iss": iss, "sub": sub}, "scopes": null}})
    }

    #[test]
    fn under_jwt_the_owner_is_the_tokens_issuer_and_subject() {
        let owners = Owners::new(AuthMode::Jwt, Some(secret()));
        let alice = owners.owner(&request(jwt("https://idp", "alice"))).unwrap();
        let bob = owners.owner(&request(jwt("https://idp", "bob"))).unwrap();
        let other_idp = owners
            .owner(&request(jwt("https://other", "alice")))
            .unwrap();
        assert_ne!(alice, bob);
        assert_ne!(alice, other_idp);
        assert_eq!(
            alice,
            owners.owner(&request(jwt("https://idp", "alice"))).unwrap()
        );
        assert!(!alice.as_str().contains("alice"));
    }

    #[test]
    fn under_iam_the_owner_is_the_principal() {
        let owners = Owners::new(AuthMode::Iam, Some(secret()));
        let iam = |arn: &str| json!({"iam": {"userArn": arn, "accountId": "123456789012"}});
        let a = owners
            .owner(&request(iam("arn:aws:iam::123456789012:user/a")))
            .unwrap();
        let b = owners
            .owner(&request(iam("arn:aws:iam::123456789012:user/b")))
            .unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn with_the_api_open_everyone_is_anonymous() {
        let owners = Owners::open();
        assert_eq!(
            owners.owner(&request(json!(null))).unwrap(),
            OwnerKey::anonymous()
        );
        // Even a request that carries claims: the API does not check them.
        assert_eq!(
            owners.owner(&request(jwt("https://idp", "alice"))).unwrap(),
            OwnerKey::anonymous()
        );
    }

    #[test]
    fn a_request_without_the_modes_identity_is_unidentified() {
        let jwt_owners = Owners::new(AuthMode::Jwt, Some(secret()));
        assert_eq!(jwt_owners.owner(&request(json!(null))), Err(Unidentified));
        assert_eq!(
            jwt_owners.owner(&request(jwt("https://idp", ""))),
            Err(Unidentified)
        );
        let iam_owners = Owners::new(AuthMode::Iam, Some(secret()));
        assert_eq!(
            iam_owners.owner(&request(jwt("https://idp", "alice"))),
            Err(Unidentified)
        );
        // Without a secret no identified caller can be keyed.
        let unkeyed = Owners::new(AuthMode::Jwt, None);
        assert_eq!(
            unkeyed.owner(&request(jwt("https://idp", "alice"))),
            Err(Unidentified)
        );
        assert_eq!(Unidentified.problem().status, StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn given_settings_then_the_mode_is_required_and_the_secret_unless_open() {
        let long = "s".repeat(MIN_OWNER_SECRET_LEN);
        assert!(matches!(
            Owners::from_vars(&[(OWNER_KEY_SECRET, long.as_str())]),
            Err(ConfigError::Missing(AUTH_MODE))
        ));
        assert_eq!(
            Owners::from_vars(&[(AUTH_MODE, "NONE")]).unwrap(),
            Owners::open()
        );
        assert!(matches!(
            Owners::from_vars(&[(AUTH_MODE, "JWT")]),
            Err(ConfigError::Missing(OWNER_KEY_SECRET))
        ));
        let short = Owners::from_vars(&[(AUTH_MODE, "IAM"), (OWNER_KEY_SECRET, "short")]);
        assert!(matches!(
            &short,
            Err(ConfigError::Invalid { name: OWNER_KEY_SECRET, reason }) if !reason.contains("short")
        ));
        let jwt = Owners::from_vars(&[(AUTH_MODE, "JWT"), (OWNER_KEY_SECRET, long.as_str())]);
        assert_eq!(jwt.unwrap().mode(), AuthMode::Jwt);
        assert!(matches!(
            Owners::from_vars(&[(AUTH_MODE, "cognito")]),
            Err(ConfigError::Invalid {
                name: AUTH_MODE,
                ..
            })
        ));
    }

    #[test]
    fn auth_modes_parse_as_the_stack_names_them() {
        assert_eq!("JWT".parse::<AuthMode>(), Ok(AuthMode::Jwt));
        assert_eq!(" iam ".parse::<AuthMode>(), Ok(AuthMode::Iam));
        assert_eq!("NONE".parse::<AuthMode>(), Ok(AuthMode::None));
        assert!("COGNITO".parse::<AuthMode>().is_err());
    }
}
