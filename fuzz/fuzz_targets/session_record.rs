#![no_main]
// The invariants live in src/session_record.rs, shared with the corpus replay (tests/replay.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| koa_session_fuzz::session_record::run(data));
