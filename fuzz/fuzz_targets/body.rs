//! libFuzzer entry point of the `body` target; the checks are in `burrow_fuzz::body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| burrow_fuzz::body::run(data));
