//! The `--output` file of `ingest`: the exact `_bulk` NDJSON, written by the decoding threads
//! themselves, one whole batch at a time (handing every batch to a writer thread and waiting
//! for its answer cost each file two thread wake-ups, and on two cores left them idle a sixth
//! of the time).

use super::sink::{BatchSink, HandOverError, Handed, ProcessError, Sink};
use crate::index::bulk::Batch;
use crate::watch::Watch;
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

/// The `--output` file, shared by the decoding threads: each batch is written whole under the
/// lock, so batches never interleave. The first write error fails that file and every later
/// write, and [`Output::finish`] returns it.
pub struct Output {
    out: Mutex<Result<Box<dyn Write + Send>, (std::io::ErrorKind, String)>>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Output")
    }
}

impl Output {
    /// A sink writing each batch's NDJSON to `out` (a batch is one large buffer: no buffering).
    pub fn sink(out: Box<dyn Write + Send>) -> (Sink, Arc<Output>) {
        let output = Arc::new(Output { out: Mutex::new(Ok(out)) });
        (Sink { target: output.clone(), outbox: None }, output)
    }

    pub(super) fn write(&self, body: &[u8]) -> std::io::Result<()> {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let written = match &mut *out {
            Ok(w) => w.write_all(body),
            Err((kind, message)) => return Err(std::io::Error::new(*kind, message.clone())),
        };
        if let Err(e) = &written {
            *out = Err((e.kind(), e.to_string()));
        }
        written
    }

    /// Flushes the output; the first write error, if any.
    pub fn finish(&self) -> std::io::Result<()> {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *out {
            Ok(w) => w.flush(),
            Err((kind, message)) => Err(std::io::Error::new(*kind, message.clone())),
        }
    }
}

impl BatchSink for Output {
    fn hand_over(&self, batch: Batch, watch: &Watch) -> Result<Handed, HandOverError> {
        // Like waiting for the indexers, a slow output (a pipe) does not count against the
        // file's time.
        let waiting = Instant::now();
        let written = self.write(&batch.body);
        watch.waited(waiting.elapsed());
        written.map(|()| Handed::Done).map_err(|e| HandOverError::Failed(ProcessError::Output(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes `room` bytes, then fails every write.
    struct Full {
        room: usize,
        got: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.room == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::StorageFull, "no space left on device"));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.got.lock().unwrap().extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn batches_are_written_whole_and_the_first_error_fails_every_later_write_and_the_finish() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let (_sink, output) = Output::sink(Box::new(Full { room: 10, got: got.clone() }));
        output.write(b"{\"a\":1}\n").unwrap();
        output.finish().unwrap();
        let first = output.write(b"{\"b\":2}\n").unwrap_err();
        assert_eq!(first.kind(), std::io::ErrorKind::StorageFull);
        // The writer is not asked again: a later batch cannot land after a partial one.
        let later = output.write(b"{}\n").unwrap_err();
        assert_eq!((later.kind(), later.to_string()), (first.kind(), first.to_string()));
        assert_eq!(output.finish().unwrap_err().kind(), std::io::ErrorKind::StorageFull);
        assert_eq!(got.lock().unwrap().as_slice(), b"{\"a\":1}\n{\"");
    }
}
