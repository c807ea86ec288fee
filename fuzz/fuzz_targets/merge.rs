#![no_main]
// The invariants live in src/merge.rs, shared with the corpus replay (tests/replay.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| koa_session_fuzz::merge::run(data));
