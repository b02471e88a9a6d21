//! The Tauri commands: what the window may call (`ui/ipc.js` is the other side, and
//! `capabilities/` grants them). Their names, arguments and answers are what they were
//! when the session ran in this process; each now forwards to the tray role over the
//! IPC ([`Link`]), which owns the session. Only closing the window and the file dialog
//! are done here. Errors go back to the UI as readable text; no token or password ever
//! does.

use kith_shell::alert_change::AlertChange;
use kith_shell::ipc::{Reply, Request};
use kith_shell::session_control::{BrowserSignInRequest, SignInRequest};
use kith_shell::settings::Settings;
use serde_json::value::RawValue;
use tauri::{AppHandle, Runtime, State};

use crate::link::Link;

/// The whole view, as the tray role serialized it.
#[tauri::command]
pub async fn get_view(link: State<'_, Link>) -> Result<Box<RawValue>, String> {
    match link.request(Request::GetView).await? {
        Reply::View(view) => Ok(view),
        other => Err(unexpected(&other)),
    }
}

#[tauri::command]
pub async fn sign_in(link: State<'_, Link>, request: SignInRequest) -> Result<(), String> {
    done(link.request(Request::SignIn(request)).await)
}

/// Signs in through the system browser (a backend with `auth.kind = "oidc"`): the tray
/// role starts the sign-in and waits on its loopback redirect; this opens the address
/// in the system browser (tauri-plugin-opener, from Rust: the page has no opener
/// permission), waits for the outcome, and brings the window back to the front.
#[tauri::command]
pub async fn sign_in_with_browser<R: Runtime>(
    app: AppHandle<R>,
    link: State<'_, Link>,
    request: BrowserSignInRequest,
) -> Result<(), String> {
    use tauri_plugin_opener::OpenerExt;
    let url = match link.request(Request::BeginBrowserSignIn(request)).await? {
        Reply::BrowserUrl(url) => url,
        other => return Err(unexpected(&other)),
    };
    if let Err(error) = app.opener().open_url(url.as_str(), None::<&str>) {
        let _ = link.request(Request::CancelBrowserSignIn).await;
        return Err(format!("Kith could not open your browser: {error}"));
    }
    let outcome = done(link.request(Request::FinishBrowserSignIn).await);
    crate::window::open(&app);
    outcome
}

/// Cancels the browser sign-in that is waiting.
#[tauri::command]
pub async fn cancel_browser_sign_in(link: State<'_, Link>) -> Result<(), String> {
    done(link.request(Request::CancelBrowserSignIn).await)
}

#[tauri::command]
pub async fn try_demo(link: State<'_, Link>) -> Result<(), String> {
    done(link.request(Request::TryDemo).await)
}

#[tauri::command]
pub async fn sign_out(link: State<'_, Link>) -> Result<(), String> {
    done(link.request(Request::SignOut).await)
}

#[tauri::command]
pub async fn reconnect_now(link: State<'_, Link>) -> Result<(), String> {
    done(link.request(Request::ReconnectNow).await)
}

/// Closes (destroys) the window, and with it this process; the tray and the session
/// keep running in the tray role.
#[tauri::command]
pub fn close_window<R: Runtime>(app: AppHandle<R>) {
    crate::window::close(&app);
}

/// Saves the preferences the window may change; returns the settings as saved.
#[tauri::command]
pub async fn save_settings(link: State<'_, Link>, settings: Settings) -> Result<Settings, String> {
    match link.request(Request::SaveSettings(settings)).await? {
        Reply::Settings(settings) => Ok(settings),
        other => Err(unexpected(&other)),
    }
}

/// Stars a friend, sets a friend's rule or one-shot, or snoozes alerts; returns the
/// settings as saved.
#[tauri::command]
pub async fn change_alerts(link: State<'_, Link>, change: AlertChange) -> Result<Settings, String> {
    match link.request(Request::ChangeAlerts(change)).await? {
        Reply::Settings(settings) => Ok(settings),
        other => Err(unexpected(&other)),
    }
}

/// Opens the native file dialog for a server profile file; returns its path to show,
/// or nothing when cancelled. The path goes to the tray role, never back from the page
/// (see profile_choice).
#[tauri::command]
pub async fn choose_profile_file<R: Runtime>(
    app: AppHandle<R>,
    link: State<'_, Link>,
) -> Result<Option<String>, String> {
    crate::profile_choice::choose(&app, &link).await
}

fn done(reply: Result<Reply, String>) -> Result<(), String> {
    match reply? {
        Reply::Done => Ok(()),
        other => Err(unexpected(&other)),
    }
}

fn unexpected(reply: &Reply) -> String {
    tracing::warn!(?reply, "an unexpected answer from the tray process");
    "Kith's tray process gave an unexpected answer.".into()
}
