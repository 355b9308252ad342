//! The commands behind the binary, one file each (`run`, `ingest`, `backfill`, `setup`,
//! `doctor`, `detect`, `trends`, `replay`), and what they share: how a command fails, the
//! decoder, indexer and memory budget built from the validated configuration, the summary
//! line's figures, the stop signal. Logging is in [`logging`], the AWS clients in [`aws`].

mod alerts;
mod args;
mod aws;
mod backfill;
mod common;
mod detect;
mod doctor;
mod ingest;
mod logging;
mod replay;
mod run;
mod setup;
mod trends;
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
