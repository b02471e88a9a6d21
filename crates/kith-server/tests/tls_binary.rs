//! `kith-server --tls-cert FILE --tls-key FILE` serves HTTPS: the binary announces an
//! `https://` address, a client trusting the test's throwaway certificate gets an
//! answer from the auth API, and a key that does not exist is a clear startup error.
//! The certificate is made here with rcgen; no key is committed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

fn self_signed(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = rcgen::KeyPair::generate().expect("key");
    let params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("params");
    let cert = params.self_signed(&key).expect("cert");
    let (cert_file, key_file) = (dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&cert_file, cert.pem()).expect("write cert");
    std::fs::write(&key_file, key.serialize_pem()).expect("write key");
    (cert_file, key_file)
}

#[tokio::test]
async fn the_binary_serves_https_with_tls_cert_and_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert_file, key_file) = self_signed(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_kith-server"))
        .args(["--bind", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert_file)
        .arg("--tls-key")
        .arg(&key_file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kith-server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    let url = line
        .trim()
        .strip_prefix("kith-server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&cert_file).expect("read cert") {
        roots.add(cert.expect("cert")).expect("add root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let response = client
        .post(format!("{url}/api/auth/login/"))
        .json(&serde_json::json!({"username": "nobody", "password": "x"}))
        .send()
        .await
        .expect("an answer over https");
    assert_eq!(response.status().as_u16(), 401);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_missing_key_file_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert_file, _) = self_signed(dir.path());
    let output = Command::new(env!("CARGO_BIN_EXE_kith-server"))
        .args(["--bind", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert_file)
        .arg("--tls-key")
        .arg(dir.path().join("missing.key"))
        .output()
        .expect("run kith-server");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("private key"), "{stderr}");
}
