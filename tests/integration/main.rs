//! Integration tests: the `trailship` binary against real third-party servers (moto for S3 and
//! SQS, osmem for OpenSearch) started on free loopback ports by [`harness`].

mod dashboards;
mod fieldmodel;
mod fixtures;
mod harness;
mod ingest;
mod metrics;
mod replay;
mod setup;
mod stress;
mod trail;
mod worker;
