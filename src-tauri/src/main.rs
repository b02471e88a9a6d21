//! Entry point of Kith's window role; everything is in the library (`kith_app`).

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    kith_app::run();
}
