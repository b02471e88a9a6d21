//! The command flow end to end without a window: the app's own commands and plugins
//! on `tauri::test`'s mock runtime, driven through IPC as `ui/ipc.js` calls them,
//! against the reference server on 127.0.0.1. What the window would hear is what
//! these tests listen to (the `kith://` events), and what it would ask for is
//! `get_view`. The only stand-in is the credential store: a memory store where the app
//! manages the OS keyring. No tray exists here, so refreshing it does nothing.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kith_core::MemoryStore;
use kith_server::{AdminHandle, RunningServer};
use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{App, Listener, Manager, WebviewUrl, WebviewWindow, WebviewWindowBuilder};

use crate::session_control::{self, CredentialStores};
use crate::settings::Settings;
use crate::state::{AppState, EVENT_CONNECTION, EVENT_PRESENCE, EVENT_SESSION, EVENT_SETTINGS};
use crate::tray_view::{TrayIcon, TrayView};

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
    fn start() -> Self {
        let server = tauri::async_runtime::block_on(kith_server::spawn(
            kith_server::ServerConfig::in_process(),
        ))
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

    fn shut_down(self) {
        tauri::async_runtime::block_on(self.server.shutdown());
    }
}

/// The app as `run` wires its commands, on the mock runtime, with its settings in
/// `dir` (Do not disturb on, so no test raises a real notification) and sign-ins kept
/// in `store`; and its window, as far as IPC is concerned.
fn app(dir: &Path, store: &MemoryStore) -> (App<MockRuntime>, WebviewWindow<MockRuntime>) {
    let settings_path = dir.join("settings.json");
    if !settings_path.exists() {
        let quiet = Settings {
            do_not_disturb: true,
            ..Settings::default()
        };
        quiet.save(&settings_path).expect("settings saved");
    }
    let app = crate::with_commands(mock_builder())
        .build(mock_context(noop_assets()))
        .expect("the app builds");
    app.manage(AppState::new(settings_path));
    app.manage(CredentialStores::memory(store.clone()));
    let window = WebviewWindowBuilder::new(&app, crate::window::MAIN, WebviewUrl::default())
        .build()
        .expect("the mock window");
    (app, window)
}

/// Calls a command as the window does; its answer, or its error as the UI gets it.
fn invoke(window: &WebviewWindow<MockRuntime>, command: &str, args: Value) -> Result<Value, Value> {
    let url = if cfg!(windows) {
        "http://tauri.localhost"
    } else {
        "tauri://localhost"
    };
    tauri::test::get_ipc_response(
        window,
        InvokeRequest {
            cmd: command.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: url.parse().expect("a URL"),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|body| body.deserialize::<Value>().expect("a JSON answer"))
}

fn get_view(window: &WebviewWindow<MockRuntime>) -> Value {
    invoke(window, "get_view", json!({})).expect("get_view answers")
}

fn sign_in_args(server: &str, password: &str) -> Value {
    // As ui/signin.js sends it.
    json!({ "request": {
        "server": server,
        "backend": "django-simplejwt",
        "username": USER,
        "password": password,
        "allowInsecure": false,
    }})
}

/// Signs out as the window does, and checks that the window hears of it and that the
/// view is signed out, idle and without friends.
fn sign_out(window: &WebviewWindow<MockRuntime>, heard: &mut Heard) {
    heard.forget();
    invoke(window, "sign_out", json!({})).expect("signed out");
    heard.wait_for("signed-out session", EVENT_SESSION, |s| {
        s["signed_in"] == false && s["reason"] == "logged_out"
    });
    heard.wait_for("no friends", EVENT_PRESENCE, |p| {
        p["replace"] == true && p["friends"] == json!([])
    });
    let shown = get_view(window);
    assert_eq!(shown["session"]["signed_in"], false, "{shown:#}");
    assert_eq!(shown["session"]["reason"], "logged_out");
    assert_eq!(shown["connection"]["state"], "idle");
    assert_eq!(shown["friends"], json!([]));
}

/// What the tray would show for the app's view (no tray exists on the mock runtime).
fn tray_shown(app: &App<MockRuntime>) -> TrayView {
    app.state::<AppState>()
        .read_view(crate::tray::shown)
        .expect("the view is readable")
}

/// The friend called `name` in a list of friends as the window gets it.
fn friend<'a>(friends: &'a Value, name: &str) -> Option<&'a Value> {
    friends.as_array()?.iter().find(|f| f["username"] == name)
}

/// Every `kith://` event the app emits, as the window would receive it.
struct Heard {
    rx: mpsc::Receiver<(&'static str, Value)>,
    seen: Vec<(&'static str, Value)>,
}

impl Heard {
    fn listen(app: &App<MockRuntime>) -> Self {
        let (tx, rx) = mpsc::channel();
        for name in [
            EVENT_SESSION,
            EVENT_CONNECTION,
            EVENT_PRESENCE,
            EVENT_SETTINGS,
        ] {
            let tx = tx.clone();
            app.listen_any(name, move |event| {
                let payload = serde_json::from_str(event.payload()).unwrap_or(Value::Null);
                let _ = tx.send((name, payload));
            });
        }
        Heard {
            rx,
            seen: Vec::new(),
        }
    }

    /// Forgets what was heard so far: the next waits see only what comes after.
    fn forget(&mut self) {
        while self.rx.try_recv().is_ok() {}
        self.seen.clear();
    }

    fn wait_for_connected(&mut self) -> Value {
        self.wait_for("connected", EVENT_CONNECTION, |c| c["state"] == "connected")
    }

    /// Waits for an `event` whose payload matches, unless one was heard already;
    /// panics with what was heard.
    fn wait_for(&mut self, what: &str, event: &str, matches: impl Fn(&Value) -> bool) -> Value {
        if let Some((_, payload)) = self
            .seen
            .iter()
            .find(|(name, payload)| *name == event && matches(payload))
        {
            return payload.clone();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok((name, payload)) => {
                    let hit = name == event && matches(&payload);
                    self.seen.push((name, payload.clone()));
                    if hit {
                        return payload;
                    }
                }
                Err(_) => panic!("no {what} within {WAIT:?}; heard: {:#?}", self.seen),
            }
        }
    }
}

#[test]
fn signing_in_through_the_commands_shows_the_friends_and_signing_out_revokes_the_session() {
    let world = World::start();
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = MemoryStore::new();
    let (app, window) = app(dir.path(), &store);
    let mut heard = Heard::listen(&app);
    assert_eq!(get_view(&window)["session"]["signed_in"], false);

    // A wrong password is refused in words, and nothing changes.
    let wrong = "not-the-password-7731";
    let refused = invoke(&window, "sign_in", sign_in_args(&world.url(), wrong)).unwrap_err();
    assert!(
        refused
            .as_str()
            .is_some_and(|text| text.contains("did not accept")),
        "{refused}"
    );
    assert!(!refused.to_string().contains(wrong), "{refused}");
    assert_eq!(get_view(&window)["session"]["signed_in"], false);
    assert!(store.saved_tokens().is_empty());

    invoke(&window, "sign_in", sign_in_args(&world.url(), PASSWORD)).expect("signed in");
    heard.wait_for("signed-in session", EVENT_SESSION, |s| {
        s["signed_in"] == true && s["username"] == USER
    });
    heard.wait_for_connected();
    heard.wait_for("alice online", EVENT_PRESENCE, |p| {
        friend(&p["friends"], "alice").is_some_and(|f| f["online"] == true)
    });
    let shown = get_view(&window);
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
    heard.wait_for("bob online", EVENT_PRESENCE, |p| {
        p["replace"] == false && friend(&p["friends"], "bob").is_some_and(|f| f["online"] == true)
    });
    let shown = get_view(&window);
    assert_eq!(
        friend(&shown["friends"], "bob").expect("bob")["online"],
        true
    );

    sign_out(&window, &mut heard);
    // The server's side of it: the stored refresh token is revoked.
    assert!(!world.admin.refresh_token_is_valid(token.expose()));
    world.shut_down();
}

#[test]
fn a_stored_sign_in_is_resumed_at_the_next_start() {
    let world = World::start();
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = MemoryStore::new();
    {
        let (app, window) = app(dir.path(), &store);
        let mut heard = Heard::listen(&app);
        invoke(&window, "sign_in", sign_in_args(&world.url(), PASSWORD)).expect("signed in");
        heard.wait_for_connected();
        // As Quit does: the session stops, the stored sign-in stays.
        tauri::async_runtime::block_on(session_control::stop_running(app.handle()));
    }
    let (app, window) = app(dir.path(), &store);
    let mut heard = Heard::listen(&app);
    tauri::async_runtime::block_on(session_control::resume_at_startup(app.handle()));
    heard.wait_for_connected();
    let shown = get_view(&window);
    assert_eq!(shown["session"]["signed_in"], true, "{shown:#}");
    assert_eq!(shown["session"]["username"], USER);
    heard.wait_for("alice online", EVENT_PRESENCE, |p| {
        friend(&p["friends"], "alice").is_some_and(|f| f["online"] == true)
    });
    sign_out(&window, &mut heard);
    world.shut_down();
}

#[test]
fn the_demo_signs_in_to_its_own_server_and_signs_out() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = MemoryStore::new();
    let (app, window) = app(dir.path(), &store);
    let mut heard = Heard::listen(&app);
    invoke(&window, "try_demo", json!({})).expect("the demo starts");
    heard.wait_for("demo session", EVENT_SESSION, |s| {
        s["signed_in"] == true && s["demo"] == true
    });
    heard.wait_for_connected();
    heard.wait_for("demo friends", EVENT_PRESENCE, |p| {
        p["friends"].as_array().is_some_and(|f| !f.is_empty())
    });
    let shown = get_view(&window);
    assert_eq!(shown["session"]["username"], kith_server::DEMO_USER);
    assert!(
        shown["friends"].as_array().is_some_and(|f| !f.is_empty()),
        "{shown:#}"
    );
    // The demo keeps nothing: not in the store, not in the settings.
    assert!(store.saved_tokens().is_empty());
    assert_eq!(shown["settings"]["server"], Value::Null);
    sign_out(&window, &mut heard);
}

#[test]
fn a_failed_sign_in_that_stopped_a_running_session_shows_signed_out_without_its_friends() {
    let world = World::start();
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = MemoryStore::new();
    let (app, window) = app(dir.path(), &store);
    let mut heard = Heard::listen(&app);
    invoke(&window, "sign_in", sign_in_args(&world.url(), PASSWORD)).expect("signed in");
    heard.wait_for_connected();
    heard.wait_for("alice online", EVENT_PRESENCE, |p| {
        friend(&p["friends"], "alice").is_some_and(|f| f["online"] == true)
    });
    let tray = tray_shown(&app);
    assert_eq!(tray.icon, TrayIcon::Connected, "{tray:?}");
    assert_eq!(tray.online_friends, ["alice"]);

    // Signing in again stops the running session first; this sign-in is refused.
    heard.forget();
    let wrong = "not-the-password-4417";
    let refused = invoke(&window, "sign_in", sign_in_args(&world.url(), wrong)).unwrap_err();
    assert!(
        refused
            .as_str()
            .is_some_and(|text| text.contains("did not accept")),
        "{refused}"
    );
    // The window hears that no one is signed in and that no friends are left.
    heard.wait_for("signed-out session", EVENT_SESSION, |s| {
        s["signed_in"] == false
    });
    heard.wait_for("no friends", EVENT_PRESENCE, |p| {
        p["replace"] == true && p["friends"] == json!([])
    });
    let shown = get_view(&window);
    assert_eq!(shown["session"]["signed_in"], false, "{shown:#}");
    assert_eq!(shown["connection"]["state"], "idle");
    assert_eq!(shown["friends"], json!([]));
    let tray = tray_shown(&app);
    assert_eq!(tray.icon, TrayIcon::SignedOut, "{tray:?}");
    assert_eq!(tray.tooltip, "Kith — not signed in");
    assert!(!tray.signed_in && !tray.can_reconnect, "{tray:?}");
    assert!(tray.online_friends.is_empty(), "{tray:?}");

    // The next sign-in works as the first did.
    invoke(&window, "sign_in", sign_in_args(&world.url(), PASSWORD)).expect("signed in again");
    heard.wait_for_connected();
    sign_out(&window, &mut heard);
    world.shut_down();
}
