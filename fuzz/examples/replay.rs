//! Replays one target's corpus and regressions, outside the test harness: what `make fuzz`
//! runs under valgrind to check the C API target frees everything it makes.
//! Usage: replay <target>

fn main() {
    let target = std::env::args().nth(1).expect("usage: replay <target>");
    let (_, run) = koa_session_fuzz::TARGETS.iter().find(|(t, _)| *t == target).expect("no such target");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(&target)) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() {
                run(&std::fs::read(&path).unwrap());
                count += 1;
            }
        }
    }
    // The C API's process-wide runtime, stopped so its threads' memory counts as freed.
    assert_eq!(koa_session::ks_runtime_shutdown(), koa_session::ks_result::Ok);
    println!("{target}: {count} inputs replayed");
}
