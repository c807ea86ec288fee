//! `c_api`: the C API driven by random call sequences, NULLs and invalid UTF-8 included.
//!
//! Input: a configuration prefix, then one call per byte (with its arguments from the
//! following bytes) on up to four session handles. Invariants:
//! - no call panics (`KS_RESULT_PANIC`) or reports a broken invariant (`KS_RESULT_INTERNAL`);
//!   NULL handles and out-pointers give NULL_PARAMETER, invalid UTF-8 gives INVALID_UTF8;
//! - handle rules hold: a committed session answers SESSION_FINISHED, a destroyed one
//!   SESSION_DESTROYED for its data, and a failed call changes nothing;
//! - data set is data read back (`set_json` then `json_copy`, `set_field` then `get_field`
//!   as compact JSON), data over the limits is refused with INVALID_JSON and a `cookie`
//!   that is not an object with INVALID_COOKIE_ATTRIBUTE, and whatever was accepted commits;
//! - every Set-Cookie value is well-formed;
//! - users (issue 19; op 15 and a byte choose among the user calls, 0 being the NULL-handle
//!   checks): `ks_config_builder_set_user_field` accepts a name or a dotted path (and NULL,
//!   which clears it) and refuses an empty one, an empty name between dots or more than 16
//!   names (INVALID_ARGUMENT), and invalid UTF-8; with it, a commit may also fail with
//!   INVALID_USER_ID, and only when the session's user field holds what the target's own
//!   oracle reads as no user id; the last error message then names the field and the session
//!   is unchanged (the commit may be retried);
//! - `ks_store_destroy_user_sessions` / `ks_store_user_sessions` answer one of the argument
//!   errors that apply (NULL_PARAMETER, INVALID_UTF8, INVALID_ARGUMENT for an empty or
//!   over-512-byte user id or a refused field) or OK, and write no out-parameter on failure;
//!   after a destroy of user U no session committed under U (but `except`) loads again, then
//!   or after any later commit (a request of it in flight re-creates nothing), and U's listing
//!   holds `except` at most; a listing names only sessions whose data names the user under
//!   the field asked, once each, with valid ids; its getters give OUT_OF_RANGE at and past the
//!   end and NULL_PARAMETER for NULL; lists live across later calls until freed;
//! - lifetimes (issue 20; flag 32, then a byte: which of the four setters run, low nibble,
//!   and the clock's start, high nibble): `ks_config_builder_set_idle_timeout_ms`,
//!   `_absolute_timeout_ms`, `_renew_interval_ms`, `_renew_grace_ms` take 0..=ten years and
//!   refuse more with INVALID_ARGUMENT naming the option (NULL builder: NULL_PARAMETER); the
//!   engine reads the target's clock (`ks_config_builder_set_clock`), which a step moves on
//!   first when its bit 4 is set (the next byte: 0..63 times 1, 100, 10^4 or 10^6 ms); a load
//!   that gives a session (not new) is before its deadlines: the clock is below the first
//!   commit under its key plus absoluteTimeout and the latest commit under it plus
//!   idleTimeout (bounds on the record's own times); an EXPIRED load report is a new session.
//!   In that mode op 13 chooses among: the clock jumping (up to 20 years), `ks_cache_headers`,
//!   the setters on a builder of their own, a forged `_ks` field, and op 13's own checks;
//! - `ks_cache_headers` (NULL / invalid UTF-8 / blank / random values, NULL out-pointers,
//!   NULL or small buffers): the result agrees with an oracle of the documented rule (blank is
//!   unset; `no-cache="Set-Cookie"` only without the app's Cache-Control; `Vary` the app's
//!   plus `, Cookie`, `Cookie` alone, or empty when a token is `*` or `Cookie` in any case),
//!   `strlen(app_vary) + 9` always suffices, and on an error nothing is written but the length
//!   needed on INSUFFICIENT_SIZE;
//! - every handle is freed at the end (run under valgrind by `make fuzz-c-api-leaks`).

use crate::input::Input;
use crate::oracle::{check_set_cookie, is_sid, keygrip_sign, record_user, Allowed};
use koa_session::*;
use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicI64, Ordering};

const BAD_UTF8: &CStr = c"\xff\xfe";
const NAMES: [&CStr; 4] = [c"views", c"cookie", c"user", c"\xc3"];

fn ok(r: ks_result) -> bool {
    assert!(r != ks_result::Panic && r != ks_result::Internal, "{r:?}");
    r == ks_result::Ok
}

unsafe fn json_of(s: *const ks_session) -> Option<String> {
    let (mut p, mut len): (*const c_char, usize) = (null(), 0);
    if !ok(ks_session_json(s, &mut p, &mut len)) {
        return None;
    }
    let copy = std::slice::from_raw_parts(p.cast::<u8>(), len).to_vec();
    // The borrowed text and the copy agree.
    let mut buf = vec![0 as c_char; len + 1];
    let mut got = 0;
    assert!(ok(ks_session_json_copy(s, buf.as_mut_ptr(), buf.len(), &mut got)));
    assert_eq!(got, len);
    assert_eq!(std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len), &copy[..]);
    Some(String::from_utf8(copy).expect("session data is UTF-8"))
}

unsafe fn field(s: *const ks_session, key: &CStr) -> Result<String, ks_result> {
    let mut need = 0;
    let r = ks_session_get_field(s, key.as_ptr(), null_mut(), 0, &mut need);
    if r != ks_result::InsufficientSize {
        ok(r);
        return Err(r);
    }
    let mut buf = vec![0 as c_char; need + 1];
    let mut got = 0;
    assert!(ok(ks_session_get_field(s, key.as_ptr(), buf.as_mut_ptr(), buf.len(), &mut got)));
    assert_eq!(got, need);
    Ok(String::from_utf8(std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), got).to_vec()).unwrap())
}

/// `userField` values for the builder: (value, what setting it gives, the path it sets).
fn user_field_choice(i: u8) -> (Option<CString>, ks_result, Option<&'static [&'static str]>) {
    let c = |s: &str| Some(CString::new(s).unwrap());
    match i % 8 {
        0 => (c("user"), ks_result::Ok, Some(&["user"])),
        1 => (c("passport.user"), ks_result::Ok, Some(&["passport", "user"])),
        2 => (c(""), ks_result::InvalidArgument, None),
        3 => (c("a..b"), ks_result::InvalidArgument, None),
        4 => (c(".user"), ks_result::InvalidArgument, None),
        5 => (c(&["a"; 17].join(".")), ks_result::InvalidArgument, None),
        6 => (Some(BAD_UTF8.to_owned()), ks_result::InvalidUtf8, None),
        // NULL clears the option.
        _ => (None, ks_result::Ok, None),
    }
}

/// A user id argument: the value, and the argument error it gives (if any).
fn user_id_choice(i: u8) -> (Option<CString>, Option<ks_result>) {
    let c = |s: &str| Some(CString::new(s).unwrap());
    match i % 10 {
        0 | 1 => (c("ann"), None),
        2 => (c("bob"), None),
        3 => (c("7"), None),
        4 => (c("\u{e9}"), None),
        5 => (c(&"u".repeat(512)), None),
        6 => (c(""), Some(ks_result::InvalidArgument)),
        7 => (c(&"u".repeat(513)), Some(ks_result::InvalidArgument)),
        8 => (Some(BAD_UTF8.to_owned()), Some(ks_result::InvalidUtf8)),
        _ => (None, Some(ks_result::NullParameter)),
    }
}

/// A value for the session's user field (JSON): valid ids (`7` and `"7"` are one user), no
/// user, and ids that are not ones.
fn user_value(i: u8) -> String {
    match i % 11 {
        0 => r#""ann""#.into(),
        1 => r#""bob""#.into(),
        2 => "7".into(),
        3 => r#""7""#.into(),
        4 => r#""\u00e9""#.into(),
        5 => "null".into(),
        6 => "true".into(),
        7 => r#"{"id":"ann"}"#.into(),
        8 => "[7]".into(),
        9 => r#""""#.into(),
        _ => format!(r#""{}""#, "u".repeat(513)),
    }
}

fn opt_ptr(c: &Option<CString>) -> *const c_char {
    c.as_ref().map_or(null(), |c| c.as_ptr())
}

/// The calling thread's last error message.
unsafe fn last_error() -> String {
    let mut buf = vec![0 as c_char; 4096];
    let mut len = 0;
    assert!(ok(ks_last_error_message(buf.as_mut_ptr(), buf.len(), &mut len)));
    String::from_utf8_lossy(std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len)).into_owned()
}

unsafe fn session_id(s: *const ks_session) -> Option<String> {
    let (mut p, mut len) = (null(), 0);
    if !ok(ks_session_id(s, &mut p, &mut len)) {
        return None;
    }
    Some(String::from_utf8(std::slice::from_raw_parts(p.cast::<u8>(), len).to_vec()).expect("an ASCII id"))
}

/// Reads a whole user list through its getters, checking them: (id, data) of each session.
/// `now`: the target's clock when the engine runs on it (logins are then at or before it,
/// 1970 or not), else `None` (the system clock: logins after 1970).
unsafe fn read_list(list: *const ks_user_sessions, now: Option<i64>) -> Vec<(String, String)> {
    let n = ks_user_sessions_count(list);
    let mut items = Vec::with_capacity(n);
    let (mut since, mut p, mut len) = (0i64, null(), 0usize);
    for i in 0..n {
        assert!(ok(ks_user_sessions_get(list, i, &mut since, &mut p, &mut len)));
        match now {
            Some(now) => assert!(since <= now, "a login after the clock's now ({since} > {now})"),
            None => assert!(since > 0, "a login before 1970"),
        }
        assert_eq!(CStr::from_ptr(p).to_bytes().len(), len);
        let json = String::from_utf8(std::slice::from_raw_parts(p.cast::<u8>(), len).to_vec()).expect("UTF-8 data");
        assert!(ok(ks_user_sessions_id(list, i, &mut p, &mut len)));
        let id = CStr::from_ptr(p).to_bytes();
        assert!(id.len() == len && is_sid(id), "a listed id that is not one");
        items.push((String::from_utf8(id.to_vec()).unwrap(), json));
    }
    let past = if list.is_null() { ks_result::NullParameter } else { ks_result::OutOfRange };
    for i in [n, n + 1, usize::MAX] {
        assert_eq!(ks_user_sessions_get(list, i, &mut since, &mut p, &mut len), past);
        assert_eq!(ks_user_sessions_id(list, i, &mut p, &mut len), past);
    }
    if n > 0 {
        assert_eq!(ks_user_sessions_get(list, 0, null_mut(), &mut p, &mut len), ks_result::NullParameter);
        assert_eq!(ks_user_sessions_get(list, 0, &mut since, null_mut(), &mut len), ks_result::NullParameter);
        assert_eq!(ks_user_sessions_get(list, 0, &mut since, &mut p, null_mut()), ks_result::NullParameter);
        assert_eq!(ks_user_sessions_id(list, 0, null_mut(), &mut len), ks_result::NullParameter);
        assert_eq!(ks_user_sessions_id(list, 0, &mut p, null_mut()), ks_result::NullParameter);
    }
    items
}

/// Every id of `dead` (sessions ended by `ks_store_destroy_user_sessions`) loads as a new
/// session, never as itself.
unsafe fn check_gone(engine: *const ks_engine, dead: &[String], cookie_name: &str, sign: bool) {
    if engine.is_null() {
        return;
    }
    for sid in dead {
        let mut header = format!("{cookie_name}={sid}");
        if sign {
            header = format!("{header}; {cookie_name}.sig={}", keygrip_sign(b"c key", header.as_bytes()));
        }
        let mut out = null_mut();
        assert!(ok(ks_session_load(engine, header.as_ptr(), header.len(), null(), &mut out)));
        assert!(ks_session_is_new(out), "a session of a destroyed user loaded again");
        assert_ne!(session_id(out).as_ref(), Some(sid), "a session of a destroyed user loaded again");
        ks_session_free(out);
    }
}

/// The lifetime options' upper limit (ten years, ms).
const MAX_LIFETIME_MS: u64 = 315_360_000_000;

type LifetimeSetter = unsafe extern "C" fn(*mut ks_config_builder, u64) -> ks_result;
const LIFETIME_SETTERS: [(LifetimeSetter, &str); 4] = [
    (ks_config_builder_set_idle_timeout_ms, "idleTimeout"),
    (ks_config_builder_set_absolute_timeout_ms, "absoluteTimeout"),
    (ks_config_builder_set_renew_interval_ms, "renewInterval"),
    (ks_config_builder_set_renew_grace_ms, "renewGrace"),
];

/// A lifetime option value: 0 (off), small, seconds, the limit and just past it, huge, any.
fn lifetime_value(input: &mut Input) -> u64 {
    match input.byte() % 8 {
        0 => 0,
        1 => 1,
        2 => input.byte() as u64 + 1,
        3 => (input.byte() as u64 + 1) * 1000,
        4 => MAX_LIFETIME_MS,
        5 => MAX_LIFETIME_MS + 1,
        6 => u64::MAX,
        _ => input.u64(),
    }
}

/// Calls setter `which` and checks its answer; true when the value was taken.
unsafe fn set_lifetime(b: *mut ks_config_builder, which: usize, v: u64) -> bool {
    let (set, name) = LIFETIME_SETTERS[which % 4];
    let r = set(b, v);
    if b.is_null() {
        assert_eq!(r, ks_result::NullParameter, "{name} on a NULL builder");
        false
    } else if v > MAX_LIFETIME_MS {
        assert_eq!(r, ks_result::InvalidArgument, "{name} {v}");
        let message = last_error();
        assert!(message.contains(name), "the error does not name {name}: {message}");
        false
    } else {
        assert_eq!(r, ks_result::Ok, "{name} {v}");
        true
    }
}

/// The engine's clock: the target's, moved on by the input.
unsafe extern "C" fn fuzz_clock(userdata: *mut c_void) -> i64 {
    (*userdata.cast::<AtomicI64>()).load(Ordering::SeqCst)
}

fn advance(clock: &AtomicI64, by: u64) {
    let now = clock.load(Ordering::SeqCst);
    clock.store(now.saturating_add(by.min(i64::MAX as u64) as i64), Ordering::SeqCst);
}

const NO_CACHE: &str = "no-cache=\"Set-Cookie\"";

/// An argument of `ks_cache_headers`.
fn header_arg(input: &mut Input) -> Option<CString> {
    let c = |s: &str| Some(CString::new(s).unwrap());
    match input.byte() % 10 {
        0 => None,
        1 => Some(BAD_UTF8.to_owned()),
        2 => c(""),
        3 => c(" \t "),
        4 => c("Accept-Encoding"),
        5 => c(" Accept, COOKIE "),
        6 => c("*"),
        7 => c("Cookies, Origin"),
        _ => Some(CString::new(input.until(b'|').iter().map(|&c| c.max(1)).collect::<Vec<u8>>()).unwrap()),
    }
}

/// `ks_cache_headers` against the documented rule, with its argument and buffer errors.
unsafe fn check_cache_headers(input: &mut Input) {
    let (cc, vary) = (header_arg(input), header_arg(input));
    let m = input.byte();
    // The rule (an independent reading of the header's documentation).
    let blank = |v: &Option<CString>| v.as_ref().and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let want_cc = blank(&cc).is_none();
    let want_vary = match blank(&vary) {
        None => "Cookie".to_owned(),
        Some(v) if v.split(',').map(str::trim).any(|t| t == "*" || t.eq_ignore_ascii_case("cookie")) => String::new(),
        Some(v) => format!("{v}, Cookie"),
    };
    let app_len = vary.as_ref().map_or(0, |v| v.as_bytes().len());
    let cap = match m % 4 {
        0 => 0,
        1 => input.byte() as usize % 16,
        2 => want_vary.len() + (input.byte() as usize % 2),
        _ => app_len + 9,
    };
    let mut buf = vec![0x55 as c_char; cap + 8];
    let buf_ptr = if m & 4 != 0 { null_mut() } else { buf.as_mut_ptr() };
    static SENTINEL: &CStr = c"untouched";
    let mut cc_out: *const c_char = SENTINEL.as_ptr();
    let mut len = usize::MAX;
    let cc_ptr: *mut *const c_char = if m & 8 != 0 { null_mut() } else { &mut cc_out };
    let len_ptr: *mut usize = if m & 16 != 0 { null_mut() } else { &mut len };
    let r = ks_cache_headers(opt_ptr(&cc), opt_ptr(&vary), cc_ptr, buf_ptr, cap, len_ptr);
    let bad_utf8 = [&cc, &vary].iter().any(|v| v.as_deref().is_some_and(|v| v.to_str().is_err()));
    let untouched_buf = buf.iter().all(|&b| b == 0x55);
    if cc_ptr.is_null() || len_ptr.is_null() {
        assert_eq!(r, ks_result::NullParameter);
    } else if bad_utf8 {
        assert_eq!(r, ks_result::InvalidUtf8);
    } else if want_vary.len() >= cap {
        assert_eq!(r, ks_result::InsufficientSize, "{cc:?} {vary:?} cap {cap}");
        assert_eq!(len, want_vary.len(), "the length needed");
        assert!(want_vary.len() + 1 <= app_len + 9, "strlen(app_vary) + 9 bytes do not suffice");
        assert_eq!(cc_out, SENTINEL.as_ptr(), "cache_control_out written on failure");
        assert!(untouched_buf, "the buffer written on failure");
        return;
    } else if buf_ptr.is_null() {
        assert_eq!(r, ks_result::NullParameter);
    } else {
        assert_eq!(r, ks_result::Ok, "{cc:?} {vary:?} cap {cap}");
        assert_eq!(len, want_vary.len());
        let got = std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len + 1);
        assert_eq!(&got[..len], want_vary.as_bytes(), "Vary for {vary:?}");
        assert_eq!(got[len], 0, "no NUL");
        assert!(buf[len + 1..].iter().all(|&b| b == 0x55), "written past the value");
        if want_cc {
            assert!(!cc_out.is_null() && cc_out != SENTINEL.as_ptr());
            assert_eq!(CStr::from_ptr(cc_out).to_str(), Ok(NO_CACHE));
        } else {
            assert!(cc_out.is_null(), "the app's Cache-Control {cc:?} replaced");
        }
        return;
    }
    assert_eq!(cc_out, SENTINEL.as_ptr(), "cache_control_out written on failure");
    assert_eq!(len, usize::MAX, "vary_len_out written on failure");
    assert!(untouched_buf, "the buffer written on failure");
}

fn deep(depth: usize) -> String {
    format!("{{\"d\":{}{}}}", "[".repeat(depth.saturating_sub(1)), "]".repeat(depth.saturating_sub(1)))
}

pub fn run(data: &[u8]) {
    unsafe { run_unsafe(data) }
}

unsafe fn run_unsafe(data: &[u8]) {
    let mut input = Input::new(data);
    let b = ks_config_builder_new();
    assert!(!b.is_null());
    let flags = input.byte();
    if flags & 1 != 0 {
        ok(ks_config_builder_add_key(b, b"c key".as_ptr(), 5));
    }
    if flags & 2 != 0 {
        ok(ks_config_builder_set_rolling(b, true));
    }
    let mut cookie_name = "koa.sid".to_owned();
    if flags & 4 != 0 {
        // A hostile cookie name from the input: refused unless valid.
        let name = std::ffi::CString::new(input.until(b'|').iter().map(|&c| c.max(1)).collect::<Vec<u8>>()).unwrap();
        if ok(ks_config_builder_set_cookie_name(b, name.as_ptr())) {
            cookie_name = name.into_string().expect("an accepted name is ASCII");
        }
    }
    let sig_name = format!("{cookie_name}.sig");
    // The `userField` option (issue 19), set up to twice (a NULL clears it).
    let mut user_path: Option<&'static [&'static str]> = None;
    for bit in [8, 16] {
        if flags & bit != 0 {
            let (field, want, path) = user_field_choice(input.byte());
            assert_eq!(ks_config_builder_set_user_field(b, opt_ptr(&field)), want, "{field:?}");
            if want == ks_result::Ok {
                user_path = path;
            }
        }
    }
    assert_eq!(ks_config_builder_set_user_field(null_mut(), c"user".as_ptr()), ks_result::NullParameter);
    // Lifetimes (issue 20): the four options and the target's clock.
    let clock: Box<AtomicI64> = Box::new(AtomicI64::new(1_700_000_000_000));
    let lifetimes = flags & 32 != 0;
    // idleTimeout, absoluteTimeout, renewInterval, renewGrace as the engine took them.
    let mut life = [0u64; 4];
    if lifetimes {
        let n = input.byte();
        for which in 0..4 {
            if n & (1 << which) != 0 {
                let v = lifetime_value(&mut input);
                if set_lifetime(b, which, v) {
                    life[which] = v;
                }
            }
        }
        set_lifetime(null_mut(), n as usize, 1);
        let start = match n >> 4 {
            0..=11 => 1_700_000_000_000,
            12 => 0,
            13 => -86_400_000,
            14 => i64::MAX - 1_000_000_000,
            _ => input.u64() as i64,
        };
        clock.store(start, Ordering::SeqCst);
        let ud = (&*clock as *const AtomicI64).cast_mut().cast::<c_void>();
        assert_eq!(ks_config_builder_set_clock(null_mut(), Some(fuzz_clock), ud), ks_result::NullParameter);
        assert!(ok(ks_config_builder_set_clock(b, Some(fuzz_clock), ud)));
    }
    // Per record key: the clock at its first and at its latest successful commit (bounds on
    // the record's creation and activity times).
    let mut commits: HashMap<String, (i64, i64)> = HashMap::new();
    let mut store = null_mut();
    assert!(ok(ks_memory_store_new(input.byte() as usize % 3, &mut store)));
    let mut engine = null_mut();
    let engine_ok = ok(ks_engine_new(b, store, &mut engine));
    assert_eq!(engine_ok, !engine.is_null());
    assert_eq!(ks_engine_new(null(), store, &mut engine), ks_result::NullParameter);
    ks_config_builder_free(b);
    // The caller's store handle lives on for the user calls (an op frees it early).
    let sign = flags & 1 != 0;

    let mut sessions: [*mut ks_session; 4] = [null_mut(); 4];
    let mut finished = [false; 4];
    // Per slot: the save mode is SKIP.
    let mut skip = [false; 4];
    // (id, user) of every session committed under a user.
    let mut acked: Vec<(String, String)> = Vec::new();
    // Ids ended by a destroy of their user: they never load again.
    let mut dead: Vec<String> = Vec::new();
    let mut lists: [*mut ks_user_sessions; 2] = [null_mut(); 2];
    let mut jar: Vec<u8> = Vec::new();
    let mut steps = 0;
    while !input.is_empty() && steps < 64 {
        steps += 1;
        let op = input.byte();
        let slot = (op >> 5) as usize % 4;
        if lifetimes && op & 0x10 != 0 {
            let b = input.byte();
            advance(&clock, (b & 63) as u64 * [1, 100, 10_000, 1_000_000][(b >> 6) as usize]);
        }
        let now = lifetimes.then(|| clock.load(Ordering::SeqCst));
        let s = sessions[slot];
        match op % 16 {
            0 => {
                // Load, with the jar, a raw header from the input, or NULL/zero-length.
                let header: Vec<u8> = match input.byte() % 3 {
                    0 => jar.clone(),
                    1 => input.until(b'|').to_vec(),
                    _ => Vec::new(),
                };
                let mut out = null_mut();
                let path = input.pick(&[null(), c"/".as_ptr(), BAD_UTF8.as_ptr()]);
                let r = ks_session_load(engine, if header.is_empty() { null() } else { header.as_ptr() }, header.len(), path, &mut out);
                if engine.is_null() {
                    assert_eq!(r, ks_result::NullParameter);
                } else if path == BAD_UTF8.as_ptr() {
                    assert_eq!(r, ks_result::InvalidUtf8);
                } else {
                    assert!(ok(r) && !out.is_null(), "{r:?}");
                    if ks_session_load_report(out) == ks_load_report::Expired {
                        assert!(ks_session_is_new(out), "an EXPIRED load that is not a new session");
                    }
                    if lifetimes && !ks_session_is_new(out) {
                        // Loaded: before both deadlines of its record (upper bounds: the
                        // record was created by its key's first commit, active at the latest).
                        let now = clock.load(Ordering::SeqCst) as i128;
                        let key = session_id(out).expect("a loaded session has an id");
                        if let Some(&(first, last)) = commits.get(&key) {
                            if life[1] > 0 {
                                assert!(now < first as i128 + life[1] as i128, "loaded after its absolute deadline: now {now}, first commit {first}, absoluteTimeout {}", life[1]);
                            }
                            if life[0] > 0 {
                                assert!(now < last as i128 + life[0] as i128, "loaded after its idle deadline: now {now}, last commit {last}, idleTimeout {}", life[0]);
                            }
                        }
                    }
                    ks_session_free(sessions[slot]);
                    sessions[slot] = out;
                    finished[slot] = false;
                    skip[slot] = false;
                }
            }
            1 => {
                ks_session_free(s);
                sessions[slot] = null_mut();
            }
            2 => {
                let json = String::from_utf8_lossy(input.until(b'|')).into_owned();
                let before = json_of(s);
                let r = ks_session_set_json(s, json.as_ptr().cast(), json.len());
                let want = koa_session_core::record::check_record(&json);
                if s.is_null() {
                    assert_eq!(r, ks_result::NullParameter);
                } else if finished[slot] {
                    assert_eq!(r, ks_result::SessionFinished);
                } else if let Err(e) = want {
                    assert_eq!(r, ks_result::from(e), "{json:?}");
                    assert_eq!(json_of(s), before, "a refused set_json changed the data");
                } else {
                    assert!(ok(r));
                    assert_eq!(json_of(s).as_deref(), Some(json.as_str()));
                }
            }
            3 => {
                // Data at and over the depth limit, and a `cookie` that is not an object.
                let (json, want) = match input.byte() % 4 {
                    0 => (deep(koa_session_core::limits::MAX_DEPTH), ks_result::Ok),
                    1 => (deep(koa_session_core::limits::MAX_DEPTH + 1), ks_result::InvalidJson),
                    2 => (deep(20_000), ks_result::InvalidJson),
                    _ => (r#"{"cookie":5}"#.to_owned(), ks_result::InvalidCookieAttribute),
                };
                let r = ks_session_set_json(s, json.as_ptr().cast(), json.len());
                if !s.is_null() && !finished[slot] {
                    assert_eq!(r, want, "{}", &json[..json.len().min(40)]);
                }
            }
            4 => {
                let key = input.pick(&NAMES);
                let value = String::from_utf8_lossy(input.until(b'|')).into_owned();
                let before = json_of(s);
                let r = ks_session_set_field(s, key.as_ptr(), value.as_ptr().cast(), value.len());
                if ok(r) {
                    let compact = serde_json::from_str::<serde_json::Value>(&value).unwrap().to_string();
                    assert_eq!(field(s, key), Ok(compact));
                } else {
                    assert_eq!(json_of(s), before, "a refused set_field changed the data");
                }
            }
            5 => {
                let key = input.pick(&NAMES);
                let r = ks_session_get_field(s, key.as_ptr(), null_mut(), 0, null_mut());
                let bad_key = key.to_str().is_err() && !s.is_null();
                assert!(r == ks_result::NullParameter || (bad_key && r == ks_result::InvalidUtf8), "{r:?}");
                let _ = field(s, key);
            }
            6 => {
                let key = input.pick(&NAMES);
                if ok(ks_session_remove_field(s, key.as_ptr())) {
                    assert_eq!(field(s, key), Err(ks_result::NotFound));
                }
            }
            7 => {
                if ok(ks_session_mark_destroyed(s)) {
                    assert!(ks_session_is_destroyed(s));
                    let mut need = 0;
                    assert_eq!(ks_session_get_field(s, c"views".as_ptr(), null_mut(), 0, &mut need), ks_result::SessionDestroyed);
                }
            }
            8 => {
                ok(ks_session_regenerate(s));
            }
            9 => {
                let mode = input.byte() as u32 % 4;
                let r = ks_session_set_save(s, mode);
                if !s.is_null() && !finished[slot] {
                    assert_eq!(r == ks_result::InvalidArgument, mode == 3);
                }
                if ok(r) {
                    skip[slot] = mode == 2;
                }
            }
            10 => {
                let mut cookies = null_mut();
                let json = json_of(s);
                let sid = session_id(s);
                let user = json.as_deref().zip(user_path).map(|(j, path)| record_user(j, path));
                let r = ks_session_commit(s, input.bool(), &mut cookies);
                if ok(r) {
                    finished[slot] = true;
                    if let Some(sid) = &sid {
                        let now = clock.load(Ordering::SeqCst);
                        let e = commits.entry(sid.clone()).or_insert((now, now));
                        e.1 = e.1.max(now);
                    }
                    if let (Some(Ok(Some(u))), Some(sid), false) = (&user, &sid, skip[slot]) {
                        acked.push((sid.clone(), u.clone()));
                    }
                    let allowed = Allowed { names: &[&cookie_name, &sig_name], path: Some("/"), domain: None };
                    let n = ks_set_cookies_count(cookies);
                    let mut sent = Vec::new();
                    for i in 0..n {
                        let (mut p, mut len) = (null(), 0);
                        assert!(ok(ks_set_cookies_get(cookies, i, &mut p, &mut len)));
                        let c = std::str::from_utf8(std::slice::from_raw_parts(p.cast::<u8>(), len)).unwrap();
                        check_set_cookie(c, &allowed);
                        sent.push(c.split(';').next().unwrap().to_owned());
                    }
                    assert_eq!(ks_set_cookies_get(cookies, n, &mut null(), &mut 0), ks_result::OutOfRange);
                    ks_set_cookies_free(cookies);
                    if !sent.is_empty() {
                        jar = sent.join("; ").into_bytes();
                    }
                    assert_eq!(ks_session_commit(s, false, &mut cookies), ks_result::SessionFinished);
                    check_gone(engine, &dead, &cookie_name, sign);
                } else if r == ks_result::InvalidUserId {
                    // Only for a user field holding something that is not a user id; nothing
                    // changes, and the commit may be retried.
                    assert!(matches!(user, Some(Err(_))), "INVALID_USER_ID for {json:?}");
                    let message = last_error();
                    let dotted = user_path.unwrap().join(".");
                    assert!(message.contains(&format!("'{dotted}'")), "the error does not name the field: {message}");
                    assert!(cookies.is_null(), "an out-parameter written on failure");
                    assert_eq!(json_of(s), json, "a refused commit changed the session");
                    assert_eq!(session_id(s), sid, "a refused commit changed the session id");
                } else {
                    assert!(cookies.is_null(), "an out-parameter written on failure");
                    assert!(
                        s.is_null() || finished[slot] || r == ks_result::SecureCookieOverHttp,
                        "commit failed: {r:?}"
                    );
                }
            }
            11 => {
                let (mut p, mut len) = (null(), 0);
                if ok(ks_session_id(s, &mut p, &mut len)) {
                    assert_eq!(CStr::from_ptr(p).to_bytes().len(), len);
                }
                let _ = ks_session_is_new(s);
                let _ = ks_session_load_report(s);
            }
            12 => {
                // Invalid UTF-8 and NULL arguments are errors, never crashes.
                if !s.is_null() && !finished[slot] {
                    assert_eq!(ks_session_set_field(s, BAD_UTF8.as_ptr(), c"1".as_ptr(), 1), ks_result::InvalidUtf8);
                    assert_eq!(ks_session_set_json(s, BAD_UTF8.as_ptr(), 2), ks_result::InvalidUtf8);
                    assert_eq!(ks_session_set_json(s, null(), 5), ks_result::NullParameter);
                    assert_eq!(ks_session_remove_field(s, null()), ks_result::NullParameter);
                }
                assert_eq!(ks_session_json(s, null_mut(), null_mut()), ks_result::NullParameter);
            }
            13 if lifetimes && input.byte() % 5 != 4 => match input.byte() % 4 {
                0 => advance(&clock, input.u64() % (2 * MAX_LIFETIME_MS)),
                1 => check_cache_headers(&mut input),
                2 => {
                    let b = ks_config_builder_new();
                    let which = input.byte() as usize;
                    let v = lifetime_value(&mut input);
                    set_lifetime(b, which, v);
                    ks_config_builder_free(b);
                }
                _ => {
                    // The application forging the engine's times: any answer but a panic.
                    let forged = match input.byte() % 3 {
                        0 => r#"{"created":9007199254740991,"active":9007199254740991}"#,
                        1 => r#"{"of":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#,
                        _ => r#"{"created":-1,"active":"x","old":{"a":1e300}}"#,
                    };
                    ok(ks_session_set_field(s, c"_ks".as_ptr(), forged.as_ptr().cast(), forged.len()));
                }
            },
            13 => {
                let mut buf = [0 as c_char; 64];
                let mut len = 0;
                let r = ks_last_error_message(buf.as_mut_ptr(), input.byte() as usize % 65, &mut len);
                assert!(matches!(r, ks_result::Ok | ks_result::InsufficientSize), "{r:?}");
                let _ = CStr::from_ptr(ks_result_message(input.byte() as u32));
            }
            14 => {
                // A loaded session handle used after the engine handle is gone keeps working.
                ks_engine_free(engine);
                engine = null_mut();
            }
            _ => match input.byte() % 8 {
                0 => {
                    let (mut p, mut len) = (null(), 0);
                    assert_eq!(ks_set_cookies_get(null(), 0, &mut p, &mut len), ks_result::NullParameter);
                    assert_eq!(ks_set_cookies_count(null()), 0);
                    ks_set_cookies_free(null_mut());
                    ks_session_free(null_mut());
                    assert_eq!(ks_user_sessions_count(null()), 0);
                    read_list(null(), None);
                    ks_user_sessions_free(null_mut());
                }
                1 => {
                    // Log out everywhere, with arguments right and wrong.
                    let (user, user_err) = user_id_choice(input.byte());
                    let except: Option<CString> = match input.byte() % 6 {
                        0..=2 => session_id(sessions[input.byte() as usize % 4]).map(|id| CString::new(id).unwrap()),
                        3 => Some(BAD_UTF8.to_owned()),
                        4 => Some(c"not-a-session".to_owned()),
                        _ => None,
                    };
                    let except_err = except.as_deref().is_some_and(|e| e.to_str().is_err()).then_some(ks_result::InvalidUtf8);
                    let mut count = u64::MAX;
                    let count_out: *mut u64 = if input.byte() % 8 == 0 { null_mut() } else { &mut count };
                    let r = ks_store_destroy_user_sessions(store, opt_ptr(&user), opt_ptr(&except), count_out);
                    let errors: Vec<ks_result> = [store.is_null().then_some(ks_result::NullParameter), count_out.is_null().then_some(ks_result::NullParameter), user_err, except_err]
                        .into_iter()
                        .flatten()
                        .collect();
                    if errors.is_empty() {
                        assert!(ok(r), "destroy_user_sessions: {r:?}");
                        assert_ne!(count, u64::MAX, "no count written");
                        let user = user.unwrap().into_string().unwrap();
                        let except = except.map(|e| e.into_string().unwrap());
                        // No session committed under the user (but `except`) loads again, now
                        // or after any later commit (a request of it in flight included).
                        for (sid, _) in acked.iter().filter(|(sid, u)| *u == user && Some(sid) != except.as_ref()) {
                            dead.push(sid.clone());
                        }
                        check_gone(engine, &dead, &cookie_name, sign);
                        // The user's listing holds `except` at most.
                        if let Some(path) = user_path {
                            let field = CString::new(path.join(".")).unwrap();
                            let user = CString::new(user).unwrap();
                            let mut list = null_mut();
                            assert!(ok(ks_store_user_sessions(store, field.as_ptr(), user.as_ptr(), &mut list)));
                            let items = read_list(list, now);
                            assert!(items.iter().all(|(id, _)| Some(id) == except.as_ref()), "a session outlived destroy_user_sessions");
                            ks_user_sessions_free(list);
                        }
                    } else {
                        assert!(errors.contains(&r), "destroy_user_sessions gave {r:?}, not one of {errors:?}");
                        assert_eq!(count, u64::MAX, "an out-parameter written on failure");
                    }
                }
                2 => {
                    // A listing (kept in a list slot, to be read and freed later).
                    let (field, field_want, path) = user_field_choice(input.byte());
                    let field_err = match field_want {
                        ks_result::Ok if field.is_none() => Some(ks_result::NullParameter),
                        ks_result::Ok => None,
                        e => Some(e),
                    };
                    let (user, user_err) = user_id_choice(input.byte());
                    let keep = input.byte() as usize % 2;
                    let out_null = input.byte() % 8 == 0;
                    let mut list = null_mut();
                    let list_out: *mut *mut ks_user_sessions = if out_null { null_mut() } else { &mut list };
                    let r = ks_store_user_sessions(store, opt_ptr(&field), opt_ptr(&user), list_out);
                    let errors: Vec<ks_result> = [store.is_null().then_some(ks_result::NullParameter), out_null.then_some(ks_result::NullParameter), field_err, user_err]
                        .into_iter()
                        .flatten()
                        .collect();
                    if errors.is_empty() {
                        assert!(ok(r) && !list.is_null(), "user_sessions: {r:?}");
                        let user = user.unwrap().into_string().unwrap();
                        let path = path.unwrap();
                        let items = read_list(list, now);
                        let mut ids: Vec<&String> = items.iter().map(|(id, _)| id).collect();
                        ids.sort();
                        ids.dedup();
                        assert_eq!(ids.len(), items.len(), "a session listed twice");
                        for (_, json) in &items {
                            assert_eq!(record_user(json, path), Ok(Some(user.clone())), "a listed session that does not name the user");
                        }
                        ks_user_sessions_free(lists[keep]);
                        lists[keep] = list;
                    } else {
                        assert!(errors.contains(&r), "user_sessions gave {r:?}, not one of {errors:?}");
                        assert!(list.is_null(), "an out-parameter written on failure");
                    }
                }
                3 => {
                    let i = input.byte() as usize % 2;
                    ks_user_sessions_free(lists[i]);
                    lists[i] = null_mut();
                }
                4 => {
                    // The store handle goes; engines keep their own reference.
                    ks_store_free(store);
                    store = null_mut();
                }
                5 => {
                    // Log a user in (or out): the user field set to a value right or wrong.
                    let v = user_value(input.byte());
                    let (key, value) = match user_path {
                        Some([outer, _]) if input.bool() => (CString::new(*outer).unwrap(), r#""not an object""#.to_owned()),
                        Some([outer, inner]) => (CString::new(*outer).unwrap(), format!(r#"{{"{inner}":{v}}}"#)),
                        _ => (c"user".to_owned(), v),
                    };
                    let r = ks_session_set_field(s, key.as_ptr(), value.as_ptr().cast(), value.len());
                    if !s.is_null() && !finished[slot] && !ks_session_is_destroyed(s) {
                        assert!(ok(r), "set_field {key:?} {value}: {r:?}");
                    }
                }
                6 => {
                    // A kept list read again: it outlives the store calls after it.
                    read_list(lists[input.byte() as usize % 2], now);
                }
                _ => {
                    // Set the option on a builder of its own, and drop it.
                    let (field, want, _) = user_field_choice(input.byte());
                    let b = ks_config_builder_new();
                    assert_eq!(ks_config_builder_set_user_field(b, opt_ptr(&field)), want);
                    ks_config_builder_free(b);
                }
            },
        }
    }
    for s in sessions {
        ks_session_free(s);
    }
    for l in lists {
        ks_user_sessions_free(l);
    }
    ks_engine_free(engine);
    ks_store_free(store);
    // Every handle that could read the clock is gone.
    drop(clock);
}
