//! What the UI and the tray menu can ask for: sign in (or try the demo), sign out,
//! reconnect, settings. Grouped here so every entry point into the session is in one
//! place. Errors go back to the UI as readable text; no token or password ever does.

use std::sync::Arc;

use kith_core::{
    CredentialStore, KeyringStore, MemoryStore, ProfileSource, Secret, ServerProfile, Session,
    SessionError, TokenError,
};
use serde::Deserialize;
use tauri::{AppHandle, Emitter, Manager, State};

use crate::settings::Settings;
use crate::state::{AppState, FullView, Running, View, EVENT_SESSION, EVENT_SETTINGS};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInRequest {
    pub server: Option<String>,
    pub profile_path: Option<String>,
    pub username: String,
    /// Held as a [`Secret`] from the moment it is deserialized, so a logged or
    /// debug-printed request shows `[redacted]`.
    pub password: Secret,
    #[serde(default)]
    pub allow_insecure: bool,
}

#[tauri::command]
pub fn get_view(state: State<'_, AppState>) -> FullView {
    state.full_view()
}

#[tauri::command]
pub async fn sign_in(app: AppHandle, request: SignInRequest) -> Result<(), String> {
    let SignInRequest {
        server,
        profile_path,
        username,
        password,
        allow_insecure,
    } = request;
    // The password goes to the core once and is dropped after login.
    let username = username.trim().to_string();
    if username.is_empty() {
        return Err("Enter a username.".into());
    }
    let server = server
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let profile_path = profile_path
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let profile = build_profile(server.as_deref(), profile_path.as_deref(), allow_insecure)?;
    let store = keyring().await?;
    stop_running(&app).await;
    let session = Session::login(profile.clone(), store, &username, password)
        .await
        .map_err(describe)?;
    {
        let state = app.state::<AppState>();
        let mut settings = state.settings();
        settings.server = server.or(Some(profile.server.clone()));
        settings.profile_path = profile_path;
        settings.allow_insecure = allow_insecure;
        store_settings(&app, settings);
    }
    attach(&app, session, None, username, profile.server, false).await;
    Ok(())
}

#[tauri::command]
pub async fn try_demo(app: AppHandle) -> Result<(), String> {
    start_demo(&app).await
}

#[tauri::command]
pub async fn sign_out(app: AppHandle) -> Result<(), String> {
    sign_out_now(&app).await;
    Ok(())
}

#[tauri::command]
pub async fn reconnect_now(state: State<'_, AppState>) -> Result<(), String> {
    if let Some(running) = state.running.lock().await.as_ref() {
        running.session.reconnect_now();
    }
    Ok(())
}

/// Closes (destroys) the window; the tray and the session keep running.
#[tauri::command]
pub fn close_window(app: AppHandle) {
    crate::window::close(&app);
}

#[tauri::command]
pub fn save_settings(app: AppHandle, settings: Settings) -> Settings {
    let state = app.state::<AppState>();
    let mut next = state.settings();
    // The UI may change preferences; the server fields belong to sign-in.
    next.notify_online = settings.notify_online;
    next.notify_offline = settings.notify_offline;
    next.do_not_disturb = settings.do_not_disturb;
    next.launch_at_login = settings.launch_at_login;
    store_settings(&app, next)
}

/// Applies and persists settings, then tells the UI and the tray.
pub fn store_settings(app: &AppHandle, mut settings: Settings) -> Settings {
    settings.launch_at_login = crate::autostart::apply(app, settings.launch_at_login);
    let state = app.state::<AppState>();
    if let Ok(mut current) = state.settings.lock() {
        *current = settings.clone();
    }
    if let Err(error) = settings.save(&state.settings_path) {
        tracing::warn!(%error, "cannot save settings");
    }
    let _ = app.emit(EVENT_SETTINGS, settings.clone());
    crate::tray::sync_checks(app);
    settings
}

/// The profile for a sign-in: a profile file, or the default profile at `server`.
/// Unlike the CLI, the app does not guess a server: one of the two must be given.
fn build_profile(
    server: Option<&str>,
    profile_path: Option<&str>,
    allow_insecure: bool,
) -> Result<ServerProfile, String> {
    let source = match (profile_path, server) {
        (Some(path), _) => ProfileSource::File(std::path::Path::new(path)),
        (None, Some(_)) => ProfileSource::Default,
        (None, None) => return Err("Enter the server URL, or choose a server profile file.".into()),
    };
    ServerProfile::resolve(source, server, allow_insecure).map_err(|e| e.to_string())
}

async fn keyring() -> Result<Arc<dyn CredentialStore>, String> {
    let store = tokio::task::spawn_blocking(KeyringStore::open)
        .await
        .map_err(|_| "the keyring check failed".to_string())?
        .map_err(|error| {
            format!("{error}. Kith keeps your sign-in only in the system keyring and will not write it to a file.")
        })?;
    Ok(Arc::new(store))
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

/// Wires a started session to the UI and the tray.
async fn attach(
    app: &AppHandle,
    mut session: Session,
    demo_server: Option<kith_server::RunningServer>,
    username: String,
    server: String,
    demo: bool,
) {
    let state = app.state::<AppState>();
    let Some(events) = session.take_events() else {
        return;
    };
    let session_view = state.with_view(|view| {
        *view = View::default();
        view.session.signed_in = true;
        view.session.username = Some(username);
        view.session.server = Some(server);
        view.session.demo = demo;
        view.friends = Some(session.friends_reader());
        view.session.clone()
    });
    let bridge = tauri::async_runtime::spawn(crate::bridge::run(app.clone(), events));
    *state.running.lock().await = Some(Running {
        session,
        bridge,
        demo_server,
    });
    if let Some(session_view) = session_view {
        let _ = app.emit(EVENT_SESSION, session_view);
    }
    crate::tray::refresh(app);
}

/// Stops the running session (close 1000) and its demo server, if any.
pub async fn stop_running(app: &AppHandle) {
    let state = app.state::<AppState>();
    let running = state.running.lock().await.take();
    if let Some(running) = running {
        running.session.stop().await;
        running.bridge.abort();
        if let Some(server) = running.demo_server {
            server.shutdown().await;
        }
    }
}

pub async fn sign_out_now(app: &AppHandle) {
    let state = app.state::<AppState>();
    let running = state.running.lock().await.take();
    if let Some(running) = running {
        if let Err(error) = running.session.logout().await {
            tracing::warn!(%error, "sign-out could not reach the server; local credentials are gone");
        }
        running.bridge.abort();
        if let Some(server) = running.demo_server {
            server.shutdown().await;
        }
    }
    let session = state.with_view(|view| {
        view.signed_out(Some(kith_core::EndReason::LoggedOut));
        view.friends = None;
        view.session.clone()
    });
    if let Some(session) = session {
        let _ = app.emit(EVENT_SESSION, session);
    }
    crate::tray::refresh(app);
}

/// Starts kith-server in-process on 127.0.0.1 with demo friends, and signs in.
/// The demo's session lives in memory: there is nothing to keep.
pub async fn start_demo(app: &AppHandle) -> Result<(), String> {
    stop_running(app).await;
    let mut config = kith_server::ServerConfig::in_process();
    config.demo = true;
    config.admin_token = None;
    let server = kith_server::spawn(config)
        .await
        .map_err(|e| format!("cannot start the demo server: {e}"))?;
    let profile = ServerProfile::simplejwt(server.http_url());
    let session = Session::login(
        profile,
        Arc::new(MemoryStore::new()),
        kith_server::DEMO_USER,
        Secret::new(kith_server::DEMO_PASSWORD),
    )
    .await
    .map_err(describe)?;
    let url = server.http_url();
    attach(
        app,
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
pub async fn resume_at_startup(app: &AppHandle) {
    let settings = app.state::<AppState>().settings();
    if settings.server.is_none() && settings.profile_path.is_none() {
        return;
    }
    let profile = match build_profile(
        settings.server.as_deref(),
        settings.profile_path.as_deref(),
        settings.allow_insecure,
    ) {
        Ok(profile) => profile,
        Err(error) => {
            tracing::warn!(%error, "saved server settings are unusable");
            return;
        }
    };
    let store = match keyring().await {
        Ok(store) => store,
        Err(error) => {
            tracing::warn!(%error, "no keyring; staying signed out");
            return;
        }
    };
    match Session::resume(profile.clone(), store).await {
        Ok((session, username)) => {
            attach(app, session, None, username, profile.server, false).await;
        }
        Err(SessionError::Token(TokenError::NotSignedIn)) => {}
        Err(error) => tracing::warn!(%error, "cannot resume the stored session"),
    }
}

/// Tray menu actions.
pub fn on_menu(app: &AppHandle, id: &str) {
    let app = app.clone();
    match id {
        "open" => crate::window::open(&app),
        "reconnect" => {
            tauri::async_runtime::spawn(async move {
                if let Some(running) = app.state::<AppState>().running.lock().await.as_ref() {
                    running.session.reconnect_now();
                }
            });
        }
        "dnd" => {
            let mut settings = app.state::<AppState>().settings();
            settings.do_not_disturb = !settings.do_not_disturb;
            store_settings(&app, settings);
        }
        "autostart" => {
            let mut settings = app.state::<AppState>().settings();
            settings.launch_at_login = !settings.launch_at_login;
            store_settings(&app, settings);
        }
        "sign_out" => {
            tauri::async_runtime::spawn(async move { sign_out_now(&app).await });
        }
        "quit" => {
            tauri::async_runtime::spawn(async move {
                stop_running(&app).await;
                app.exit(0);
            });
        }
        _ => {}
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
    fn a_sign_in_needs_a_server_or_a_profile_file() {
        assert_eq!(
            build_profile(None, None, false).unwrap_err(),
            "Enter the server URL, or choose a server profile file."
        );
        let remote = Some("http://presence.example.com");
        assert!(build_profile(remote, None, false)
            .unwrap_err()
            .contains("allow_insecure_remote"));
        let profile = build_profile(remote, None, true).unwrap();
        assert_eq!(profile.server, "http://presence.example.com");
        assert!(profile.allow_insecure_remote);
        assert!(
            build_profile(None, Some("/nonexistent/kith/profile.toml"), false)
                .unwrap_err()
                .contains("cannot read profile")
        );
    }
}
