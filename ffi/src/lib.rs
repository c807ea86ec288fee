//! koa-session-ffi: the C API of the koa-session-ts engine (`libkoa_session`, header
//! `include/koa_session.h`, generated from this crate by cbindgen).
//!
//! Conventions (after rustls-ffi): every name starts with `ks_`; handles are opaque; every
//! `_new` has a `_free` that accepts NULL; every fallible function returns a `ks_result` and
//! writes its out-parameters only on success; no panic crosses the boundary; NULL and invalid
//! UTF-8 are errors, never crashes. The bindings translate; the core decides.

#![allow(non_camel_case_types, clippy::missing_safety_doc)]

mod async_ops;
mod boundary;
mod c_store;
mod config;
mod engine;
mod last_error;
mod operator;
mod redis_store;
mod result;
mod runtime;
pub use runtime::ks_runtime_shutdown;
mod session;
mod session_data;
mod set_cookies;
mod store;
mod users;

pub use async_ops::*;
pub use c_store::*;
pub use config::*;
pub use engine::*;
pub use last_error::ks_last_error_message;
pub use operator::*;
pub use redis_store::*;
pub use result::*;
pub use session::*;
pub use session_data::*;
pub use set_cookies::*;
pub use store::*;
pub use users::*;
