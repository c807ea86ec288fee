//! Session ids: 24 bytes from the operating system's CSPRNG, base64url without padding
//! (32 characters), the same shape as `uid-safe(24)`.
//!
//! The bytes are fetched in batches: each thread keeps a buffer of 170 ids' worth (4080
//! bytes) filled by one `getrandom` call, hands each id 24 fresh bytes and zeroes them in the
//! buffer, so no byte is ever handed out twice. One syscall per 170 ids instead of one per id.
//! After a `fork` the child discards the buffer it inherited (a `pthread_atfork` child handler
//! bumps a generation counter), so parent and child never share ids. Processes duplicated
//! without `fork`/`pthread_atfork` (a raw `clone` syscall, a VM snapshot restored twice) are
//! outside what this can detect, as for any user-space randomness buffer.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use std::cell::RefCell;

pub const SID_BYTES: usize = 24;
/// Longest session id accepted from a cookie, a store or a custom generator.
pub const MAX_SID_LEN: usize = 256;

/// Bytes fetched per `getrandom` call: a whole number of ids, just under 4 KiB.
const POOL_BYTES: usize = SID_BYTES * 170;

/// A fresh random session id. Fails only if the OS refuses randomness, which is never
/// papered over with a weaker source.
pub fn generate_sid() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; SID_BYTES];
    match fork_generation() {
        // The buffer is unusable during thread teardown or if the fork handler could not be
        // registered: ask the OS for this id alone.
        Some(generation) => match POOL.try_with(|pool| pool.borrow_mut().take(&mut bytes, generation)) {
            Ok(result) => result?,
            Err(_) => getrandom::fill(&mut bytes)?,
        },
        None => getrandom::fill(&mut bytes)?,
    }
    let sid = URL_SAFE_NO_PAD.encode(bytes);
    wipe(&mut bytes);
    Ok(sid)
}

struct Pool {
    bytes: [u8; POOL_BYTES],
    /// Bytes before `next` have been handed out and zeroed; `POOL_BYTES` means empty.
    next: usize,
    /// The fork generation the buffer was filled under.
    generation: u64,
}

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool { bytes: [0; POOL_BYTES], next: POOL_BYTES, generation: 0 }) };
}

impl Pool {
    /// Moves the next `SID_BYTES` unused bytes into `out`, refilling first if the buffer is
    /// used up or was filled before a fork.
    fn take(&mut self, out: &mut [u8; SID_BYTES], generation: u64) -> Result<(), getrandom::Error> {
        if self.generation != generation || self.next + SID_BYTES > POOL_BYTES {
            // Empty until the refill succeeds: a failed or partial fill is never handed out.
            self.next = POOL_BYTES;
            getrandom::fill(&mut self.bytes)?;
            self.next = 0;
            self.generation = generation;
        }
        let chunk = &mut self.bytes[self.next..self.next + SID_BYTES];
        out.copy_from_slice(chunk);
        wipe(chunk);
        self.next += SID_BYTES;
        Ok(())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        wipe(&mut self.bytes);
    }
}

/// Zeroes `bytes` with writes the optimizer keeps even when the memory is not read again.
fn wipe(bytes: &mut [u8]) {
    for b in bytes.iter_mut() {
        // SAFETY: `b` is a valid, aligned, exclusive reference.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

#[cfg(unix)]
static FORK_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[cfg(unix)]
extern "C" fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// How many forks this process is from the one that first generated an id, or `None` when
/// fork detection is unavailable (then nothing may be buffered).
#[cfg(unix)]
fn fork_generation() -> Option<u64> {
    use std::sync::atomic::{AtomicBool, Ordering};
    static REGISTER: std::sync::Once = std::sync::Once::new();
    static REGISTERED: AtomicBool = AtomicBool::new(false);
    REGISTER.call_once(|| {
        // SAFETY: registers a handler that only does an atomic increment (async-signal-safe).
        let rc = unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
        REGISTERED.store(rc == 0, Ordering::Relaxed);
    });
    // The child handler runs on the thread that called fork, the only one in the child, so
    // program order is enough to see its increment.
    REGISTERED.load(Ordering::Relaxed).then(|| FORK_GENERATION.load(Ordering::Relaxed))
}

/// No `fork` to survive.
#[cfg(not(unix))]
fn fork_generation() -> Option<u64> {
    Some(0)
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

    /// 100k ids from 4 threads at once, through many refills of each thread's buffer.
    #[test]
    fn unique_across_threads_and_refills() {
        let threads: Vec<_> = (0..4).map(|_| std::thread::spawn(|| (0..25_000).map(|_| generate_sid().unwrap()).collect::<Vec<_>>())).collect();
        let mut seen = std::collections::HashSet::new();
        for t in threads {
            for sid in t.join().unwrap() {
                assert_eq!(sid.len(), 32);
                assert!(seen.insert(sid));
            }
        }
        assert_eq!(seen.len(), 100_000);
        // Zeroed bytes are never handed out: an all-zero id would be 32 'A's.
        assert!(!seen.contains(&"A".repeat(32)));
    }

    /// A forked child must not hand out the ids left in the buffer it inherited.
    #[cfg(unix)]
    #[test]
    fn fork_child_discards_the_inherited_buffer() {
        // Fills this thread's buffer, leaving 169 ids' worth in it.
        generate_sid().unwrap();
        let mut fds = [0; 2];
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // The child: one id into the pipe, then _exit (no test harness, no destructors).
            let ok = std::panic::catch_unwind(|| {
                let sid = generate_sid().unwrap();
                let n = unsafe { libc::write(fds[1], sid.as_ptr().cast(), sid.len()) };
                n == sid.len() as isize
            });
            unsafe { libc::_exit(if matches!(ok, Ok(true)) { 0 } else { 1 }) };
        }
        unsafe { libc::close(fds[1]) };
        // The parent's next ids, through the rest of its buffer and into the next one.
        let parent_next: Vec<String> = (0..200).map(|_| generate_sid().unwrap()).collect();
        let mut child = [0u8; 64];
        let mut got = 0;
        loop {
            let n = unsafe { libc::read(fds[0], child[got..].as_mut_ptr().cast(), child.len() - got) };
            if n <= 0 {
                break;
            }
            got += n as usize;
        }
        unsafe { libc::close(fds[0]) };
        let mut status = 0;
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child failed: status {status}");
        let child = std::str::from_utf8(&child[..got]).unwrap();
        assert_eq!(child.len(), 32, "child id {child:?}");
        assert_ne!(child, parent_next[0]);
        assert!(!parent_next.iter().any(|p| p == child), "the child reused the parent's buffered bytes");
    }
}
