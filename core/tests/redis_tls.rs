//! rediss:// against a TLS redis-server started here, with a throwaway CA made by the
//! `openssl` command-line tool (scripts/install-deps.sh installs it).
#![cfg(feature = "redis")]

mod support;

use koa_session_core::store::conformance;
use koa_session_core::store::redis::{ConnectionState, RedisStore, RedisStoreOptions};
use koa_session_core::{Store, StoreErrorKind};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::redis_harness::{free_port, RedisServer, ServerOptions, TempDir};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl (install it)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA and a server certificate for 127.0.0.1 signed by it.
fn make_certs(dir: &Path) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(dir, &[&["req", "-x509"][..], &ec, &["-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=koa-session test CA"]].concat());
    openssl(dir, &[&["req"][..], &ec, &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]].concat());
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").unwrap();
    openssl(dir, &[
        "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt",
        "-days", "2", "-extfile", "ext.cnf",
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_private_ca() {
    let certs = TempDir::new("tls");
    make_certs(certs.path());
    let tls_port = free_port();
    let file = |name: &str| certs.path().join(name).display().to_string();
    let server = RedisServer::start(ServerOptions {
        extra_args: vec![
            "--tls-port".into(),
            tls_port.to_string(),
            "--tls-cert-file".into(),
            file("server.crt"),
            "--tls-key-file".into(),
            file("server.key"),
            "--tls-ca-cert-file".into(),
            file("ca.crt"),
            "--tls-auth-clients".into(),
            "no".into(),
        ],
        ..Default::default()
    });
    let url = format!("rediss://127.0.0.1:{tls_port}");
    let ca = std::fs::read(certs.path().join("ca.crt")).unwrap();

    let store = RedisStore::open(&url, RedisStoreOptions { tls_root_ca_pem: Some(ca), ..Default::default() }).unwrap();
    conformance::basic_crud(&store).await.unwrap();
    conformance::exact_bytes(&store).await.unwrap();
    store.set("tls", r#"{"over":"tls"}"#, Duration::from_secs(60)).await.unwrap();
    assert_eq!(server.cli(&["GET", "koa:sess:tls"]).trim(), r#"{"over":"tls"}"#);
    assert_eq!(store.state(), ConnectionState::Connected);

    // Without our CA the server's certificate is not trusted: an error, never plaintext.
    let untrusting = RedisStore::open(&url, RedisStoreOptions::default()).unwrap();
    let err = untrusting.get("tls").await.unwrap_err();
    assert!(matches!(err.kind, StoreErrorKind::Unavailable | StoreErrorKind::Backend), "{err:?}");
    assert!(err.message.to_lowercase().contains("certificate"), "{err}");
}
