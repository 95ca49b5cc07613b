//! The part of Burrow's automation other crates use: the one static file server ([`serve`]),
//! which `cargo xtask web` runs and burrow-tests' browser test serves the simulator with.
//!
//! Everything else lives in the `xtask` binary (`src/main.rs`). This library has no dependencies
//! beyond std.

pub mod serve;
