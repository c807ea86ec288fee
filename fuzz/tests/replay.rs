//! Replays every checked-in input of every fuzz target (fuzz/corpus/<target>/* and the crash
//! regressions in fuzz/regressions/<target>/*) through the same invariant checks the fuzzer
//! runs, without the fuzzing engine: part of `make test`, a few seconds.

use std::path::Path;

#[test]
fn replay_corpora_and_regressions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut total = 0;
    for (target, run) in koa_session_fuzz::TARGETS {
        let mut count = 0;
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else { continue };
            let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
            paths.sort();
            for path in paths {
                let data = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| run(&data));
                assert!(outcome.is_ok(), "{target}: {} fails its invariants", path.display());
                count += 1;
            }
        }
        assert!(count > 0, "{target} has no corpus");
        println!("{target}: {count} inputs replayed");
        total += count;
    }
    println!("{total} inputs replayed");
}
