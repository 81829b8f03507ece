//! The deployed stack (`infra/template.yaml`) agrees with the code, one module
//! per topic:
//!
//! * [`environment`]: each function's `Environment.Variables` are exactly the
//!   variables its crate reads (`<crate>::ENV_VARS`, spelled by
//!   `adapters::config`), pointing at the stack's resources.
//! * [`settings`]: queue and event-source-mapping settings equal
//!   `adapters::settings`, which the local runner reproduces.
//! * [`admin_digest`]: the admin digest's queue, mapping and subscription,
//!   and the admin e-mail on its own topic.
//! * [`iam`]: each role may do what its function needs and no more.
//! * [`api`]: the HTTP API's definition is `infra/openapi.yaml` (included
//!   whole, the file orders-local serves), routing POST /orders to intake and
//!   GET /orders/{orderId} to status, documenting what status answers, with
//!   the domain's limits.
//! * [`observability`]: tracing, the latency metric filters over the lines the
//!   handlers log, the alarm and the dashboard.
//!
//! The template is read with `include_str!`, so editing either side rebuilds and
//! re-runs this test. CloudFormation short-form tags (`!Ref`, `!GetAtt`, `!Sub`,
//! `!If`) are accepted by yaml-rust2, which drops the tag and keeps the node:
//! `!GetAtt OrdersQueue.Arn` reads as the string `OrdersQueue.Arn`.

// Test code, helpers included: a mismatch stops the test with the path at fault.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin_digest;
mod api;
mod environment;
mod iam;
mod observability;
mod settings;
mod template;
