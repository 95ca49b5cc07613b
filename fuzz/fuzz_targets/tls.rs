//! libFuzzer entry point of the `tls` target; the checks are in `burrow_fuzz::tls`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| burrow_fuzz::tls::run(data));
