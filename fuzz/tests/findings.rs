//! Engine findings of the fuzz targets that are not fixed yet (fuzz/findings/<target>/*, made
//! by seeds/make_seeds.py and described there and in README.md): each input breaks one of its
//! target's invariants on today's engine. Ignored, so `make test` passes; run them with
//! `cargo test --test findings -- --ignored` (each fails until its engine bug is fixed; then
//! move the input to regressions/<target>/, where `make test` keeps replaying it).

use std::path::Path;

#[allow(dead_code)] // until the next finding
fn replay(target: &str, name: &str) {
    let (_, run) = koa_session_fuzz::TARGETS.iter().find(|(t, _)| *t == target).expect("a target");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("findings").join(target).join(name);
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    run(&data);
}

// None open: the last one (graced-cookie-after-logout) is fixed and replayed from regressions/.
