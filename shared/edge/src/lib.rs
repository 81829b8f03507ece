//! The HTTP edge shared by the functions behind the orders API (`POST
//! /orders`, `GET /orders/{orderId}`): one way to answer a problem (RFC 9457
//! `application/problem+json`, correlation id in body and header), one
//! way to settle a request's correlation id, and one way to tell whose
//! order a request is about (the caller's owner key).
//!
//! Kept apart from `adapters` so the stream and queue functions do not
//! depend on `lambda_http`.

mod caller;
mod correlation;
mod problem;

pub use caller::{AUTH_MODE, AuthMode, OWNER_KEY_SECRET, Owners, Unidentified};
pub use correlation::{CORRELATION_ID_HEADER, correlation_id};
pub use problem::{Issue, PROBLEM_CONTENT_TYPE, Problem, json_response};
