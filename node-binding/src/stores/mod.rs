//! Native stores exposed as JS classes. Each is wrapped in JS by a class extending
//! `BaseStore` (lib/stores/), which adds the EventEmitter side and the object API; the
//! middleware may use the JSON-string methods directly when the wrapper is untouched.

pub mod memory;
pub mod redis;
