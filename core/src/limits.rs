//! The one depth and size policy for session data, enforced at the edges: data over a limit
//! is refused when a host sets it, and a stored record over a limit loads as corrupt (a new
//! session), never as a session that fails on every later request.
//!
//! Why these numbers:
//! - [`MAX_DEPTH`] = 64. Real sessions nest a few levels (a user, a cart, its items). Every
//!   reader of a record must be able to parse what was accepted: serde_json stops at 128
//!   levels, JavaScript engines at a few thousand stack frames. 64 leaves room below the
//!   smallest of them even after a host nests an accepted value one level deeper (the C API's
//!   `set_field` puts a value inside the top-level object).
//! - [`MAX_RECORD_BYTES`] = 1 MiB. Server-side sessions are usually well under 10 KiB; a
//!   megabyte is far above any reasonable one, yet small enough that a runaway session (a
//!   list appended to on every request) is stopped before it costs every request a megabyte
//!   of store traffic and parsing.

/// Deepest nesting of objects and arrays in a session record; the top-level object is 1.
pub const MAX_DEPTH: usize = 64;

/// Largest session record, in bytes of its JSON text (UTF-8).
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// Which limit a JSON text is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitError {
    /// Longer than [`MAX_RECORD_BYTES`].
    TooLarge,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl std::fmt::Display for LimitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitError::TooLarge => write!(f, "session data is larger than {MAX_RECORD_BYTES} bytes"),
            LimitError::TooDeep => write!(f, "session data is nested deeper than {MAX_DEPTH} levels"),
        }
    }
}
impl std::error::Error for LimitError {}

/// Checks a JSON text against both limits before anything parses it. One pass over the
/// bytes, counting `{`/`[` against `}`/`]` outside strings: for well-formed JSON this is
/// exactly its nesting depth. It does not check the syntax (the parser that runs next does),
/// and it never recurses, so any input is safe.
pub fn check_json_limits(json: &str) -> Result<(), LimitError> {
    if json.len() > MAX_RECORD_BYTES {
        return Err(LimitError::TooLarge);
    }
    if json_depth_exceeds(json.as_bytes(), MAX_DEPTH) {
        return Err(LimitError::TooDeep);
    }
    Ok(())
}

/// Whether the nesting depth of `json` (objects and arrays, outside strings) exceeds `max`.
pub fn json_depth_exceeds(json: &[u8], max: usize) -> bool {
    // Nesting never exceeds the number of openers, and counting them (in chunks small enough
    // for byte-wide sums, which the compiler vectorizes) is far cheaper than the scan below:
    // most records have fewer than `max` and need no closer look.
    let openers: usize = json.chunks(255).map(|c| usize::from(c.iter().map(|&b| u8::from(b == b'{' || b == b'[')).sum::<u8>())).sum();
    if openers <= max {
        return false;
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        // depth 1 is `{}`; each further level is `{"a":...}`.
        let mut s = String::new();
        for _ in 1..depth {
            s.push_str("{\"a\":");
        }
        s.push_str("{}");
        for _ in 1..depth {
            s.push('}');
        }
        s
    }

    #[test]
    fn depth_counts_objects_and_arrays_outside_strings() {
        assert!(!json_depth_exceeds(b"{}", 1));
        assert!(json_depth_exceeds(b"{\"a\":[]}", 1));
        assert!(!json_depth_exceeds(b"{\"a\":[]}", 2));
        assert!(!json_depth_exceeds(b"{\"a\":[],\"b\":{}}", 2), "siblings do not add up");
        assert!(!json_depth_exceeds(br#"{"s":"[[[[{{{{"}"#, 1), "brackets in strings do not count");
        assert!(!json_depth_exceeds(br#"{"s":"\"[[[["}"#, 1), "an escaped quote does not end the string");
        assert!(json_depth_exceeds(br#"{"s":"\\",  "t":[[]]}"#, 2), "an escaped backslash does");
        assert!(!json_depth_exceeds(b"]]]]{}", 1), "stray closers cannot buy depth");
        for d in [1, 2, 63, 64, 65, 200] {
            let j = nested(d);
            assert_eq!(json_depth_exceeds(j.as_bytes(), MAX_DEPTH), d > MAX_DEPTH, "depth {d}");
            assert_eq!(serde_json::from_str::<serde_json::Value>(&j).is_ok(), d < 128, "serde_json's own limit");
        }
    }

    #[test]
    fn limits_in_order_size_then_depth() {
        assert_eq!(check_json_limits(&nested(MAX_DEPTH)), Ok(()));
        assert_eq!(check_json_limits(&nested(MAX_DEPTH + 1)), Err(LimitError::TooDeep));
        assert_eq!(check_json_limits(&nested(1_000_000)), Err(LimitError::TooLarge));
        let big = format!("{{\"x\":\"{}\"}}", "y".repeat(MAX_RECORD_BYTES - 8));
        assert_eq!(big.len(), MAX_RECORD_BYTES);
        assert_eq!(check_json_limits(&big), Ok(()));
        let over = format!("{{\"x\":\"{}\"}}", "y".repeat(MAX_RECORD_BYTES - 7));
        assert_eq!(check_json_limits(&over), Err(LimitError::TooLarge));
    }
}
