//! Session ids as logs show them (the C log callback, `NODE_DEBUG=koa-session-ts`): a keyed
//! hash under a random key made once per process. The same id gives the same tag for the life
//! of the process, so a session can be followed through a log; a tag cannot be turned back into
//! the id, used in a cookie, or checked against a guessed id by anyone who reads the log
//! (OWASP: no session ids in logs). A printed prefix of the id, as before, gave away part of
//! the secret.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::sync::OnceLock;

/// Bytes of the HMAC shown: 48 bits, enough to tell a process's sessions apart in a log.
const TAG_BYTES: usize = 6;

fn process_key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut key = [0u8; 32];
        if getrandom::fill(&mut key).is_err() {
            // No OS randomness (it also fails session ids, which need it): the standard
            // library's randomly seeded hasher still keys the tags per process.
            use std::hash::{BuildHasher, Hasher};
            for chunk in key.chunks_mut(8) {
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_usize(chunk.as_ptr() as usize);
                chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
            }
        }
        key
    })
}

/// The tag a log shows for `sid`: `#` and 12 hex digits, or `-` for no id.
pub fn log_id(sid: &str) -> String {
    if sid.is_empty() {
        return "-".to_owned();
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(process_key()).expect("HMAC takes a key of any length");
    mac.update(sid.as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut tag = String::with_capacity(1 + 2 * TAG_BYTES);
    tag.push('#');
    for b in &digest[..TAG_BYTES] {
        tag.push_str(&format!("{b:02x}"));
    }
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_stable_within_the_process_and_holds_nothing_of_the_id() {
        let sid = "AbCdEfGhIjKlMnOpQrStUvWxYz012345";
        let tag = log_id(sid);
        assert_eq!(tag, log_id(sid));
        assert_eq!(tag.len(), 13);
        assert!(tag.starts_with('#') && tag[1..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!tag.contains(&sid[..4]));
        assert_ne!(tag, log_id("AbCdEfGhIjKlMnOpQrStUvWxYz012346"), "ids differing in one character differ");
        assert_eq!(log_id(""), "-");
    }
}
