//! Session ids: 24 bytes from the operating system's CSPRNG, base64url without padding
//! (32 characters), the same shape as `uid-safe(24)`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

pub const SID_BYTES: usize = 24;
/// Longest session id accepted from a cookie, a store or a custom generator.
pub const MAX_SID_LEN: usize = 256;

/// A fresh random session id. Fails only if the OS refuses randomness, which is never
/// papered over with a weaker source.
pub fn generate_sid() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; SID_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether `sid` can be a session id: 1..=256 printable ASCII characters, no `;`, no space
/// (it travels in a cookie and as a store key).
pub fn is_valid_sid(sid: &str) -> bool {
    !sid.is_empty() && sid.len() <= MAX_SID_LEN && sid.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b';')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_uniqueness() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let sid = generate_sid().unwrap();
            assert_eq!(sid.len(), 32);
            assert!(sid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert!(is_valid_sid(&sid));
            assert!(seen.insert(sid));
        }
        assert!(!is_valid_sid(""));
        assert!(!is_valid_sid("a;b"));
        assert!(!is_valid_sid("a b"));
        assert!(!is_valid_sid(&"a".repeat(257)));
    }
}
