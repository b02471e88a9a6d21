//! The server profile file a user signs in with, chosen through the OS's own file
//! dialog (tauri-plugin-dialog). The dialog is opened from Rust, on a command, so the
//! window is granted no dialog or file-system permission of its own; and the path it
//! returns goes from here to the tray role (which signs in with it), never through the
//! page: the window's sign-in only says "the chosen file", so a page can never make
//! Kith read a path it names.

use kith_shell::ipc::Request;
use tauri::{AppHandle, Runtime};
use tauri_plugin_dialog::DialogExt;

use crate::link::Link;

/// Opens the file dialog and keeps what the user picked; returns the file's path to
/// show, or `None` when the dialog was cancelled (the earlier choice then stays).
pub async fn choose<R: Runtime>(app: &AppHandle<R>, link: &Link) -> Result<Option<String>, String> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    app.dialog()
        .file()
        .set_title("Choose a Kith server profile")
        .add_filter("Kith server profile (TOML)", &["toml"])
        .pick_file(move |picked| {
            let _ = sender.send(picked);
        });
    let picked = receiver
        .await
        .map_err(|_| "The file dialog closed without an answer.".to_string())?;
    let Some(picked) = picked else {
        return Ok(None);
    };
    let path = picked
        .into_path()
        .map_err(|error| format!("Kith cannot use that file: {error}"))?;
    let shown = path.display().to_string();
    tracing::info!(path = %shown, "server profile file chosen");
    link.request(Request::ProfileChosen(path)).await?;
    Ok(Some(shown))
}
