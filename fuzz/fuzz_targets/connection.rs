//! libFuzzer entry point of the `connection` target; the checks are in `burrow_fuzz::conn`.
#![no_main]

// Counts heap bytes, so the target can hold the connection to its memory bound.
#[global_allocator]
static ALLOC: burrow_fuzz::alloc::Counting = burrow_fuzz::alloc::Counting;

libfuzzer_sys::fuzz_target!(|data: &[u8]| burrow_fuzz::conn::run(data));
