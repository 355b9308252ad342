//! The commands behind the binary, one file each (`run`, `ingest`, `backfill`, `setup`,
//! `doctor`, `detect`, `trends`, `anomalies`, `replay`); what they share is in `common.rs`,
//! logging in `logging.rs`, the AWS clients in `aws.rs`.

mod alerts;
mod anomalies;
mod args;
mod aws;
mod backfill;
mod common;
mod detect;
mod doctor;
mod ingest;
mod logging;
mod names;
mod replay;
mod run;
mod setup;
mod trends;
pub use anomalies::{AnomaliesArgs, anomalies};
pub use backfill::{BackfillArgs, backfill};
pub use common::CommandError;
pub use common::load_rules;
pub use detect::detect;
pub use doctor::doctor;
pub use ingest::ingest;
pub use logging::{init_logging, say};
pub use replay::replay_deadletters;
pub use run::run;
pub use setup::setup;
pub use trends::{TrendsArgs, trends};
