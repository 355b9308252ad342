//! trailship ships AWS CloudTrail logs from S3 into OpenSearch.
//!
//! Data flows one way: an SQS message ([`queue`]) is parsed into the S3 objects it names
//! ([`notification`]), each object is routed by key ([`route`]), streamed from S3 ([`fetch`]),
//! decompressed and framed record by record ([`decode`]), checked against Sigma rules
//! ([`detect`]), turned into documents ([`enrich`]),
//! cut into `_bulk` batches and written with retries and dead-lettering ([`index`]); the message
//! is acknowledged once every event is settled. [`pipeline`] is the only module that spawns
//! tasks and wires channels; [`commands`] builds clients from the validated [`config`] and runs
//! a command; [`dashboards`] holds the saved objects `trailship setup` imports.

pub mod accounts;
pub mod agent;
pub mod cause;
pub mod commands;
pub mod config;
pub mod dashboards;
pub mod decode;
pub mod detect;
pub mod fetch;
pub mod findings;
pub mod fuzzing;
pub mod geo;
pub mod index;
pub mod json;
pub mod kms;
pub mod listing;
pub mod notification;
pub mod pipeline;
pub mod queue;
pub mod retry;
pub mod route;
pub mod source;
pub mod sources;
pub mod telemetry;
#[cfg(test)]
pub mod testing;
pub mod touched;
pub mod trends;
pub mod watch;
pub mod webhooks;
