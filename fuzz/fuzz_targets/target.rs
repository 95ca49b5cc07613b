//! libFuzzer entry point of the `target` target; the checks are in `burrow_fuzz::target`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| burrow_fuzz::target::run(data));
