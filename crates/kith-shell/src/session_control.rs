//! The one owner of the running [`Session`]: sign in, resume at startup, the demo,
//! reconnect, sign out, stop. It lives in the tray role: the window role's requests
//! (over the IPC), the tray's menu and startup all come here, so one session replaces
//! another in one place, under one lock. Errors reach the user as readable text; no
//! token or password is ever in one.

use std::sync::Arc;

use kith_core::protocol::PRESETS;
use kith_core::{
    CredentialStore, EndReason, KeyringStore, ProfileSource, Secret, ServerProfile, Session,
    SessionError, TokenError,
};
use serde::{Deserialize, Serialize, Serializer};

use crate::shell::{Running, Shell};
use crate::view::View;
use crate::view_update::{update_settings, update_view, Friends};

/// A sign-in as the window sends it. It crosses the IPC once, from the window role to
/// the tray role, password included (a socket only this user can reach); Debug never
/// shows the password.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInRequest {
    pub server: Option<String>,
    /// A built-in preset's name (the default one when absent), or `"file"`: the
    /// profile file chosen through the window role's native dialog ([`Shell::choose_profile`]).
    /// The window never names a path itself.
    #[serde(default)]
    pub backend: Option<String>,
    pub username: String,
    /// Held as a [`Secret`] from the moment it is deserialized, so a logged or
    /// debug-printed request shows `[redacted]`.
    #[serde(serialize_with = "expose")]
    pub password: Secret,
    #[serde(default)]
    pub allow_insecure: bool,
}

/// Writes the password into the one message that carries it to the tray role.
fn expose<S: Serializer>(secret: &Secret, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose())
}

type OpenStore = dyn Fn() -> Result<Arc<dyn CredentialStore>, String> + Send + Sync;

/// Opens the store that keeps a sign-in across restarts: the tray role uses
/// [`CredentialStores::keyring`]; the command-flow tests a memory store.
/// The demo never uses it: its session lives in memory.
pub struct CredentialStores {
    opener: Arc<OpenStore>,
}

impl CredentialStores {
    /// The OS keyring, the only place the app keeps a sign-in.
    pub fn keyring() -> Self {
        CredentialStores {
            opener: Arc::new(|| {
                let store = KeyringStore::open().map_err(|error| {
                    format!("{error}. Kith keeps your sign-in only in the system keyring and will not write it to a file.")
                })?;
                let store: Arc<dyn CredentialStore> = Arc::new(store);
                Ok(store)
            }),
        }
    }

    /// One store in memory, shared with the caller, who can look into it (tests).
    pub fn memory(store: kith_core::MemoryStore) -> Self {
        CredentialStores {
            opener: Arc::new(move || {
                let store: Arc<dyn CredentialStore> = Arc::new(store.clone());
                Ok(store)
            }),
        }
    }

    /// Opens the app's store; opening may block (D-Bus, Keychain), so it runs on a
    /// blocking thread.
    async fn open(shell: &Shell) -> Result<Arc<dyn CredentialStore>, String> {
        let opener = shell.stores.opener.clone();
        tokio::task::spawn_blocking(move || opener())
            .await
            .map_err(|_| "the keyring check failed".to_string())?
    }
}

/// Signs in with a password, replacing any running session, and remembers the server
/// (not the password: that goes to the core once and is dropped after login).
pub async fn sign_in(shell: &Arc<Shell>, request: SignInRequest) -> Result<(), String> {
    let SignInRequest {
        server,
        backend,
        username,
        password,
        allow_insecure,
    } = request;
    let username = username.trim().to_string();
    if username.is_empty() {
        return Err("Enter a username.".into());
    }
    let server = server
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let backend = chosen_backend(shell, backend.as_deref())?;
    let profile = build_profile(server.as_deref(), &backend, allow_insecure)?;
    tracing::info!(profile = %profile.name, "signing in");
    let store = CredentialStores::open(shell).await?;
    stop_running(shell).await;
    let session = Session::login(profile.clone(), store, &username, password)
        .await
        .map_err(describe)?;
    update_settings(shell, |settings| {
        settings.server = server.or_else(|| Some(profile.server.clone()));
        (settings.preset, settings.profile_path) = match backend {
            Backend::Preset(name) => (Some(name), None),
            Backend::File(path) => (None, Some(path)),
        };
        settings.allow_insecure = allow_insecure;
    });
    attach(shell, session, None, username, profile.server, false).await;
    Ok(())
}

/// A sign-in through the system browser, as the window asks for it: the backend and
/// server as for a password sign-in, and no credentials (the browser has them).
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BrowserSignInRequest {
    pub server: Option<String>,
    /// As [`SignInRequest::backend`]: a preset's name or `"file"`.
    #[serde(default)]
    pub backend: Option<String>,
    #[serde(default)]
    pub allow_insecure: bool,
}

/// Starts a sign-in through the system browser (`auth.kind = "oidc"`): returns the
/// address for the window role to open in the browser. The loopback redirect then
/// waits in this process, the running session (if any) carrying on meanwhile; the
/// outcome comes from [`finish_browser_sign_in`]. A sign-in already waiting is
/// cancelled first.
pub async fn begin_browser_sign_in(
    shell: &Arc<Shell>,
    request: BrowserSignInRequest,
) -> Result<String, String> {
    let BrowserSignInRequest {
        server,
        backend,
        allow_insecure,
    } = request;
    let server = server
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let backend = chosen_backend(shell, backend.as_deref())?;
    let profile = build_profile(server.as_deref(), &backend, allow_insecure)?;
    if profile.auth.kind != kith_core::protocol::AuthKind::Oidc {
        return Err("This backend signs in with a username and password.".into());
    }
    cancel_browser_sign_in(shell);
    let store = CredentialStores::open(shell).await?;
    let (url_tx, url_rx) = tokio::sync::oneshot::channel::<String>();
    let (cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
    let (outcome_tx, outcome) = tokio::sync::oneshot::channel();
    let task_shell = shell.clone();
    tokio::spawn(async move {
        tracing::info!(profile = %profile.name, "signing in through the browser");
        let signed_in = Session::login_with_browser(
            profile.clone(),
            store,
            |url| {
                let _ = url_tx.send(url.to_string());
            },
            async {
                let _ = cancelled.await;
            },
        )
        .await;
        let result = match signed_in {
            Ok((session, username)) => {
                // `attach` replaces the running session, which carried on meanwhile.
                update_settings(&task_shell, |settings| {
                    settings.server = server.or_else(|| Some(profile.server.clone()));
                    (settings.preset, settings.profile_path) = match backend {
                        Backend::Preset(name) => (Some(name), None),
                        Backend::File(path) => (None, Some(path)),
                    };
                    settings.allow_insecure = allow_insecure;
                });
                attach(&task_shell, session, None, username, profile.server, false).await;
                Ok(())
            }
            Err(error) => Err(describe(error)),
        };
        let _ = outcome_tx.send(result);
    });
    *lock(&shell.browser_cancel) = Some(cancel);
    *lock(&shell.browser_outcome) = Some(outcome);
    match url_rx.await {
        Ok(url) => Ok(url),
        // The sign-in ended before it had an address (discovery failed): say why.
        Err(_) => match finish_browser_sign_in(shell).await {
            Err(error) => Err(error),
            Ok(()) => Err("The sign-in ended before the browser was needed.".into()),
        },
    }
}

/// Waits for the browser sign-in begun last: `Ok` once signed in (the session is
/// attached, the window told), the reason otherwise (cancelled, timed out, refused).
pub async fn finish_browser_sign_in(shell: &Shell) -> Result<(), String> {
    let outcome = lock(&shell.browser_outcome).take();
    let Some(outcome) = outcome else {
        return Err("No sign-in through the browser is waiting.".into());
    };
    match outcome.await {
        Ok(result) => result,
        Err(_) => Err("The sign-in through the browser stopped.".into()),
    }
}

/// Cancels the browser sign-in that is waiting, if any; its outcome says so.
pub fn cancel_browser_sign_in(shell: &Shell) {
    if let Some(cancel) = lock(&shell.browser_cancel).take() {
        let _ = cancel.send(());
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The backend a sign-in names: a preset, or the profile file chosen in this run (or
/// the one saved).
fn chosen_backend(shell: &Shell, backend: Option<&str>) -> Result<Backend, String> {
    Ok(match backend {
        Some(FILE_BACKEND) => {
            let chosen = shell
                .chosen_profile()
                .or_else(|| shell.settings().profile_path.map(Into::into))
                .ok_or("Choose a server profile file.")?;
            Backend::File(chosen.to_string_lossy().into_owned())
        }
        Some(name) => Backend::Preset(name.to_string()),
        None => Backend::Preset(PRESETS[0].name.to_string()),
    })
}

/// Starts kith-server in-process on 127.0.0.1 with demo friends, and signs in.
/// The demo's session lives in memory: there is nothing to keep.
pub async fn start_demo(shell: &Arc<Shell>) -> Result<(), String> {
    stop_running(shell).await;
    let mut config = kith_server::ServerConfig::in_process();
    config.demo = true;
    config.admin_token = None;
    let server = kith_server::spawn(config)
        .await
        .map_err(|e| format!("cannot start the demo server: {e}"))?;
    let profile = ServerProfile::simplejwt(server.http_url());
    let session = Session::login(
        profile,
        Arc::new(kith_core::MemoryStore::new()),
        kith_server::DEMO_USER,
        Secret::new(kith_server::DEMO_PASSWORD),
    )
    .await
    .map_err(describe)?;
    let url = server.http_url();
    attach(
        shell,
        session,
        Some(server),
        kith_server::DEMO_USER.into(),
        url,
        true,
    )
    .await;
    Ok(())
}

/// At startup: resume the stored session for the last server, if there is one.
pub async fn resume_at_startup(shell: &Arc<Shell>) {
    let settings = shell.settings();
    if settings.server.is_none() && settings.profile_path.is_none() {
        return;
    }
    let backend = match (&settings.profile_path, &settings.preset) {
        (Some(path), _) => Backend::File(path.clone()),
        (None, Some(name)) => Backend::Preset(name.clone()),
        (None, None) => Backend::Preset(PRESETS[0].name.to_string()),
    };
    let profile = match build_profile(
        settings.server.as_deref(),
        &backend,
        settings.allow_insecure,
    ) {
        Ok(profile) => profile,
        Err(error) => {
            tracing::warn!(%error, "saved server settings are unusable");
            return;
        }
    };
    let store = match CredentialStores::open(shell).await {
        Ok(store) => store,
        Err(error) => {
            tracing::warn!(%error, "no keyring; staying signed out");
            return;
        }
    };
    match Session::resume(profile.clone(), store).await {
        Ok((session, username)) => {
            attach(shell, session, None, username, profile.server, false).await;
        }
        Err(SessionError::Token(TokenError::NotSignedIn)) => {}
        Err(error) => tracing::warn!(%error, "cannot resume the stored session"),
    }
}

/// Tries to connect at once, ending a wait to retry.
pub async fn reconnect_now(shell: &Shell) {
    if let Some(running) = shell.running.lock().await.as_ref() {
        running.session.reconnect_now();
    }
}

/// Signs out: the server revokes the session, the stored sign-in is removed, and the
/// view says signed out even when the server could not be reached.
pub async fn sign_out(shell: &Shell) {
    let running = shell.running.lock().await.take();
    if let Some(Running {
        session,
        bridge,
        demo_server,
    }) = running
    {
        if let Err(error) = session.logout().await {
            tracing::warn!(%error, "sign-out could not reach the server; local credentials are gone");
        }
        bridge.abort();
        // Waited for, so no event of the ended session lands after the view below.
        let _ = bridge.await;
        if let Some(server) = demo_server {
            server.shutdown().await;
        }
    }
    update_view(shell, |view| {
        view.signed_out(Some(EndReason::LoggedOut));
        view.friends = None;
        Friends::All
    });
}

/// Stops the running session (close 1000) and its demo server, if any; the stored
/// sign-in stays, so the next start resumes it. The view then says signed out, with
/// none of the stopped session's friends: a sign-in or demo that stopped it and then
/// fails leaves nothing of it shown.
pub async fn stop_running(shell: &Shell) {
    // Held until the view is updated, so a session attached meanwhile is not shown
    // as signed out.
    let mut running = shell.running.lock().await;
    if let Some(stopped) = running.take() {
        stop(stopped).await;
        update_view(shell, |view| {
            // A session that ended by itself already says signed out, and why.
            if view.session.signed_in {
                *view = View::default();
            }
            view.friends = None;
            Friends::All
        });
    }
}

/// Stops the session, closes the window and ends the tray role.
pub async fn quit(shell: &Shell) {
    stop_running(shell).await;
    shell.windows.close();
    shell.surface.quit();
}

/// Stops a session and its bridge. The bridge is waited for, so no event of the
/// stopped session reaches the view after this returns.
async fn stop(running: Running) {
    running.session.stop().await;
    running.bridge.abort();
    // An aborted task ends at its next await; the error only says it was cancelled.
    let _ = running.bridge.await;
    if let Some(server) = running.demo_server {
        server.shutdown().await;
    }
}

/// Wires a started session to the view (and so the window and the tray). A session
/// still running (a sign-in that raced another) is stopped first, so only one bridge
/// ever writes to the view.
async fn attach(
    shell: &Arc<Shell>,
    mut session: Session,
    demo_server: Option<kith_server::RunningServer>,
    username: String,
    server: String,
    demo: bool,
) {
    let Some(events) = session.take_events() else {
        return;
    };
    let mut running = shell.running.lock().await;
    if let Some(replaced) = running.take() {
        stop(replaced).await;
    }
    let friends = session.friends_reader();
    update_view(shell, |view| {
        // A new session starts from nothing but the connection timeline, which tells
        // what happened across sessions.
        let timeline = std::mem::take(&mut view.timeline);
        let timeline_records = view.timeline_records;
        *view = View::default();
        view.timeline = timeline;
        view.timeline_records = timeline_records;
        view.session.signed_in = true;
        view.session.username = Some(username);
        view.session.server = Some(server);
        view.session.demo = demo;
        view.friends = Some(friends);
        Friends::All
    });
    let bridge = tokio::spawn(crate::bridge::run(shell.clone(), events));
    *running = Some(Running {
        session,
        bridge,
        demo_server,
    });
}

/// What the sign-in form's "Backend" choice sends for a profile file.
pub const FILE_BACKEND: &str = "file";

/// Where a sign-in's server profile comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Backend {
    /// A built-in preset ([`PRESETS`]), at the server the user typed.
    Preset(String),
    /// A profile file the user chose (its own `server`, unless one was typed).
    File(String),
}

/// The profile for a sign-in. Unlike the CLI, the app does not guess a server: a
/// preset needs the URL the user typed; a profile file carries its own.
fn build_profile(
    server: Option<&str>,
    backend: &Backend,
    allow_insecure: bool,
) -> Result<ServerProfile, String> {
    let source = match backend {
        Backend::File(path) => ProfileSource::File(std::path::Path::new(path)),
        Backend::Preset(name) => {
            if !PRESETS.iter().any(|preset| preset.name == name) {
                return Err(format!("Kith has no built-in backend named {name:?}."));
            }
            if server.is_none() {
                return Err("Enter the server URL.".into());
            }
            ProfileSource::Preset(name)
        }
    };
    ServerProfile::resolve(source, server, allow_insecure).map_err(|e| e.to_string())
}

fn describe(error: SessionError) -> String {
    match error {
        SessionError::Token(TokenError::Auth(kith_core::token::AuthError::Rejected {
            detail,
            ..
        })) => {
            if detail.is_empty() {
                "The server did not accept this username and password.".into()
            } else {
                format!("The server did not accept this sign-in: {detail}")
            }
        }
        SessionError::Token(TokenError::Auth(kith_core::token::AuthError::Transient {
            reason,
            ..
        })) => {
            format!("Cannot reach the server ({reason}). Check the URL and try again.")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sign_in_request_never_shows_its_password() {
        let request: SignInRequest = serde_json::from_value(serde_json::json!({
            "server": "http://127.0.0.1:8000",
            "username": "me",
            "password": "correct-horse-battery",
        }))
        .unwrap();
        assert_eq!(request.password.expose(), "correct-horse-battery");
        let debug = format!("{request:?}");
        assert!(!debug.contains("correct-horse"), "the password is in Debug");
        assert!(debug.contains("[redacted]"));
        // A malformed password is refused without being repeated.
        let error = serde_json::from_value::<SignInRequest>(serde_json::json!({
            "username": "me",
            "password": 424242,
        }))
        .unwrap_err();
        assert!(!error.to_string().contains("424242"));
    }

    #[test]
    fn a_sign_in_needs_a_server_for_a_preset_or_a_profile_file() {
        let default = Backend::Preset(PRESETS[0].name.into());
        assert_eq!(
            build_profile(None, &default, false).unwrap_err(),
            "Enter the server URL."
        );
        let remote = Some("http://presence.example.com");
        assert!(build_profile(remote, &default, false)
            .unwrap_err()
            .contains("allow_insecure_remote"));
        let profile = build_profile(remote, &default, true).unwrap();
        assert_eq!(profile.server, "http://presence.example.com");
        assert!(profile.allow_insecure_remote);
        let file = Backend::File("/nonexistent/kith/profile.toml".into());
        assert!(build_profile(None, &file, false)
            .unwrap_err()
            .contains("cannot read profile"));
    }

    #[test]
    fn every_built_in_backend_can_be_chosen_and_no_other() {
        let local = Some("http://127.0.0.1:8000");
        for preset in PRESETS {
            let profile = build_profile(local, &Backend::Preset(preset.name.into()), false)
                .unwrap_or_else(|e| panic!("{}: {e}", preset.name));
            assert_eq!(profile.name, preset.name);
        }
        assert_eq!(
            build_profile(local, &Backend::Preset("carrier-pigeon".into()), false).unwrap_err(),
            "Kith has no built-in backend named \"carrier-pigeon\"."
        );
    }
}
