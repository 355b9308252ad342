//! Integration tests: the `trailship` binary against real third-party servers (moto for S3 and
//! SQS, osmem for OpenSearch) started on free loopback ports by [`harness`].

mod accounts;
mod alerts;
mod aliases;
mod anomalies;
mod backfill;
mod basicauth;
mod dashboards;
mod dashboards_data;
mod dashboards_import;
mod detect;
mod doctor;
mod fieldmodel;
mod filters;
mod findings;
mod fixtures;
mod geoip;
mod golden;
mod harness;
mod ingest;
mod kms;
mod metrics;
mod owner;
mod proxies;
mod replay;
mod s3access;
mod setup;
mod sigv4;
mod stress;
mod trail;
mod trends;
mod worker;
