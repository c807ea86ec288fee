//! Core errors as JS errors. Every message is the core's own, so JS and C users read the same text.

use napi::{Env, Error, Status};

pub fn invalid_arg(e: impl std::fmt::Display) -> Error {
    Error::new(Status::InvalidArg, e.to_string())
}

/// Throws a JS `TypeError` (a wrong option or argument, as JavaScript APIs report it); napi
/// then leaves the thrown error pending instead of making its own.
pub fn type_error(env: &Env, message: impl std::fmt::Display) -> Error {
    let message = message.to_string();
    match env.throw_type_error(&message, None) {
        Ok(()) => Error::new(Status::PendingException, message),
        Err(_) => Error::new(Status::InvalidArg, message),
    }
}

/// Throws a JS `Error` whose `code` is `code` (a stable name JS code can test).
pub fn coded_error(env: &Env, code: &str, message: impl std::fmt::Display) -> Error {
    let message = message.to_string();
    match env.throw_error(&message, Some(code)) {
        Ok(()) => Error::new(Status::PendingException, message),
        Err(_) => Error::new(Status::GenericFailure, message),
    }
}
