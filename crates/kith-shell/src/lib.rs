//! What Kith's two desktop roles share, with no Tauri and no WebKit in it.
//!
//! Kith runs as two processes (DESIGN.md, principle 10, "One owner, two processes"):
//! - the tray role, `kith-tray`, owns the session and every secret, the tray,
//!   notifications, settings, launch at login and the single instance, and never
//!   links WebKit; this crate is most of it: [`shell`], [`session_control`],
//!   [`bridge`], [`view_update`], [`menu`], and the IPC [`host`] with the [`windows`]
//!   it starts;
//! - the window role, `kith-app`, the Tauri window, only renders what it is sent and
//!   asks for what it needs, through [`ipc::client`].
//!
//! Who calls whom in the tray role (`a ──> b`: a calls b):
//!
//! ```text
//! startup ────────┐
//! host (IPC) ─────┼──> session_control ──> bridge ──> Surface::notify
//! menu ───────────┘          │                │
//!                            └─> view_update <┘
//!                                  ├──> windows ──> the window role: kith:// events
//!                                  └──> Surface: tray icon and items; launch at login
//! pure, used throughout: view, settings, batcher, tray_view, display
//! (who is alerted for what is kith-core's `alerts`)
//! ```
//!
//! The three doors into the session (startup, the window's requests, the tray's menu)
//! go through [`session_control`], the one owner of the running session. Every change
//! to what is shown goes through [`view_update`], which tells the window and the tray.

pub mod alert_change;
pub mod batcher;
pub mod bridge;
pub mod display;
pub mod host;
pub mod ipc;
pub mod logging;
pub mod menu;
pub mod paths;
pub mod session_control;
pub mod settings;
pub mod shell;
pub mod tray_view;
pub mod view;
pub mod view_update;
pub mod windows;
