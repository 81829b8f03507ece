//! The HTTP edge shared by the functions behind the orders API (`POST
//! /orders`, `GET /orders/{orderId}`): one way to answer a problem (RFC 9457
//! `application/problem+json`, correlation id in body and header) and one
//! way to settle a request's correlation id.
//!
//! Kept apart from `adapters` so the stream and queue functions do not
//! depend on `lambda_http`.

mod correlation;
mod problem;

pub use correlation::{CORRELATION_ID_HEADER, correlation_id};
pub use problem::{Issue, PROBLEM_CONTENT_TYPE, Problem, json_response};
