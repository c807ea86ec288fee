//! Core errors as JS errors. Every message is the core's own, so JS and C users read the same text.

use napi::{Error, Status};

pub fn invalid_arg(e: impl std::fmt::Display) -> Error {
    Error::new(Status::InvalidArg, e.to_string())
}
