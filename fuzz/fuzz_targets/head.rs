//! libFuzzer entry point of the `head` target; the checks are in `burrow_fuzz::head`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| burrow_fuzz::head::run(data));
