//! The Tauri commands: what the window may call (`ui/ipc.js` is the other side, and
//! `capabilities/` grants them). Each is thin: [`session_control`] does the session's
//! work and [`view_update`] changes what is shown, so a command is only the door.
//! Errors go back to the UI as readable text; no token or password ever does.
//!
//! [`session_control`]: crate::session_control
//! [`view_update`]: crate::view_update

use tauri::{AppHandle, Runtime, State};

use crate::session_control::{self, SignInRequest};
use crate::settings::Settings;
use crate::state::{AppState, FullView};

#[tauri::command]
pub fn get_view(state: State<'_, AppState>) -> FullView {
    state.full_view()
}

#[tauri::command]
pub async fn sign_in<R: Runtime>(app: AppHandle<R>, request: SignInRequest) -> Result<(), String> {
    session_control::sign_in(&app, request).await
}

#[tauri::command]
pub async fn try_demo<R: Runtime>(app: AppHandle<R>) -> Result<(), String> {
    session_control::start_demo(&app).await
}

#[tauri::command]
pub async fn sign_out<R: Runtime>(app: AppHandle<R>) -> Result<(), String> {
    session_control::sign_out(&app).await;
    Ok(())
}

#[tauri::command]
pub async fn reconnect_now<R: Runtime>(app: AppHandle<R>) -> Result<(), String> {
    session_control::reconnect_now(&app).await;
    Ok(())
}

/// Closes (destroys) the window; the tray and the session keep running.
#[tauri::command]
pub fn close_window<R: Runtime>(app: AppHandle<R>) {
    crate::window::close(&app);
}

/// Saves the preferences the window may change; returns the settings as saved.
#[tauri::command]
pub fn save_settings<R: Runtime>(app: AppHandle<R>, settings: Settings) -> Settings {
    crate::view_update::update_settings(&app, |current| current.take_preferences(&settings))
}

/// Opens the native file dialog for a server profile file; returns its path to show,
/// or nothing when cancelled. The path stays on the Rust side (see profile_choice).
#[tauri::command]
pub async fn choose_profile_file<R: Runtime>(app: AppHandle<R>) -> Result<Option<String>, String> {
    crate::profile_choice::choose(&app).await
}
