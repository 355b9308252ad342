//! One log file → batches: the object is routed to the log source that claims it
//! ([`crate::sources`]), which frames, parses and writes its documents with the shared tools.
//! Synchronous and free of I/O beyond the reader it is given; the pipeline runs it on a
//! blocking thread.

use crate::index::bulk::Batch;
use crate::source::Origin;
pub use crate::sources::output::{Closed, DecodeStats, Decoding, ObjectError, Watch};
use crate::sources::{LogSource, Routed, Sources};
use std::io::Read;
use std::sync::Arc;

/// Everything needed to turn a file into batches: the shared tools and the configured sources.
#[derive(Debug, Clone)]
pub struct ObjectDecoder {
    /// What every source decodes with.
    pub with: Decoding,
    /// The log sources, which route and decode.
    pub sources: Sources,
    /// The filter rules the sources drop events with, for their counts.
    pub filter: Arc<crate::detect::filter::Filter>,
    /// The GeoIP databases the sources look addresses up in, for `run` to reload.
    pub geo: Option<Arc<crate::geo::GeoIp>>,
}

impl ObjectDecoder {
    /// Decodes `reader` (gzip or plain) with the source its origin routes to, handing every
    /// full batch to `emit`. An object no source claims is an error: callers route first.
    pub fn decode<R: Read + Send>(
        &self,
        reader: R,
        origin: Arc<Origin>,
        watch: &Watch,
        emit: &mut dyn FnMut(Batch) -> Result<(), Closed>,
    ) -> Result<DecodeStats, ObjectError> {
        let source = self.source_of(&origin)?;
        source.decode(&self.with, Box::new(reader), origin, watch, emit)
    }

    /// Decodes one record of a file of `origin` (a dead letter's copy) as that file's source
    /// frames it.
    pub fn decode_record(
        &self,
        record: &str,
        origin: Arc<Origin>,
        watch: &Watch,
        emit: &mut dyn FnMut(Batch) -> Result<(), Closed>,
    ) -> Result<DecodeStats, ObjectError> {
        let source = self.source_of(&origin)?;
        let file = source.record_file(record);
        source.decode(&self.with, Box::new(file.as_bytes()), origin, watch, emit)
    }

    fn source_of(&self, origin: &Origin) -> Result<Arc<dyn LogSource>, ObjectError> {
        let routed = match origin {
            Origin::S3 { key, .. } => self.sources.route_key(key),
            Origin::File(path) => self.sources.route_path(path),
        };
        match routed {
            Routed::Index(source, _) => Ok(source),
            Routed::Skip(what) => Err(ObjectError::NotALog(what)),
        }
    }
}

#[cfg(test)]
#[path = "object_tests.rs"]
mod tests;
