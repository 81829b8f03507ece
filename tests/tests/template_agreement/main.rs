//! The deployed stack (`infra/template.yaml`) agrees with the code, one module
//! per topic:
//!
//! * [`environment`]: each function's `Environment.Variables` are exactly the
//!   variables its crate reads (`<crate>::ENV_VARS`, spelled by
//!   `orders_adapters::config`), pointing at the stack's resources.
//! * [`settings`]: queue and event-source-mapping settings equal
//!   `orders_adapters::settings`, which the local runner reproduces.
//! * [`admin_digest`]: the admin digest's queue, mapping and subscription,
//!   and the admin e-mail on its own topic.
//! * [`confirmation`]: the customers' confirmations: queue, mapping and
//!   subscription, the send rate, least privilege, alarms.
//! * [`iam`]: each role may do what its function needs and no more.
//! * [`api`]: the HTTP API's definition is `infra/openapi.yaml` (included
//!   whole, the file orders-local serves), routing POST /orders to intake and
//!   GET /orders/{orderId} to status, documenting what status answers, with
//!   the domain's limits.
//! * [`observability`]: tracing, the latency metric filters over the lines the
//!   handlers log, the alarm and the dashboard.
//! * [`alarms`]: every `5xx` a client gets pages (per route, and intake's and
//!   status's own answers), as do stream batches Lambda could not dead-letter
//!   and (when audited) personal data in events; every alarm is in the
//!   runbook's table.
//! * [`hardening`]: TLS-only queues and topics that still let SNS deliver and
//!   CloudWatch page, the ops topic's own key, `ListStreams` on `*` alone
//!   (with [`policy`], which evaluates a resource policy against a request).
//!
//! The template is read with `include_str!`, so editing either side rebuilds and
//! re-runs this test. CloudFormation short-form tags (`!Ref`, `!GetAtt`, `!Sub`,
//! `!If`) are accepted by yaml-rust2, which drops the tag and keeps the node:
//! `!GetAtt OrdersQueue.Arn` reads as the string `OrdersQueue.Arn`.

// Test code, helpers included: a mismatch stops the test with the path at fault.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin_digest;
mod alarms;
mod api;
mod confirmation;
mod environment;
mod hardening;
mod iam;
mod observability;
mod policy;
mod settings;
mod template;
