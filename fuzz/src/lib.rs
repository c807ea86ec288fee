//! The fuzz targets' bodies, one module per target: each `run(data)` decodes the input,
//! drives the engine and asserts its invariants (a failed assertion is a finding). The
//! libFuzzer binaries in fuzz_targets/ and the corpus replay in tests/replay.rs both call
//! them, so `make test` checks every corpus input and crash regression without the engine.

pub mod input;
pub mod oracle;

pub mod c_api;
pub mod cookie_header;
pub mod merge;
pub mod node_args;
pub mod request_machine;
pub mod session_record;
pub mod set_cookie;

/// A target's body: decodes one input and asserts the invariants (panics on a finding).
pub type Target = fn(&[u8]);

/// Every target, by the name of its fuzz_targets/ file and corpus directory.
pub const TARGETS: [(&str, Target); 7] = [
    ("cookie_header", cookie_header::run),
    ("set_cookie", set_cookie::run),
    ("session_record", session_record::run),
    ("request_machine", request_machine::run),
    ("c_api", c_api::run),
    ("node_args", node_args::run),
    ("merge", merge::run),
];
