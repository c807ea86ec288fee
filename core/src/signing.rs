//! Koa-compatible cookie signing (keygrip): the companion cookie `<name>.sig` holds
//! base64url-without-padding of HMAC-SHA1(key, "<name>=<value>"). New signatures use the
//! first key; verification accepts any key, so keys can be rotated without logging anyone out.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use subtle::{Choice, ConstantTimeEq};

type HmacSha1 = Hmac<Sha1>;

/// A base64url HMAC-SHA1: 20 bytes encode to 27 characters.
type Signature = [u8; 27];

/// A non-empty, ordered list of signing keys. The keyed HMAC state is prepared once, so
/// signing a cookie costs two SHA-1 compressions, not a re-key per request.
#[derive(Clone)]
pub struct Keys {
    macs: Vec<HmacSha1>,
    /// Names this list (and its clones, which hold the same keys) in [`LAST_VERIFIED`].
    id: u64,
}

static NEXT_KEYS_ID: AtomicU64 = AtomicU64::new(1);

/// What this thread's last verification computed: the signature of `data` under the first key
/// of the list `keys`. A request verifies its cookie when it begins and, when it saves, signs
/// the same `name=id` again; a signature depends only on the key and the data, so that second
/// HMAC is this copy when no other request verified on the thread in between.
struct LastVerified {
    keys: u64,
    data: Vec<u8>,
    signature: Signature,
}

/// Longer data is signed without being remembered (a session cookie's `name=id` is far shorter).
const REMEMBERED_DATA_MAX: usize = 512;

/// `a == b` in constant time for equal lengths (a length is not secret): how much of a
/// signature or a cookie matches must not show. Compared 8 bytes at a time, several times
/// faster than subtle's byte-wise slice comparison.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    fn word(chunk: &[u8]) -> u64 {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        u64::from_le_bytes(w)
    }
    if a.len() != b.len() {
        return false;
    }
    a.chunks(8).zip(b.chunks(8)).fold(Choice::from(1), |same, (x, y)| same & word(x).ct_eq(&word(y))).into()
}

thread_local! {
    static LAST_VERIFIED: RefCell<LastVerified> = const { RefCell::new(LastVerified { keys: 0, data: Vec::new(), signature: [0; 27] }) };
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({} keys)", self.macs.len())
    }
}

/// Which key verified a signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verified {
    /// The current (first) key: nothing to do.
    Current,
    /// An older key: the caller should re-sign with the current key.
    OlderKey(usize),
}

impl Keys {
    /// Keys in order of preference; `None` when the list is empty (an empty key list would
    /// make every signature unverifiable).
    pub fn new<K: AsRef<[u8]>>(keys: impl IntoIterator<Item = K>) -> Option<Keys> {
        let macs: Vec<HmacSha1> = keys
            .into_iter()
            .map(|k| HmacSha1::new_from_slice(k.as_ref()).expect("HMAC accepts keys of any length"))
            .collect();
        (!macs.is_empty()).then_some(Keys { macs, id: NEXT_KEYS_ID.fetch_add(1, Ordering::Relaxed) })
    }

    pub fn len(&self) -> usize {
        self.macs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.macs.is_empty()
    }

    fn mac(mac: &HmacSha1, data: &[u8]) -> Signature {
        let mut m = mac.clone();
        m.update(data);
        let mut encoded = [0u8; 27];
        URL_SAFE_NO_PAD.encode_slice(m.finalize().into_bytes(), &mut encoded).expect("20 bytes encode to 27");
        encoded
    }

    /// The signature of `data` under the first key that this thread's last [`verify`](Self::verify)
    /// computed, when it was for the same data under these keys.
    fn last_verified(&self, data: &[u8]) -> Option<Signature> {
        let hit = LAST_VERIFIED.try_with(|cell| {
            let last = cell.try_borrow().ok()?;
            (last.keys == self.id && same_bytes(&last.data, data)).then_some(last.signature)
        });
        hit.ok().flatten()
    }

    fn remember(&self, data: &[u8], signature: Signature) {
        if data.len() > REMEMBERED_DATA_MAX {
            return;
        }
        let _ = LAST_VERIFIED.try_with(|cell| {
            if let Ok(mut last) = cell.try_borrow_mut() {
                last.keys = self.id;
                last.data.clear();
                last.data.extend_from_slice(data);
                last.signature = signature;
            }
        });
    }

    /// Signs `data` (`"<name>=<value>"`) with the first key: a 27-character string.
    pub fn sign(&self, data: &[u8]) -> String {
        let signature = self.last_verified(data).unwrap_or_else(|| Self::mac(&self.macs[0], data));
        std::str::from_utf8(&signature).expect("base64url is ASCII").to_owned()
    }

    /// Checks `signature` against every key in order; comparisons are constant-time.
    pub fn verify(&self, data: &[u8], signature: &[u8]) -> Option<Verified> {
        let current = Self::mac(&self.macs[0], data);
        self.remember(data, current);
        if same_bytes(&current, signature) {
            return Some(Verified::Current);
        }
        for (index, mac) in self.macs.iter().enumerate().skip(1) {
            if same_bytes(&Self::mac(mac, data), signature) {
                return Some(Verified::OlderKey(index));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn design_vectors() {
        let k = Keys::new(["keys"]).unwrap();
        assert_eq!(k.sign(b"koa.sid=abc"), "lK1_iXCHn_udL_RhyRs2-SntCSQ");
        let k2 = Keys::new(["k2"]).unwrap();
        assert_eq!(k2.sign(b"koa.sid=dTq3__nkl6FViZlLPntHoSdqSFsi8fzd"), "xtqOOQWwc93_LIis_0azZCOzVYc");
    }

    /// Generated with the real `keygrip` npm package (1.1.0):
    /// `node -e 'const K=require("keygrip"); console.log(new K([key]).sign(data))'`
    /// for each (key, data) in core/tools/keygrip-vectors.js, which writes signing_vectors.rs:
    /// `cd core/tools && npm i keygrip@1.1.0 && node keygrip-vectors.js > ../src/signing_vectors.rs`.
    #[test]
    fn keygrip_vectors() {
        for (key, data, sig) in super::vectors::VECTORS {
            let k = Keys::new([key.as_bytes()]).unwrap();
            assert_eq!(k.sign(data.as_bytes()), *sig, "key {key:?} data {data:?}");
            assert_eq!(k.verify(data.as_bytes(), sig.as_bytes()), Some(Verified::Current));
        }
    }

    #[test]
    fn rotation_and_tampering() {
        let old = Keys::new(["old"]).unwrap();
        let rotated = Keys::new(["new", "old"]).unwrap();
        let sig = old.sign(b"koa.sid=abc");
        assert_eq!(rotated.verify(b"koa.sid=abc", sig.as_bytes()), Some(Verified::OlderKey(1)));
        assert_eq!(rotated.verify(b"koa.sid=abd", sig.as_bytes()), None);
        assert_eq!(rotated.verify(b"koa.sid=abc", b""), None);
        assert_eq!(rotated.verify(b"koa.sid=abc", &sig.as_bytes()[..26]), None);
        let fresh = rotated.sign(b"koa.sid=abc");
        assert_eq!(rotated.verify(b"koa.sid=abc", fresh.as_bytes()), Some(Verified::Current));
        assert!(Keys::new(Vec::<&str>::new()).is_none());
    }

    /// A verification's signature is reused only for the same key list and the same data.
    #[test]
    fn remembered_signature_is_the_lists_own() {
        let fresh = |keys: &Keys, data: &[u8]| String::from_utf8(Keys::mac(&keys.macs[0], data).to_vec()).unwrap();
        let (a, b) = (Keys::new(["a"]).unwrap(), Keys::new(["b", "a"]).unwrap());
        let (one, two) = (b"koa.sid=one".as_slice(), b"koa.sid=two".as_slice());
        let signed_a = fresh(&a, one);
        assert_eq!(a.verify(one, signed_a.as_bytes()), Some(Verified::Current));
        assert_eq!(a.sign(one), signed_a);
        // Another list, same data: its own signature.
        assert_eq!(b.sign(one), fresh(&b, one));
        assert_eq!(b.verify(one, signed_a.as_bytes()), Some(Verified::OlderKey(1)));
        assert_eq!(b.sign(one), fresh(&b, one), "re-signed with the current key, not the one that verified");
        assert_eq!(a.sign(one), signed_a);
        // Same list, other data, also after a failed verification.
        assert_eq!(a.verify(one, b"not a signature"), None);
        assert_eq!(a.sign(two), fresh(&a, two));
        assert_eq!(a.verify(two, signed_a.as_bytes()), None);
        assert_eq!(a.sign(two), fresh(&a, two));
        assert_eq!(a.sign(one), signed_a);
        // A clone holds the same keys: it may reuse the list's verification.
        assert_eq!(a.verify(one, signed_a.as_bytes()), Some(Verified::Current));
        assert_eq!(a.clone().sign(one), signed_a);
        // Data too long to remember is still signed and verified right.
        let long = vec![b'x'; REMEMBERED_DATA_MAX + 1];
        assert_eq!(a.verify(&long, fresh(&a, &long).as_bytes()), Some(Verified::Current));
        assert_eq!(a.sign(&long), fresh(&a, &long));
    }

    #[test]
    fn same_bytes_is_equality() {
        for (x, y) in [(&b""[..], &b""[..]), (b"a", b"a"), (b"a", b"b"), (b"abcdefgh", b"abcdefgh"), (b"abcdefghi", b"abcdefghj"), (b"abcdefghi", b"abcdefgh"), (b"\0", b"")] {
            assert_eq!(same_bytes(x, y), x == y, "{x:?} {y:?}");
        }
    }
}

#[cfg(test)]
#[path = "signing_vectors.rs"]
mod vectors;
