//! Reads the root `tauri.conf.json` and `capabilities/`, and declares the app's own
//! commands so that each one needs an explicit grant in a capability.

const COMMANDS: &[&str] = &[
    "get_view",
    "sign_in",
    "try_demo",
    "sign_out",
    "reconnect_now",
    "save_settings",
    "change_alerts",
    "close_window",
    "choose_profile_file",
    "sign_in_with_browser",
    "cancel_browser_sign_in",
];

fn main() {
    let attributes = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        .capabilities_path_pattern("../capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(error) = tauri_build::try_build(attributes) {
        panic!("tauri build failed: {error:#}");
    }
}
