//! The checked-in include/koa_session.h must be exactly what cbindgen generates from this
//! crate, plus the version macros made from this crate's version. `KS_UPDATE_HEADER=1 cargo
//! test -p koa-session-ffi --test header` (or `make header`) rewrites it.

use std::path::Path;

/// `KS_VERSION_*` for the header, from ffi/Cargo.toml's version: C code can check at compile
/// time what it builds against, and compare `KS_VERSION_STRING` with `ks_version()` at run time.
fn version_macros() -> String {
    format!(
        "\n/* The version of this header (ffi/Cargo.toml); ks_version() gives the library's. */\n\
         #define KS_VERSION_MAJOR {}\n#define KS_VERSION_MINOR {}\n#define KS_VERSION_PATCH {}\n\
         #define KS_VERSION_STRING \"{}\"",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION"),
    )
}

#[test]
fn checked_in_header_matches_a_fresh_generation() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("read cbindgen.toml");
    config.after_includes = Some(version_macros());
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
