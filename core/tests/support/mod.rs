//! Helpers shared by the integration tests.

pub mod log_out_everywhere;
pub mod redis_harness;
