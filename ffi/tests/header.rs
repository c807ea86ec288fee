//! The checked-in include/koa_session.h must be exactly what cbindgen generates from this
//! crate. `KS_UPDATE_HEADER=1 cargo test -p koa-session-ffi --test header` (or `make header`)
//! rewrites it.

use std::path::Path;

#[test]
fn checked_in_header_matches_a_fresh_generation() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("read cbindgen.toml");
    let bindings = cbindgen::Builder::new().with_crate(crate_dir).with_config(config).generate().expect("cbindgen generates the header");
    let mut fresh = Vec::new();
    bindings.write(&mut fresh);

    let header = crate_dir.join("../include/koa_session.h");
    if std::env::var_os("KS_UPDATE_HEADER").is_some() {
        std::fs::write(&header, &fresh).expect("write include/koa_session.h");
        return;
    }
    let checked_in = std::fs::read(&header).unwrap_or_default();
    if checked_in != fresh {
        let first_diff = checked_in.iter().zip(&fresh).position(|(a, b)| a != b).unwrap_or(checked_in.len().min(fresh.len()));
        let line = fresh[..first_diff].iter().filter(|&&b| b == b'\n').count() + 1;
        panic!("include/koa_session.h differs from a fresh cbindgen generation (first at line {line}); run `make header` and commit it");
    }
}
