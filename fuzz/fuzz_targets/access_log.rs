//! Fuzz target: `trailship::fuzzing::access_log` (what must hold for any input is said there).
#![no_main]

use trailship_fuzz as _; // the capped allocator

libfuzzer_sys::fuzz_target!(init: trailship::fuzzing::init(), |data: &[u8]| trailship::fuzzing::access_log(data));
