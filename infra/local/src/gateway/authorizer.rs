//! The JWT authorizer of the local HTTP API (`orders-local --auth jwt`):
//! what API Gateway's JWT authorizer does for the deployed API, with tokens
//! this runner mints for named users, so two callers can be tried side by
//! side without an identity provider.
//!
//! Like API Gateway's, it reads `Authorization: Bearer <token>`, checks the
//! signature, `iss`, `aud` and `exp`, answers `401 {"message":"Unauthorized"}`
//! to anything else, and passes the token's claims to the function in
//! `requestContext.authorizer.jwt.claims`
//! (<https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html>).
//! Its tokens are HS256 and signed with a key made at start, so a token
//! holds only for the run that minted it; the deployed API takes an
//! identity provider's RS256 tokens instead.

use std::collections::HashMap;

use aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use serde_json::{Value, json};
use sha2::Sha256;
use time::OffsetDateTime;

/// Where the runner mints a token: `POST /_local/token?user=NAME`.
pub const TOKEN_PATH: &str = "/_local/token";
/// The issuer of the runner's tokens (the stack's `JwtIssuer`).
pub const LOCAL_ISSUER: &str = "urn:orders-local";
/// The audience of the runner's tokens (the stack's `JwtAudience`).
pub const LOCAL_AUDIENCE: &str = "orders-local";
/// How long a minted token holds.
const TOKEN_LIFETIME_SECS: i64 = 12 * 3600;
/// The users whose tokens the runner prints at start.
pub const PRINTED_USERS: [&str; 2] = ["alice", "bob"];

/// The runner's JWT authorizer and token minter.
#[derive(Clone)]
pub struct LocalAuthorizer {
    key: Vec<u8>,
    issuer: String,
}

impl std::fmt::Debug for LocalAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalAuthorizer")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl LocalAuthorizer {
    /// An authorizer for tokens of `issuer`, signed with a fresh key.
    pub fn new(issuer: impl Into<String>) -> Self {
        let key = [
            *uuid::Uuid::new_v4().as_bytes(),
            *uuid::Uuid::new_v4().as_bytes(),
        ]
        .concat();
        Self {
            key,
            issuer: issuer.into(),
        }
    }

    /// The issuer its tokens name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// A token for `user` (its `sub`), valid for twelve hours.
    pub fn mint(&self, user: &str) -> String {
        self.sign(user).unwrap_or_default()
    }

    fn sign(&self, user: &str) -> Option<String> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let header = json!({"alg": "HS256", "typ": "JWT"});
        let claims = json!({
            "iss": self.issuer,
            "sub": user,
            "aud": LOCAL_AUDIENCE,
            "iat": now,
            "exp": now + TOKEN_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let signature = B64.encode(self.mac(signing_input.as_bytes())?.finalize().into_bytes());
        Some(format!("{signing_input}.{signature}"))
    }

    /// The request's identity as the function receives it, or `None` when
    /// API Gateway would answer `401` (no bearer token, a bad signature, or
    /// another issuer, audience or an expired token).
    pub fn authorize(&self, headers: &HeaderMap) -> Option<ApiGatewayRequestAuthorizer> {
        let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let claims = self.verify(token.trim())?;
        let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
        // API Gateway passes claims as strings.
        jwt.claims = claims
            .into_iter()
            .map(|(name, value)| {
                let text = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                (name, text)
            })
            .collect();
        let mut authorizer = ApiGatewayRequestAuthorizer::default();
        authorizer.jwt = Some(jwt);
        Some(authorizer)
    }

    /// The claims of a token this authorizer signed, still valid, for its
    /// issuer and audience.
    fn verify(&self, token: &str) -> Option<HashMap<String, Value>> {
        let (signing_input, signature) = token.rsplit_once('.')?;
        let (header, claims) = signing_input.split_once('.')?;
        let header: Value = serde_json::from_slice(&B64.decode(header).ok()?).ok()?;
        // Only the algorithm it signs with: never `none`, never another.
        if header["alg"] != "HS256" {
            return None;
        }
        self.mac(signing_input.as_bytes())?
            .verify_slice(&B64.decode(signature).ok()?)
            .ok()?;
        let claims: HashMap<String, Value> =
            serde_json::from_slice(&B64.decode(claims).ok()?).ok()?;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let valid = claims.get("iss")?.as_str()? == self.issuer
            && claims.get("aud")?.as_str()? == LOCAL_AUDIENCE
            && claims.get("exp")?.as_i64()? > now
            && !claims.get("sub")?.as_str()?.is_empty();
        valid.then_some(claims)
    }

    /// The HMAC of `data` under the key, in progress (HMAC takes a key of
    /// any length, so this is never `None`).
    fn mac(&self, data: &[u8]) -> Option<Hmac<Sha256>> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).ok()?;
        mac.update(data);
        Some(mac)
    }
}

/// The answer of API Gateway's JWT authorizer to a request it refuses.
pub fn unauthorized() -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let mut response = (
        http::StatusCode::UNAUTHORIZED,
        r#"{"message":"Unauthorized"}"#.to_owned(),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        headers
    }

    fn subject(authorizer: &ApiGatewayRequestAuthorizer) -> &str {
        &authorizer.jwt.as_ref().unwrap().claims["sub"]
    }

    #[test]
    fn given_a_minted_token_then_its_claims_reach_the_function() {
        let local = LocalAuthorizer::new("http://127.0.0.1:3000/_local");
        let authorized = local.authorize(&bearer(&local.mint("alice"))).unwrap();
        assert_eq!(subject(&authorized), "alice");
        let claims = &authorized.jwt.as_ref().unwrap().claims;
        assert_eq!(claims["iss"], "http://127.0.0.1:3000/_local");
        assert_eq!(claims["aud"], LOCAL_AUDIENCE);
    }

    #[test]
    fn given_no_token_a_forged_one_or_another_runs_then_unauthorized() {
        let local = LocalAuthorizer::new("http://127.0.0.1:3000/_local");
        let token = local.mint("alice");
        assert!(local.authorize(&HeaderMap::new()).is_none());
        // Another run's key
        let other = LocalAuthorizer::new("http://127.0.0.1:3000/_local");
        assert!(local.authorize(&bearer(&other.mint("alice"))).is_none());
        // A changed subject under the original signature
        let parts: Vec<&str> = token.split('.').collect();
        let forged_claims = B64.encode(
            json!({"iss": local.issuer(), "sub": "bob", "aud": LOCAL_AUDIENCE, "exp": i64::MAX})
                .to_string(),
        );
        let forged = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
        assert!(local.authorize(&bearer(&forged)).is_none());
        // An unsigned token (`alg: none`)
        let none = format!("{}.{}.", B64.encode(r#"{"alg":"none"}"#), parts[1]);
        assert!(local.authorize(&bearer(&none)).is_none());
        // Not a bearer token
        let mut basic = HeaderMap::new();
        basic.insert(
            http::header::AUTHORIZATION,
            "Basic YWxpY2U6".parse().unwrap(),
        );
        assert!(local.authorize(&basic).is_none());
    }

    #[test]
    fn given_another_issuer_then_unauthorized() {
        let a = LocalAuthorizer {
            key: vec![1; 32],
            issuer: "http://a".into(),
        };
        let b = LocalAuthorizer {
            key: vec![1; 32],
            issuer: "http://b".into(),
        };
        assert!(b.authorize(&bearer(&a.mint("alice"))).is_none());
    }
}
