//! Reads this app's own `tauri.conf.json` (the defaults, a static page).

fn main() {
    tauri_build::build();
}
