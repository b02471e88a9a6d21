//! Proxy credentials never reach a log: a session through a proxy with Basic auth,
//! including refused reconnects, logged at trace level for every target (with the
//! per-layer filter the CLI and the app use), leaves neither the password nor its
//! Base64 form in the output. Its own test binary: it installs the global subscriber.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use common::pki::{tempdir, Ca};
use common::proxy::TestProxy;
use common::*;
use kith_core::proxy::ProxyUrl;
use kith_core::{MemoryStore, SessionEvent};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

const PASSWORD_OF_PROXY: &str = "logs-n3ver-see-this";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn trace_logs_of_a_proxied_session_hold_no_proxy_credentials() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .with_filter(tracing_subscriber::filter::LevelFilter::TRACE)
                .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                    kith_core::secret::log_allowed(meta.target(), meta.level())
                })),
        )
        .init();

    let dir = tempdir();
    let ca = Ca::new(dir.path(), "logs");
    let mut config = config_with_ttl(Duration::from_secs(60));
    config.tls = Some(ca.good_cert(dir.path(), "server"));
    let (server, _admin) = start_server(config).await;
    let credentials = format!("kith:{PASSWORD_OF_PROXY}");
    let proxy = TestProxy::start(Some(&credentials)).await;
    let mut profile = fast_profile(&server);
    profile.tls.ca_file = Some(ca.pem_file.clone());
    profile.proxy = Some(ProxyUrl::parse(&proxy.url(Some(&credentials))).unwrap());
    tracing::info!(?profile, "the profile, as Debug");

    let (session, mut log) = login(profile, &MemoryStore::new()).await;
    log.wait_for_state("connected", Duration::from_secs(5))
        .await;
    proxy.set_credentials(Some("kith:other"));
    proxy.cut_tunnels();
    log.wait_for(
        "a refused reconnect",
        Duration::from_secs(10),
        |e| matches!(e, SessionEvent::State(c) if c.reason.code() == "proxy_auth_required"),
    )
    .await;
    session.stop().await;
    proxy.stop();
    server.shutdown().await;

    let text = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(text.contains("opening socket"), "the capture works: {text}");
    assert!(text.contains("127.0.0.1"), "{text}");
    let encoded = base64::engine::general_purpose::STANDARD.encode(&credentials);
    for secret in [PASSWORD_OF_PROXY, encoded.as_str()] {
        assert!(!text.contains(secret), "{secret} in the logs");
    }
}
