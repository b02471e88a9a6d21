//! The proxy from the environment: `HTTPS_PROXY` (or `https_proxy`, `ALL_PROXY`)
//! carries the auth API and the socket through the proxy, and `NO_PROXY` bypasses it.
//! One test in its own binary, because it changes process-wide environment variables
//! between steps and nothing else may read them meanwhile.

mod common;

use std::time::Duration;

use common::pki::{tempdir, Ca};
use common::proxy::TestProxy;
use common::*;
use kith_core::{MemoryStore, SessionEvent};

const VARS: [&str; 8] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

#[tokio::test]
async fn environment_proxies_are_used_and_no_proxy_bypasses_them() {
    for var in VARS {
        std::env::remove_var(var);
    }
    let dir = tempdir();
    let ca = Ca::new(dir.path(), "env-proxy");
    let mut config = config_with_ttl(Duration::from_secs(60));
    config.tls = Some(ca.good_cert(dir.path(), "server"));
    let (server, admin) = start_server(config).await;
    let target = format!("127.0.0.1:{}", server.addr().port());
    let proxy = TestProxy::start(Some("env:pw")).await;
    let mut profile = fast_profile(&server);
    profile.tls.ca_file = Some(ca.pem_file.clone());

    let connects = |name: &str, value: String| {
        for var in VARS {
            std::env::remove_var(var);
        }
        std::env::set_var(name, value);
    };
    for (step, var) in ["HTTPS_PROXY", "https_proxy", "all_proxy"]
        .into_iter()
        .enumerate()
    {
        connects(var, proxy.url(Some("env:pw")));
        let before = proxy.connects_to(&target);
        let (session, mut log) = login(profile.clone(), &MemoryStore::new()).await;
        log.wait_for("the first snapshot", Duration::from_secs(5), |e| {
            matches!(e, SessionEvent::Resynced { .. })
        })
        .await;
        assert!(
            proxy.connects_to(&target) >= before + 2,
            "{var}: the auth API and the socket tunnel through the proxy: {:?}",
            proxy.log()
        );
        assert_eq!(admin.counters().connects_accepted, step as u64 + 1);
        session.stop().await;
    }

    // NO_PROXY names the server: straight there, the proxy sees nothing.
    std::env::set_var("NO_PROXY", "localhost,127.0.0.1");
    let seen = proxy.log().len();
    let (session, mut log) = login(profile.clone(), &MemoryStore::new()).await;
    log.wait_for("the first snapshot, direct", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::Resynced { .. })
    })
    .await;
    assert_eq!(
        proxy.log().len(),
        seen,
        "NO_PROXY bypasses: {:?}",
        proxy.log()
    );
    session.stop().await;

    // The profile's proxy wins over the environment's.
    std::env::remove_var("NO_PROXY");
    connects("HTTPS_PROXY", "http://127.0.0.1:9".into());
    let mut explicit = profile.clone();
    explicit.proxy = Some(kith_core::ProxyUrl::parse(&proxy.url(Some("env:pw"))).unwrap());
    let before = proxy.connects_to(&target);
    let (session, mut log) = login(explicit, &MemoryStore::new()).await;
    log.wait_for_state("connected", Duration::from_secs(5))
        .await;
    assert!(proxy.connects_to(&target) >= before + 2);
    session.stop().await;
    for var in VARS {
        std::env::remove_var(var);
    }
    proxy.stop();
    server.shutdown().await;
}
