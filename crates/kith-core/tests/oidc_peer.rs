//! The browser sign-in (`token::oidc`) against a real OpenID provider: the peer in
//! tests/peers/oidc (node-oidc-provider 9, the certified implementation), started on
//! 127.0.0.1 with an ephemeral port, and its scripted browser `browser.js`, spawned
//! with the authorization URL as a system browser would be. HTTP goes through the
//! project's own client (`Network::http_client_builder`, no redirects).
//!
//! Each test checks the provider's side of the effect too: its counters, and
//! `/__test__/refresh-check` for whether a refresh token is still alive there.
//!
//! A wrong `state` ends the sign-in (fail closed) and closes the loopback port: the
//! real redirect that comes after it finds no listener, so its code is never
//! exchanged (it expires at the provider). The user starts the sign-in again.
//!
//! The peer needs its packages (`npm ci --prefix tests/peers/oidc`; `cargo xtask
//! test` does it), so these tests are `#[ignore]`d in a plain `cargo test`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use kith_core::protocol::ServerProfile;
use kith_core::token::oidc::{OidcClient, OidcError, OidcSettings, SocketToken};
use kith_core::token::AuthError;
use kith_core::{Network, Secret};
use serde_json::{json, Value};

const CLIENT_ID: &str = "kith-desktop";
const ACCESS_TTL_SECONDS: u64 = 60;

fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the crate sits in crates/ of the workspace")
        .join("tests/peers/oidc")
}

/// The provider, running until dropped.
struct Provider {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
    control: reqwest::Client,
}

impl Provider {
    fn start() -> Provider {
        Provider::start_with_ttl(ACCESS_TTL_SECONDS)
    }

    /// A provider whose access tokens live `ttl` seconds.
    fn start_with_ttl(ttl: u64) -> Provider {
        let dir = peer_dir();
        assert!(
            dir.join("node_modules").exists(),
            "the OIDC peer's packages are missing: run `npm ci --prefix tests/peers/oidc` (cargo xtask test does)"
        );
        let log = std::env::temp_dir().join(format!(
            "kith-oidc-peer-{}-{}.log",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let mut child = Command::new("node")
            .arg("server.js")
            .current_dir(&dir)
            .env("PORT", "0")
            .env("ACCESS_TTL_SECONDS", ttl.to_string())
            .env_remove("DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("peer log"))
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start node server.js: {error}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (ready, port) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line.strip_prefix("READY ") {
                    let _ = ready.send(port.trim().parse::<u16>().ok());
                }
            }
        });
        let port = match port.recv_timeout(Duration::from_secs(30)) {
            Ok(Some(port)) => port,
            _ => {
                let _ = child.kill();
                panic!(
                    "the OIDC peer did not print READY:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        Provider {
            child: Some(child),
            port,
            log,
            control: reqwest::Client::new(),
        }
    }

    fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn settings(&self) -> OidcSettings {
        let mut settings = OidcSettings::new(self.issuer(), CLIENT_ID);
        settings.browser_timeout = Duration::from_secs(60);
        settings
    }

    async fn client(&self) -> OidcClient {
        self.client_with(self.settings()).await
    }

    async fn client_with(&self, settings: OidcSettings) -> OidcClient {
        OidcClient::discover(settings, http())
            .await
            .unwrap_or_else(|error| panic!("discovery: {error}\n{}", self.log_tail()))
    }

    async fn control(&self, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/__test__/{path}", self.issuer());
        let request = match body {
            Some(body) => self.control.post(url).json(&body),
            None => self.control.get(url),
        };
        let response = request
            .header("X-Test-Control", "kith")
            .send()
            .await
            .expect("the control API answers");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.expect("control JSON")
    }

    async fn counters(&self) -> Value {
        self.control("counters", None).await
    }

    /// Whether the provider still takes `refresh` (its own `RefreshToken.find`).
    async fn refresh_active(&self, refresh: &Secret) -> bool {
        let check = self
            .control(
                "refresh-check",
                Some(json!({"refresh_token": refresh.expose()})),
            )
            .await;
        check["active"].as_bool().expect("active is a boolean")
    }

    fn signal(&self, signal: i32) {
        let child = self.child.as_ref().expect("the peer runs");
        // SAFETY: a signal to our own child process.
        unsafe {
            libc::kill(child.id() as i32, signal);
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The project's HTTP client: its rustls configuration and proxy rules, no redirects.
fn http() -> reqwest::Client {
    Network::for_profile(&ServerProfile::default())
        .expect("network")
        .http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

/// What the scripted browser did: its exit code and its stdout (`STATUS <code>`, then
/// the callback's page).
struct BrowserRun {
    code: Option<i32>,
    stdout: String,
    /// Its trace of each request, the callback URL (code and all) included.
    stderr: String,
}

/// Runs `browser.js <url> <args…>` the way a system browser is opened.
fn open_browser(url: &url::Url, args: &[&str]) -> tokio::task::JoinHandle<BrowserRun> {
    let mut command = Command::new("node");
    command
        .arg(peer_dir().join("browser.js"))
        .arg(url.as_str())
        .args(args)
        .env_remove("KITH_TEST_BROWSER_USERNAME")
        .env_remove("KITH_TEST_BROWSER_PASSWORD")
        .env_remove("KITH_TEST_BROWSER_DENY")
        .env_remove("KITH_TEST_BROWSER_JAR")
        .stdin(Stdio::null());
    tokio::task::spawn_blocking(move || {
        let output = command.output().expect("node browser.js runs");
        BrowserRun {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
}

fn jwt_claims(token: &Secret) -> Value {
    let payload = token.expose().split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// A whole sign-in as `username`, returning the grant.
async fn sign_in(client: &OidcClient, username: &str) -> kith_core::token::oidc::OidcGrant {
    let pending = client
        .begin_browser_sign_in()
        .await
        .expect("sign-in starts");
    let browser = open_browser(pending.authorization_url(), &["--username", username]);
    let grant = pending
        .finish(std::future::pending())
        .await
        .unwrap_or_else(|error| panic!("sign-in as {username}: {error}"));
    let run = browser.await.expect("browser task");
    assert_eq!(run.code, Some(0), "browser.js: {}", run.stdout);
    grant
}

async fn port_is_closed(redirect_uri: &str) -> bool {
    let port: u16 = url::Url::parse(redirect_uri)
        .ok()
        .and_then(|u| u.port())
        .expect("a port");
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
}

#[tokio::test]
#[ignore = "needs the peers' packages; run by cargo xtask test"]
async fn signs_in_through_the_browser() {
    let provider = Provider::start();
    let client = provider.client().await;
    assert_eq!(client.provider().issuer, provider.issuer());
    assert!(client.can_revoke());

    let pending = client
        .begin_browser_sign_in()
        .await
        .expect("sign-in starts");
    let redirect_uri = pending.redirect_uri().to_string();
    let url = pending.authorization_url().clone();
    // What a browser does around the real redirect: an idle speculative connection,
    // and a request for the icon. Neither holds up or ends the sign-in.
    let port: u16 = url::Url::parse(&redirect_uri).unwrap().port().unwrap();
    let _idle = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the loopback listener accepts");
    let finishing = tokio::spawn(pending.finish(std::future::pending()));
    let favicon = http()
        .get(format!("http://127.0.0.1:{port}/favicon.ico"))
        .send()
        .await
        .expect("the listener answers");
    assert_eq!(favicon.status(), 404);

    let run = open_browser(&url, &[]).await.expect("browser task");
    let grant = finishing
        .await
        .expect("finish task")
        .unwrap_or_else(|error| panic!("sign-in: {error}\n{}", provider.log_tail()));
    assert_eq!(run.code, Some(0), "browser.js: {}", run.stdout);
    assert!(run.stdout.starts_with("STATUS 200"), "{}", run.stdout);
    assert!(
        run.stdout.contains("You can close this tab"),
        "{}",
        run.stdout
    );

    // The tokens: a presence access token, an ID token for Kith, a refresh token.
    let access = jwt_claims(&grant.access);
    assert_eq!(access["aud"], "urn:kith:presence");
    assert_eq!(access["iss"], provider.issuer());
    assert_eq!(access["sub"], "1");
    assert_eq!(grant.socket_token, grant.access);
    let id = jwt_claims(grant.id_token.as_ref().expect("an ID token"));
    assert_eq!(id["aud"], CLIENT_ID);
    let user = grant.user.as_ref().expect("the user");
    assert_eq!((user.subject.as_str(), user.username()), ("1", "me"));
    assert_eq!(
        grant.expires_in,
        Some(Duration::from_secs(ACCESS_TTL_SECONDS))
    );
    assert!(grant.server_date.is_some());
    assert!(
        grant
            .scope
            .as_deref()
            .unwrap_or("")
            .contains("offline_access"),
        "prompt=consent keeps offline_access: {:?}",
        grant.scope
    );
    let refresh = grant.refresh.clone().expect("a refresh token");
    assert!(provider.refresh_active(&refresh).await);

    // Nothing secret in Debug.
    let debug = format!("{grant:?}");
    for secret in [&grant.access, &refresh, grant.id_token.as_ref().unwrap()] {
        assert!(!debug.contains(secret.expose()), "{debug}");
    }

    // One code per sign-in: the port is closed now.
    assert!(port_is_closed(&redirect_uri).await);
    let counters = provider.counters().await;
    assert_eq!(counters["code_exchanges"], 1, "{counters}");
    assert_eq!(counters["token_errors"], 0, "{counters}");
}

#[tokio::test]
#[ignore = "needs the peers' packages; run by cargo xtask test"]
async fn the_socket_can_be_given_the_id_token() {
    let provider = Provider::start();
    let mut settings = provider.settings();
    settings.socket_token = SocketToken::IdToken;
    let client = provider.client_with(settings).await;
    let grant = sign_in(&client, "me").await;
    assert_eq!(Some(&grant.socket_token), grant.id_token.as_ref());
    // A refresh brings a new ID token (its nonce is not compared: not kept).
    let refreshed = client
        .refresh(grant.refresh.as_ref().unwrap())
        .await
        .expect("refresh");
    assert_eq!(Some(&refreshed.socket_token), refreshed.id_token.as_ref());
    assert_eq!(jwt_claims(&refreshed.socket_token)["aud"], CLIENT_ID);
}

#[tokio::test]
#[ignore = "needs the peers' packages; run by cargo xtask test"]
async fn a_wrong_state_is_refused_and_ends_the_sign_in() {
    let provider = Provider::start();
    let client = provider.client().await;
    let pending = client
        .begin_browser_sign_in()
        .await
        .expect("sign-in starts");
    let redirect_uri = pending.redirect_uri().to_string();
    let url = pending.authorization_url().clone();
    let finishing = tokio::spawn(pending.finish(std::future::pending()));

    let forged = http()
        .get(format!(
            "{redirect_uri}?code=forged-code&state=not-the-state"
        ))
        .send()
        .await
        .expect("the listener answers");
    assert_eq!(forged.status(), 400);
    let page = forged.text().await.unwrap();
    assert!(page.contains("refused"), "{page}");
    assert!(!page.contains("forged-code"), "{page}");
    let error = finishing.await.expect("finish task").unwrap_err();
    assert_eq!(error, OidcError::StateMismatch);
    assert!(matches!(AuthError::from(error), AuthError::BadResponse(_)));

    // The real redirect comes later and finds the port closed: its code is never
    // exchanged.
    assert!(port_is_closed(&redirect_uri).await);
    let run = open_browser(&url, &[]).await.expect("browser task");
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(run.stdout.starts_with("STATUS 0"), "{}", run.stdout);
    let counters = provider.counters().await;
    assert_eq!(counters["authorization_codes"], 1, "{counters}");
    assert_eq!(
        counters["token_requests"]["authorization_code"], 0,
        "{counters}"
    );
}

#[tokio::test]
#[ignore = "needs the peers' packages; run by cargo xtask test"]
async fn a_sign_in_can_be_cancelled() {
    let provider = Provider::start();
    let client = provider.client().await;
    let pending = client
        .begin_browser_sign_in()
        .await
        .expect("sign-in starts");
    let redirect_uri = pending.redirect_uri().to_string();
    let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
    let finishing = tokio::spawn(pending.finish(async {
        let _ = cancelled.await;
    }));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!finishing.is_finished(), "it waits for the browser");
    cancel.send(()).unwrap();
    let error = tokio::time::timeout(Duration::from_secs(5), finishing)
        .await
        .expect("cancelled promptly")
        .expect("finish task")
        .unwrap_err();
    assert_eq!(error, OidcError::Cancelled);
    assert!(port_is_closed(&redirect_uri).await);
}

#[tokio::test]
#[ignore = "needs the peers' packages; run by cargo xtask test"]
async fn a_browser_that_never_comes_back_times_out() {
    let provider = Provider::start();
    let mut settings = provider.settings();
    settings.browser_timeout = Duration::from_millis(300);
    let client = provider.client_with(settings).await;
    let pending = client
        .begin_browser_sign_in()
        .await
        .expect("sign-in starts");
    let redirect_uri = pending.redirect_uri().to_string();
    let started = std::time::Instant::now();
    let error = pending.finish(std::future::pending()).await.unwrap_err();
    assert_eq!(
        error,
        OidcError::BrowserTimeout {
            waited: Duration::from_millis(300)
        }
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(AuthError::from(error).is_transient());
    assert!(port_is_closed(&redirect_uri).await);
}

#[tokio::test]
#[ignore = "needs the peers' packages; run by cargo xtask test"]
async fn denied_in_the_browser() {
    let provider = Provider::start();
    let client = provider.client().await;
    let pending = client
        .begin_browser_sign_in()
        .await
        .expect("sign-in starts");
    let browser = open_browser(pending.authorization_url(), &["--deny"]);
    let error = pending.finish(std::future::pending()).await.unwrap_err();
    assert!(
        matches!(&error, OidcError::Denied { description } if description.contains("aborted")),
        "{error:?}"
    );
    assert!(matches!(
        AuthError::from(error),
        AuthError::Rejected { status: 403, .. }
    ));
    let run = browser.await.expect("browser task");
    assert_eq!(run.code, Some(1), "the tab shows a failure: {}", run.stdout);
    assert!(run.stdout.contains("denied"), "{}", run.stdout);
    let counters = provider.counters().await;
    assert_eq!(counters["denials"], 1, "{counters}");
    assert_eq!(
        counters["token_requests"]["authorization_code"], 0,
        "{counters}"
    );
}

#[tokio::test]
#[ignore = "needs the peers' packages; run by cargo xtask test"]
async fn refresh_rotates_and_a_rotated_token_is_the_confirmed_rejection() {
    let provider = Provider::start();
    let client = provider.client().await;
    let grant = sign_in(&client, "me").await;
    let first = grant.refresh.expect("a refresh token");

    let once = client.refresh(&first).await.expect("first refresh");
    let second = once.refresh.clone().expect("rotated");
    assert_ne!(second, first);
    assert_eq!(once.user.as_ref().map(|u| u.subject.as_str()), Some("1"));
    assert_eq!(jwt_claims(&once.access)["sub"], "1");
    let twice = client.refresh(&second).await.expect("second refresh");
    let third = twice.refresh.clone().expect("rotated again");
    assert!(third != second && third != first);
    assert!(!provider.refresh_active(&first).await);
    assert!(provider.refresh_active(&third).await);

    // The rotated token again: the confirmed rejection that ends a session.
    let error = client.refresh(&second).await.unwrap_err();
    assert!(error.is_confirmed_rejection(), "{error:?}");
    assert!(matches!(
        AuthError::from(error),
        AuthError::Rejected { status: 400, .. }
    ));
    // Reuse revoked the whole sign-in, the newest token included.
    assert!(!provider.refresh_active(&third).await);
    assert!(client
        .refresh(&third)
        .await
        .unwrap_err()
        .is_confirmed_rejection());
    let counters = provider.counters().await;
    assert_eq!(counters["refreshes"], 2, "{counters}");
    assert_eq!(counters["refresh_reuse"], 1, "{counters}");
}

#[tokio::test]
#[ignore = "needs the peers' packages; run by cargo xtask test"]
async fn revocation_ends_the_grant_at_the_provider() {
    let provider = Provider::start();
    let client = provider.client().await;
    let grant = sign_in(&client, "me").await;
    let refresh = grant.refresh.expect("a refresh token");
    assert!(provider.refresh_active(&refresh).await);

    client.revoke(&refresh).await.expect("revoked");
    assert!(!provider.refresh_active(&refresh).await);
    assert!(client
        .refresh(&refresh)
        .await
        .unwrap_err()
        .is_confirmed_rejection());
    // RFC 7009: an unknown token is fine too.
    client
        .revoke(&Secret::new("not-a-refresh-token"))
        .await
        .expect("unknown tokens are ignored");
    assert_eq!(provider.counters().await["revocations"], 2);
}

#[tokio::test]
#[ignore = "needs the peers' packages; run by cargo xtask test"]
async fn revoking_the_user_makes_the_next_refresh_the_confirmed_rejection() {
    let provider = Provider::start();
    let client = provider.client().await;
    let grant = sign_in(&client, "alice").await;
    assert_eq!(grant.user.as_ref().map(|u| u.username()), Some("alice"));
    let refresh = grant.refresh.expect("a refresh token");
    let revoked = provider
        .control("revoke-user", Some(json!({"username": "alice"})))
        .await;
    assert_eq!(revoked["grants"], 1, "{revoked}");
    let error = client.refresh(&refresh).await.unwrap_err();
    assert!(error.is_confirmed_rejection(), "{error:?}");
}

#[tokio::test]
#[ignore = "needs the peers' packages; run by cargo xtask test"]
async fn a_hung_or_stopped_provider_is_transient() {
    let mut provider = Provider::start();
    let mut settings = provider.settings();
    settings.request_timeout = Duration::from_secs(1);
    let client = provider.client_with(settings.clone()).await;
    let grant = sign_in(&client, "me").await;
    let refresh = grant.refresh.expect("a refresh token");

    // Hung (SIGSTOP): the request was sent and its answer never came. The provider may
    // act on it when it wakes, so the outcome is unknown, and never a rejection.
    provider.signal(libc::SIGSTOP);
    let hung = client.refresh(&refresh).await.unwrap_err();
    provider.signal(libc::SIGCONT);
    assert!(
        matches!(hung, OidcError::Http(AuthError::OutcomeUnknown { .. })),
        "{hung:?}"
    );
    assert!(hung.is_transient() && !hung.is_confirmed_rejection());

    // Stopped: nothing listens on the port.
    provider.stop();
    let stopped = client.refresh(&refresh).await.unwrap_err();
    assert!(
        matches!(stopped, OidcError::Http(AuthError::Transient { .. })),
        "{stopped:?}"
    );
    assert!(!stopped.is_confirmed_rejection());
    assert!(!stopped.to_string().contains(refresh.expose()));
    let discovery = OidcClient::discover(settings, http()).await.unwrap_err();
    assert!(discovery.is_transient(), "{discovery:?}");
    assert!(matches!(
        client.revoke(&refresh).await.unwrap_err(),
        OidcError::Http(AuthError::Transient { .. })
    ));
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
#[ignore = "needs the peers' packages; run by cargo xtask test"]
async fn trace_logs_hold_no_code_state_or_token() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;

    // Everything at TRACE, through the per-layer filter every Kith log output uses.
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .with_filter(tracing_subscriber::filter::LevelFilter::TRACE)
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                kith_core::secret::log_allowed(meta.target(), meta.level())
            })),
    );
    let _guard = tracing::subscriber::set_default(subscriber);

    let provider = Provider::start();
    let client = provider.client().await;
    // A forged callback first, then a real sign-in, a refresh and a revocation.
    let pending = client
        .begin_browser_sign_in()
        .await
        .expect("sign-in starts");
    let forged_at = format!(
        "{}?code=forged-code-n3ver-logged&state=forged-state-n3ver-logged",
        pending.redirect_uri()
    );
    let finishing = tokio::spawn(pending.finish(std::future::pending()));
    let _ = http().get(forged_at).send().await.expect("answered");
    assert_eq!(
        finishing.await.expect("finish task").unwrap_err(),
        OidcError::StateMismatch
    );

    let pending = client
        .begin_browser_sign_in()
        .await
        .expect("sign-in starts");
    let query: Vec<(String, String)> = pending
        .authorization_url()
        .query_pairs()
        .into_owned()
        .collect();
    let browser = open_browser(pending.authorization_url(), &[]);
    let grant = pending
        .finish(std::future::pending())
        .await
        .expect("signed in");
    let run = browser.await.expect("browser task");
    let callback = run
        .stderr
        .lines()
        .find_map(|line| line.strip_prefix("browser.js: callback "))
        .expect("browser.js traces the callback URL");
    let code = url::Url::parse(callback)
        .expect("the callback URL")
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, value)| value.into_owned())
        .expect("a code");
    let refresh = grant.refresh.clone().expect("a refresh token");
    let refreshed = client.refresh(&refresh).await.expect("refresh");
    let newest = refreshed.refresh.clone().expect("rotated");
    client.revoke(&newest).await.expect("revoked");
    assert!(client.refresh(&newest).await.is_err());

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("code=[redacted]"),
        "the callbacks are logged:\n{logs}"
    );
    let mut secrets = vec![
        code,
        "forged-code-n3ver-logged".to_string(),
        "forged-state-n3ver-logged".to_string(),
        grant.access.expose().to_string(),
        grant.id_token.as_ref().unwrap().expose().to_string(),
        refresh.expose().to_string(),
        refreshed.access.expose().to_string(),
        newest.expose().to_string(),
    ];
    for name in ["state", "nonce"] {
        secrets.extend(
            query
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.clone()),
        );
    }
    assert_eq!(secrets.len(), 10);
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret is in the logs:\n{logs}"
        );
    }
}

// ---- the browser sign-in as a Kith session --------------------------------------------

/// Waits for a session event that `pred` accepts, failing with what came instead.
async fn wait_event(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<kith_core::SessionEvent>,
    what: &str,
    pred: impl Fn(&kith_core::SessionEvent) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(event)) if pred(&event) => return,
            Ok(Some(event)) => seen.push(format!("{event:?}")),
            _ => panic!(
                "no {what}; seen: {:#?}",
                &seen[seen.len().saturating_sub(10)..]
            ),
        }
    }
}

fn presence_is(
    friend: &'static str,
    status: &'static str,
) -> impl Fn(&kith_core::SessionEvent) -> bool {
    move |e| {
        matches!(e, kith_core::SessionEvent::Presence(c)
            if c.username == friend && c.to.as_deref() == Some(status))
    }
}

/// `auth.kind = "oidc"` with the provider's presence socket (Bearer, JSON).
fn session_profile(provider: &Provider) -> ServerProfile {
    let mut profile = ServerProfile::simplejwt(provider.issuer());
    profile.auth.kind = kith_core::protocol::AuthKind::Oidc;
    profile.auth.oidc = Some(provider.settings());
    profile.socket.auth = vec![kith_core::WsAuthTransport::Bearer];
    profile.socket.ping_interval = Duration::from_secs(2);
    profile.socket.dead_grace = Duration::from_secs(2);
    profile.reconnect.base = Duration::from_millis(100);
    profile.reconnect.cap = Duration::from_secs(1);
    profile
}

/// Issue 18's browser scenarios end to end, as a Kith session against the real
/// provider and its presence socket, with 4 s access tokens: sign-in through the
/// browser, live presence across several refreshes (each one rotating the refresh
/// token), a restart that resumes from the stored refresh token, sign-out that
/// revokes it at the provider (checked there), and a refresh token the provider
/// revoked ending the session at the next refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the peers' packages; run by `cargo xtask test`"]
async fn a_browser_session_refreshes_resumes_and_signs_out_with_revocation() {
    use kith_core::{CredentialStore, MemoryStore, Session, SessionEvent};
    let provider = Provider::start_with_ttl(4);
    let profile = session_profile(&provider);
    let store = Arc::new(MemoryStore::new());
    let browser = Mutex::new(None);
    let (mut session, username) = Session::login_with_browser(
        profile.clone(),
        store.clone(),
        |url| *browser.lock().unwrap() = Some(open_browser(url, &["--username", "me"])),
        std::future::pending(),
    )
    .await
    .unwrap_or_else(|error| panic!("browser sign-in: {error}\n{}", provider.log_tail()));
    let run = browser
        .lock()
        .unwrap()
        .take()
        .expect("the browser was opened");
    assert_eq!(run.await.expect("browser").code, Some(0));
    assert_eq!(username, "me");
    let stored = store
        .load(&profile.account_key())
        .unwrap()
        .expect("the refresh token is stored");
    let mut events = session.take_events().expect("events");
    wait_event(
        &mut events,
        "connected",
        |e| matches!(e, SessionEvent::State(c) if c.to.name() == "connected"),
    )
    .await;
    provider
        .control(
            "status",
            Some(json!({"username": "alice", "status": "online"})),
        )
        .await;
    wait_event(&mut events, "alice online", presence_is("alice", "online")).await;

    // Three refreshes, each rotating the refresh token; presence carries on.
    for status in ["away", "online", "busy"] {
        wait_event(&mut events, "a refresh", |e| {
            matches!(e, SessionEvent::TokenRefreshed { .. })
        })
        .await;
        provider
            .control("status", Some(json!({"username": "bob", "status": status})))
            .await;
        wait_event(&mut events, "bob's change", presence_is("bob", status)).await;
    }
    let rotated = store
        .load(&profile.account_key())
        .unwrap()
        .expect("stored")
        .refresh;
    assert_ne!(
        rotated, stored.refresh,
        "the rotated refresh token is saved"
    );
    assert!(
        !provider.refresh_active(&stored.refresh).await,
        "the first one is spent"
    );
    session.stop().await;

    // A restart resumes from the stored refresh token, without the browser.
    let (mut session, _) = Session::resume(profile.clone(), store.clone())
        .await
        .expect("resumes");
    let mut events = session.take_events().expect("events");
    wait_event(
        &mut events,
        "connected again",
        |e| matches!(e, SessionEvent::State(c) if c.to.name() == "connected"),
    )
    .await;

    // Sign-out revokes the refresh token at the provider.
    let held = store
        .load(&profile.account_key())
        .unwrap()
        .expect("stored")
        .refresh;
    assert!(provider.refresh_active(&held).await);
    session.logout().await.expect("signed out");
    assert!(store.load(&profile.account_key()).unwrap().is_none());
    assert!(
        !provider.refresh_active(&held).await,
        "revoked at the provider"
    );

    // A refresh token the provider revoked ends the session at the next refresh,
    // and only then; the store is cleared.
    let store = Arc::new(MemoryStore::new());
    let browser = Mutex::new(None);
    let (mut session, _) = Session::login_with_browser(
        profile.clone(),
        store.clone(),
        |url| *browser.lock().unwrap() = Some(open_browser(url, &["--username", "me"])),
        std::future::pending(),
    )
    .await
    .expect("signs in again");
    let run = browser
        .lock()
        .unwrap()
        .take()
        .expect("the browser was opened");
    assert_eq!(run.await.expect("browser").code, Some(0));
    let mut events = session.take_events().expect("events");
    provider
        .control("revoke-user", Some(json!({"username": "me"})))
        .await;
    wait_event(&mut events, "the session ended", |e| {
        matches!(e, SessionEvent::SessionEnded { .. })
    })
    .await;
    assert!(store.load(&profile.account_key()).unwrap().is_none());
    session.stop().await;
}
