//! The command flow end to end, in one process: the tray role's [`Shell`] behind its IPC
//! host on a real local socket, driven by an IPC client exactly as the window role's
//! Tauri commands drive it (`ui/ipc.js` → commands → [`TrayClient::request`]), against
//! the reference server on 127.0.0.1. What the page would hear is what these tests
//! listen to (the `kith://` events as the window role receives them), and what it
//! would ask for is `get_view`. The stand-ins: a memory credential store where the
//! tray role uses the OS keyring, and the [`Headless`] surface (no tray icon, no
//! notifications), which records what the tray would show.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kith_core::MemoryStore;
use kith_server::{AdminHandle, RunningServer};
use kith_shell::alert_change::AlertChange;
use kith_shell::host;
use kith_shell::ipc::client::{self, Inbound, TrayClient};
use kith_shell::ipc::socket::{self, Bound, Endpoint};
use kith_shell::ipc::{Reply, Request, Role};
use kith_shell::session_control::{self, CredentialStores, SignInRequest};
use kith_shell::settings::Settings;
use kith_shell::shell::{Headless, Shell};
use kith_shell::tray_view::{TrayIcon, TrayView};
use kith_shell::view::{
    EVENT_CONNECTION, EVENT_PRESENCE, EVENT_SESSION, EVENT_SETTINGS, EVENT_TIMELINE,
};
use kith_shell::windows::Windows;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;

const USER: &str = "me";
const PASSWORD: &str = "correct horse";
/// How long an expected event may take; far more than any of them needs.
const WAIT: Duration = Duration::from_secs(15);

/// The reference server with `me`, friends with `alice` (online) and `bob` (offline).
struct World {
    server: RunningServer,
    admin: AdminHandle,
}

impl World {
    async fn start() -> Self {
        let server = kith_server::spawn(kith_server::ServerConfig::in_process())
            .await
            .expect("the server starts");
        let admin = server.admin();
        admin.create_user(USER, PASSWORD).expect("create me");
        for friend in ["alice", "bob"] {
            admin.create_user(friend, "pw").expect("create a friend");
            admin.befriend(USER, friend).expect("befriend");
        }
        admin.set_status("alice", "online").expect("alice online");
        World { server, admin }
    }

    fn url(&self) -> String {
        self.server.http_url()
    }

    async fn shut_down(self) {
        self.server.shutdown().await;
    }
}

/// The tray role as `kith-tray` wires it, headless, with its settings in `dir` (Do not
/// disturb on) and sign-ins kept in `store`, listening on a socket in `dir`; and a
/// window connected to it over that socket, as the window role connects.
struct App {
    shell: Arc<Shell>,
    surface: Arc<Headless>,
    window: Arc<TrayClient>,
    _serving: tokio::task::JoinHandle<()>,
}

async fn app(dir: &Path, store: &MemoryStore) -> (App, Heard) {
    let settings_path = dir.join("settings.json");
    if !settings_path.exists() {
        let mut quiet = Settings::default();
        quiet.alerts.do_not_disturb = true;
        quiet.save(&settings_path).expect("settings saved");
    }
    let surface = Arc::new(Headless::default());
    let shell = Shell::new(
        settings_path,
        CredentialStores::memory(store.clone()),
        surface.clone(),
        Windows::new(None),
    );
    // A socket of its own for each start (the previous one's may still be closing).
    static STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let start = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let endpoint = Endpoint::in_dir(dir.join(format!("runtime-{start}")));
    let Ok(Bound::Listening(listener)) = socket::bind(&endpoint) else {
        panic!("the socket binds");
    };
    let serving = tokio::spawn(host::serve(listener, shell.clone()));
    let (window, inbound) = client::connect(&endpoint, Role::Window)
        .await
        .expect("the window connects");
    (
        App {
            shell,
            surface,
            window,
            _serving: serving,
        },
        Heard {
            rx: inbound,
            seen: Vec::new(),
        },
    )
}

impl App {
    /// Calls a command as the window role forwards it; its answer as the page gets it.
    async fn invoke(&self, request: Request) -> Result<Value, Value> {
        match self.window.request(request).await {
            Ok(Reply::Done) => Ok(Value::Null),
            Ok(Reply::View(view)) => Ok(serde_json::from_str(view.get()).expect("a JSON view")),
            Ok(Reply::Settings(settings)) => Ok(serde_json::to_value(settings).expect("JSON")),
            Ok(Reply::BrowserUrl(url)) => Ok(Value::String(url)),
            Err(text) => Err(Value::String(text)),
        }
    }

    async fn get_view(&self) -> Value {
        self.invoke(Request::GetView)
            .await
            .expect("get_view answers")
    }

    /// What the tray was last told to show (it is told of every change).
    fn tray_shown(&self) -> TrayView {
        let shown = self
            .surface
            .trays
            .lock()
            .expect("the surface's record")
            .last()
            .cloned()
            .expect("the tray was shown");
        assert_eq!(shown, self.shell.tray_view());
        shown
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self._serving.abort();
    }
}

fn sign_in(server: &str, password: &str) -> Request {
    // As ui/signin.js sends it, through the window role's command.
    let request: SignInRequest = serde_json::from_value(json!({
        "server": server,
        "backend": "django-simplejwt",
        "username": USER,
        "password": password,
        "allowInsecure": false,
    }))
    .expect("a sign-in request");
    Request::SignIn(request)
}

/// Signs out as the window does, and checks that the window hears of it and that the
/// view is signed out, idle and without friends.
async fn sign_out(app: &App, heard: &mut Heard) {
    heard.forget();
    app.invoke(Request::SignOut).await.expect("signed out");
    heard
        .wait_for("signed-out session", EVENT_SESSION, |s| {
            s["signed_in"] == false && s["reason"] == "logged_out"
        })
        .await;
    heard
        .wait_for("no friends", EVENT_PRESENCE, |p| {
            p["replace"] == true && p["friends"] == json!([])
        })
        .await;
    let shown = app.get_view().await;
    assert_eq!(shown["session"]["signed_in"], false, "{shown:#}");
    assert_eq!(shown["session"]["reason"], "logged_out");
    assert_eq!(shown["connection"]["state"], "idle");
    assert_eq!(shown["friends"], json!([]));
}

/// The friend called `name` in a list of friends as the window gets it.
fn friend<'a>(friends: &'a Value, name: &str) -> Option<&'a Value> {
    friends.as_array()?.iter().find(|f| f["username"] == name)
}

/// Every `kith://` event the window role receives, as the page would.
struct Heard {
    rx: UnboundedReceiver<Inbound>,
    seen: Vec<(String, Value)>,
}

impl Heard {
    /// Forgets what was heard so far: the next waits see only what comes after.
    fn forget(&mut self) {
        while self.rx.try_recv().is_ok() {}
        self.seen.clear();
    }

    async fn wait_for_connected(&mut self) -> Value {
        self.wait_for("connected", EVENT_CONNECTION, |c| c["state"] == "connected")
            .await
    }

    /// Waits for an `event` whose payload matches, unless one was heard already;
    /// panics with what was heard.
    async fn wait_for(
        &mut self,
        what: &str,
        event: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some((_, payload)) = self
            .seen
            .iter()
            .find(|(name, payload)| name == event && matches(payload))
        {
            return payload.clone();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.rx.recv()).await {
                Ok(Some(Inbound::Event {
                    event: name,
                    payload,
                })) => {
                    let payload: Value = serde_json::from_str(payload.get()).unwrap_or(Value::Null);
                    assert!(
                        [
                            EVENT_SESSION,
                            EVENT_CONNECTION,
                            EVENT_PRESENCE,
                            EVENT_SETTINGS,
                            EVENT_TIMELINE
                        ]
                        .contains(&name.as_str()),
                        "{name}"
                    );
                    let hit = name == event && matches(&payload);
                    self.seen.push((name, payload.clone()));
                    if hit {
                        return payload;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => panic!("no {what} within {WAIT:?}; heard: {:#?}", self.seen),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_through_the_commands_shows_the_friends_and_signing_out_revokes_the_session() {
    let world = World::start().await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = MemoryStore::new();
    let (app, mut heard) = app(dir.path(), &store).await;
    assert_eq!(app.get_view().await["session"]["signed_in"], false);

    // A wrong password is refused in words, and nothing changes.
    let wrong = "not-the-password-7731";
    let refused = app.invoke(sign_in(&world.url(), wrong)).await.unwrap_err();
    assert!(
        refused
            .as_str()
            .is_some_and(|text| text.contains("did not accept")),
        "{refused}"
    );
    assert!(!refused.to_string().contains(wrong), "{refused}");
    assert_eq!(app.get_view().await["session"]["signed_in"], false);
    assert!(store.saved_tokens().is_empty());

    app.invoke(sign_in(&world.url(), PASSWORD))
        .await
        .expect("signed in");
    heard
        .wait_for("signed-in session", EVENT_SESSION, |s| {
            s["signed_in"] == true && s["username"] == USER
        })
        .await;
    heard.wait_for_connected().await;
    heard
        .wait_for("alice online", EVENT_PRESENCE, |p| {
            friend(&p["friends"], "alice").is_some_and(|f| f["online"] == true)
        })
        .await;
    let shown = app.get_view().await;
    assert_eq!(shown["session"]["signed_in"], true, "{shown:#}");
    assert_eq!(shown["session"]["username"], USER);
    assert_eq!(shown["session"]["server"], world.url());
    assert_eq!(shown["session"]["demo"], false);
    assert_eq!(shown["connection"]["state"], "connected");
    let alice = friend(&shown["friends"], "alice").expect("alice is listed");
    assert_eq!(alice["online"], true);
    assert_eq!(alice["status"], "online");
    let bob = friend(&shown["friends"], "bob").expect("bob is listed");
    assert_eq!(bob["online"], false);
    // The server is remembered for the next start; the sign-in is kept in the store.
    assert_eq!(shown["settings"]["server"], world.url());
    let settings = Settings::load(&dir.path().join("settings.json"));
    assert_eq!(settings.server.as_deref(), Some(world.url().as_str()));
    let token = store
        .saved_tokens()
        .last()
        .cloned()
        .expect("the sign-in is stored");
    assert!(world.admin.refresh_token_is_valid(token.expose()));

    // A live change reaches the window as a change, and the view.
    world.admin.set_status("bob", "online").expect("bob online");
    heard
        .wait_for("bob online", EVENT_PRESENCE, |p| {
            p["replace"] == false
                && friend(&p["friends"], "bob").is_some_and(|f| f["online"] == true)
        })
        .await;
    let shown = app.get_view().await;
    assert_eq!(
        friend(&shown["friends"], "bob").expect("bob")["online"],
        true
    );

    sign_out(&app, &mut heard).await;
    // The server's side of it: the stored refresh token is revoked.
    assert!(!world.admin.refresh_token_is_valid(token.expose()));
    world.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_sign_in_is_resumed_at_the_next_start() {
    let world = World::start().await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = MemoryStore::new();
    {
        let (app, mut heard) = app(dir.path(), &store).await;
        app.invoke(sign_in(&world.url(), PASSWORD))
            .await
            .expect("signed in");
        heard.wait_for_connected().await;
        // As Quit does: the session stops, the stored sign-in stays.
        session_control::stop_running(&app.shell).await;
    }
    let (app, mut heard) = app(dir.path(), &store).await;
    session_control::resume_at_startup(&app.shell).await;
    heard.wait_for_connected().await;
    let shown = app.get_view().await;
    assert_eq!(shown["session"]["signed_in"], true, "{shown:#}");
    assert_eq!(shown["session"]["username"], USER);
    heard
        .wait_for("alice online", EVENT_PRESENCE, |p| {
            friend(&p["friends"], "alice").is_some_and(|f| f["online"] == true)
        })
        .await;
    sign_out(&app, &mut heard).await;
    world.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_signs_in_to_its_own_server_and_signs_out() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = MemoryStore::new();
    let (app, mut heard) = app(dir.path(), &store).await;
    app.invoke(Request::TryDemo).await.expect("the demo starts");
    heard
        .wait_for("demo session", EVENT_SESSION, |s| {
            s["signed_in"] == true && s["demo"] == true
        })
        .await;
    heard.wait_for_connected().await;
    heard
        .wait_for("demo friends", EVENT_PRESENCE, |p| {
            p["friends"].as_array().is_some_and(|f| !f.is_empty())
        })
        .await;
    let shown = app.get_view().await;
    assert_eq!(shown["session"]["username"], kith_server::DEMO_USER);
    assert!(
        shown["friends"].as_array().is_some_and(|f| !f.is_empty()),
        "{shown:#}"
    );
    // The demo keeps nothing: not in the store, not in the settings.
    assert!(store.saved_tokens().is_empty());
    assert_eq!(shown["settings"]["server"], Value::Null);
    sign_out(&app, &mut heard).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sign_in_that_stopped_a_running_session_shows_signed_out_without_its_friends() {
    let world = World::start().await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = MemoryStore::new();
    let (app, mut heard) = app(dir.path(), &store).await;
    app.invoke(sign_in(&world.url(), PASSWORD))
        .await
        .expect("signed in");
    heard.wait_for_connected().await;
    heard
        .wait_for("alice online", EVENT_PRESENCE, |p| {
            friend(&p["friends"], "alice").is_some_and(|f| f["online"] == true)
        })
        .await;
    let tray = app.tray_shown();
    assert_eq!(tray.icon, TrayIcon::Connected, "{tray:?}");
    assert_eq!(tray.online_friends, ["alice"]);

    // Signing in again stops the running session first; this sign-in is refused.
    heard.forget();
    let wrong = "not-the-password-4417";
    let refused = app.invoke(sign_in(&world.url(), wrong)).await.unwrap_err();
    assert!(
        refused
            .as_str()
            .is_some_and(|text| text.contains("did not accept")),
        "{refused}"
    );
    // The window hears that no one is signed in and that no friends are left.
    heard
        .wait_for("signed-out session", EVENT_SESSION, |s| {
            s["signed_in"] == false
        })
        .await;
    heard
        .wait_for("no friends", EVENT_PRESENCE, |p| {
            p["replace"] == true && p["friends"] == json!([])
        })
        .await;
    let shown = app.get_view().await;
    assert_eq!(shown["session"]["signed_in"], false, "{shown:#}");
    assert_eq!(shown["connection"]["state"], "idle");
    assert_eq!(shown["friends"], json!([]));
    let tray = app.tray_shown();
    assert_eq!(tray.icon, TrayIcon::SignedOut, "{tray:?}");
    assert_eq!(tray.tooltip, "Kith — not signed in");
    assert!(!tray.signed_in && !tray.can_reconnect, "{tray:?}");
    assert!(tray.online_friends.is_empty(), "{tray:?}");

    // The next sign-in works as the first did.
    app.invoke(sign_in(&world.url(), PASSWORD))
        .await
        .expect("signed in again");
    heard.wait_for_connected().await;
    sign_out(&app, &mut heard).await;
    world.shut_down().await;
}

// ---- signing in through the browser (OpenID Connect) ----------------------------------

/// The OpenID provider of tests/peers/oidc on 127.0.0.1, killed when dropped.
struct Provider(std::process::Child, u16);

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn oidc_peer_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the crate sits in crates/")
        .join("tests/peers/oidc")
}

fn start_provider() -> Provider {
    use std::io::BufRead;
    let mut child = std::process::Command::new("node")
        .arg("server.js")
        .current_dir(oidc_peer_dir())
        .env("PORT", "0")
        .env_remove("DATA_DIR")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("node runs the provider");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("READY");
    let port = line
        .trim()
        .strip_prefix("READY ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("not a READY line: {line:?}"));
    Provider(child, port)
}

/// A profile file for the provider, chosen as the window's dialog chooses one.
async fn choose_oidc_profile(app: &App, dir: &Path, provider: &Provider) {
    let issuer = format!("http://127.0.0.1:{}", provider.1);
    let path = dir.join("oidc.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"oidc\"\nserver = \"{issuer}\"\n[auth]\nkind = \"oidc\"\n[auth.oidc]\nissuer = \"{issuer}\"\nclient_id = \"kith-desktop\"\nbrowser_timeout = \"60s\"\n[socket]\nauth = [{{ kind = \"bearer\" }}]\n"
        ),
    )
    .expect("profile written");
    app.invoke(Request::ProfileChosen(path))
        .await
        .expect("the profile is chosen");
}

fn begin_browser() -> Request {
    // As ui/signin.js sends it, through the window role's command.
    Request::BeginBrowserSignIn(
        serde_json::from_value(json!({"server": null, "backend": "file", "allowInsecure": false}))
            .expect("a browser sign-in request"),
    )
}

/// "Sign in with browser" as the window role runs it: the tray role gives the address,
/// the browser (the provider's scripted one, following its real login and consent
/// pages) comes back to the loopback redirect, and the window hears the signed-in
/// session and the connection; then a second sign-in is cancelled, and the first
/// session carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the OIDC peer's packages; run by `cargo xtask test`"]
async fn signing_in_through_the_browser_and_cancelling_one() {
    let provider = start_provider();
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = MemoryStore::new();
    let (app, mut heard) = app(dir.path(), &store).await;
    choose_oidc_profile(&app, dir.path(), &provider).await;

    let url = app
        .invoke(begin_browser())
        .await
        .expect("an address to open");
    let url = url.as_str().expect("a URL").to_owned();
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{}/auth?", provider.1)),
        "{url}"
    );
    let browser = std::process::Command::new("node")
        .arg(oidc_peer_dir().join("browser.js"))
        .arg(&url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the browser runs");
    app.invoke(Request::FinishBrowserSignIn)
        .await
        .expect("signed in through the browser");
    heard
        .wait_for("signed in", EVENT_SESSION, |s| {
            s["signed_in"] == true && s["username"] == "me"
        })
        .await;
    heard.wait_for_connected().await;
    let mut browser = browser;
    assert!(browser.wait().expect("the browser ends").success());
    assert_eq!(store.saved_tokens().len(), 1, "the refresh token is kept");

    // A second sign-in, cancelled while it waits for the browser.
    app.invoke(begin_browser()).await.expect("an address");
    app.invoke(Request::CancelBrowserSignIn)
        .await
        .expect("cancelled");
    let outcome = app.invoke(Request::FinishBrowserSignIn).await;
    let said = outcome.expect_err("a cancelled sign-in fails");
    assert!(
        said.as_str()
            .is_some_and(|s| s.to_lowercase().contains("cancel")),
        "{said}"
    );
    let shown = app.get_view().await;
    assert_eq!(
        shown["session"]["signed_in"], true,
        "the first session carries on"
    );

    // A password backend refuses the browser, saying why.
    let refused = app
        .invoke(Request::BeginBrowserSignIn(
            serde_json::from_value(
                json!({"server": "http://127.0.0.1:9", "backend": "django-simplejwt"}),
            )
            .expect("a request"),
        ))
        .await
        .expect_err("not an OpenID backend");
    assert!(
        refused
            .as_str()
            .is_some_and(|s| s.contains("username and password")),
        "{refused}"
    );
    sign_out(&app, &mut heard).await;
}

/// The notices the headless surface was asked to show, as "title: body".
fn notices(app: &App) -> Vec<String> {
    app.surface
        .notices
        .lock()
        .expect("the surface's record")
        .iter()
        .map(|n| format!("{}: {}", n.title, n.body))
        .collect()
}

/// Waits for a notice ending in `body` after the first `after` notices.
async fn wait_for_notice(app: &App, after: usize, body: &str) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let shown = notices(app);
        if shown.iter().skip(after).any(|n| n.ends_with(body)) {
            return shown;
        }
        assert!(
            Instant::now() < deadline,
            "no notice {body:?}; shown: {shown:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn alert_change(json: Value) -> Request {
    Request::ChangeAlerts(serde_json::from_value::<AlertChange>(json).expect("a change"))
}

/// Per-friend rules, the snooze from the tray's menu and a one-shot, through the
/// window's request and the real bridge: "always" beats a global switch that is off,
/// "never" beats one that is on, a snooze holds everything back, and a one-shot fires
/// and is gone. The tray shows favourites first, the counts and the snooze; the
/// timeline says since when Kith is connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_friend_rules_the_snooze_and_a_one_shot_decide_the_notifications() {
    let world = World::start().await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut settings = Settings::default();
    settings.alerts.notify_online = true;
    settings.alerts.notify_offline = false;
    settings
        .save(&dir.path().join("settings.json"))
        .expect("settings saved");
    let store = MemoryStore::new();
    let (app, mut heard) = app(dir.path(), &store).await;
    app.invoke(sign_in(&world.url(), PASSWORD))
        .await
        .expect("signed in");
    heard.wait_for_connected().await;
    heard
        .wait_for("alice online", EVENT_PRESENCE, |p| {
            friend(&p["friends"], "alice").is_some_and(|f| f["online"] == true)
        })
        .await;
    let view = app.get_view().await;
    let id = |name: &str| {
        friend(&view["friends"], name).expect("a friend")["user_id"]
            .as_str()
            .expect("an id")
            .to_owned()
    };
    let (alice, bob) = (id("alice"), id("bob"));
    assert_eq!(
        friend(&view["friends"], "alice").unwrap()["class"],
        "online"
    );
    assert!(
        view["timeline"]["why"]
            .as_str()
            .is_some_and(|w| w.starts_with("Connected since")),
        "{:#}",
        view["timeline"]
    );

    // Rules: bob never when he comes online (the global switch is on), alice always
    // when she goes offline (the global switch is off).
    app.invoke(alert_change(
        json!({"kind": "rule", "friend": bob, "transition": "came_online", "rule": "never"}),
    ))
    .await
    .expect("a rule");
    let saved = app
        .invoke(alert_change(json!({"kind": "rule", "friend": alice, "transition": "went_offline", "rule": "always"})))
        .await
        .expect("a rule");
    let server = saved["server"].as_str().expect("a server").to_owned();
    assert_eq!(
        saved["servers"][&server]["rules"][&alice]["offline"], "always",
        "{saved:#}"
    );
    let star = app
        .invoke(alert_change(
            json!({"kind": "star", "friend": bob, "on": true}),
        ))
        .await
        .expect("a star");
    assert_eq!(star["servers"][&server]["favourites"], json!([bob]));

    world.admin.set_status("bob", "online").expect("bob online");
    world
        .admin
        .set_status("alice", "offline")
        .expect("alice offline");
    let shown = wait_for_notice(&app, 0, "alice went offline").await;
    assert!(
        !shown.iter().any(|n| n.contains("bob")),
        "never means never: {shown:?}"
    );
    let tray = app.tray_shown();
    assert_eq!(tray.online_friends, ["★ bob"], "{tray:?}");
    assert_eq!(
        tray.tooltip, "Kith — connected · 1 online · 0 away · 2 friends",
        "{tray:?}"
    );

    // Snoozed from the tray's menu: nothing, and the tray says until when.
    kith_shell::menu::on_menu(&app.shell, kith_shell::menu::item::SNOOZE_HOUR);
    heard
        .wait_for("a snooze", EVENT_SETTINGS, |s| {
            s["snoozed_until"].is_string()
        })
        .await;
    let tray = app.tray_shown();
    assert!(
        tray.snoozed && tray.tooltip.contains("· Alerts snoozed until "),
        "{tray:?}"
    );
    let before = notices(&app).len();
    world
        .admin
        .set_status("alice", "online")
        .expect("alice online");
    heard
        .wait_for("alice back", EVENT_PRESENCE, |p| {
            friend(&p["friends"], "alice").is_some_and(|f| f["online"] == true)
        })
        .await;
    // Past the settle period and its grouping slack (3 s + 1 s).
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(notices(&app).len(), before, "{:?}", notices(&app));
    kith_shell::menu::on_menu(&app.shell, kith_shell::menu::item::UNSNOOZE);
    heard
        .wait_for("no snooze", EVENT_SETTINGS, |s| {
            s["snoozed_until"].is_null()
        })
        .await;
    assert!(!app.tray_shown().snoozed);

    // A one-shot for alice: it fires when she comes online and is gone.
    let before = notices(&app).len();
    world
        .admin
        .set_status("alice", "offline")
        .expect("alice offline");
    wait_for_notice(&app, before, "alice went offline").await;
    let before = notices(&app).len();
    let armed = app
        .invoke(alert_change(
            json!({"kind": "once_online", "friend": alice, "armed": true}),
        ))
        .await
        .expect("armed");
    assert_eq!(armed["servers"][&server]["once_online"], json!([alice]));
    heard.forget();
    world
        .admin
        .set_status("alice", "online")
        .expect("alice online");
    heard
        .wait_for("the one-shot gone", EVENT_SETTINGS, |s| {
            s["servers"][&server]["once_online"]
                .as_array()
                .is_none_or(Vec::is_empty)
        })
        .await;
    wait_for_notice(&app, before, "alice is online").await;

    sign_out(&app, &mut heard).await;
    world.shut_down().await;
}
