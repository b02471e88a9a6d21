//! `SSL_CERT_DIR` names a directory of trusted certificates, as OpenSSL does: a private
//! CA placed there is trusted with no `tls.ca_file`. Its own test binary, because it
//! sets a process-wide environment variable before any client is built.

mod common;

use std::time::Duration;

use common::pki::{tempdir, Ca};
use common::*;
use kith_core::{MemoryStore, SessionEvent};

#[tokio::test]
async fn ssl_cert_dir_is_the_trust_store_when_set() {
    let dir = tempdir();
    let ca = Ca::new(dir.path(), "env-dir");
    let trusted = dir.path().join("trusted");
    std::fs::create_dir(&trusted).unwrap();
    std::fs::copy(&ca.pem_file, trusted.join("private-ca.pem")).unwrap();
    let mut config = config_with_ttl(Duration::from_secs(60));
    config.tls = Some(ca.good_cert(dir.path(), "server"));
    let (server, admin) = start_server(config).await;
    // The only test in this binary: nothing else reads the environment meanwhile.
    std::env::remove_var("SSL_CERT_FILE");
    std::env::set_var("SSL_CERT_DIR", &trusted);
    let profile = fast_profile(&server);
    assert_eq!(profile.tls.ca_file, None);
    let (session, mut log) = login(profile, &MemoryStore::new()).await;
    log.wait_for("the first snapshot over wss", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::Resynced { .. })
    })
    .await;
    assert_eq!(admin.counters().connects_accepted, 1);
    session.stop().await;
    server.shutdown().await;
}
