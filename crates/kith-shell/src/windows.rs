//! The one window, seen from the tray role: a process of its own (`kith-app`, the
//! window role), started on demand and connected back over the IPC.
//!
//! - [`Windows::open`] raises the window if one is connected, and otherwise starts the
//!   window process (with `--friend ID` to open at a friend); a second request while
//!   one is starting does not start another.
//! - [`Windows::toggle`] (a left click on the tray icon) asks an open window to close
//!   if it is on screen, else to come to the front; with no window, it opens one.
//! - When the window process exits, is killed or crashes, its connection ends (and a
//!   reaper thread sees the process go): the slot is free and the next request starts
//!   a fresh window.
//! - A window role that connects while another is open (started by hand, or by
//!   WebDriver) is refused, and the open one is raised: one window at a time.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use tokio::sync::mpsc::UnboundedSender;

use crate::ipc::{FromTray, Refusal, VERSION};
use crate::shell::lock;

/// How long a started window process may take to connect before a new request starts
/// another (a debug build on a busy machine takes a few seconds).
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How the window process is started: the `kith-app` binary next to this one, or what
/// `KITH_WINDOW_EXE` names (tests; `KITH_WINDOW_ARGS`, whitespace-separated, go first).
#[derive(Debug, Clone)]
pub struct WindowCommand {
    pub exe: PathBuf,
    pub args: Vec<String>,
}

impl WindowCommand {
    pub fn from_env() -> std::io::Result<Self> {
        if let Some(exe) = std::env::var_os("KITH_WINDOW_EXE") {
            let args = std::env::var("KITH_WINDOW_ARGS")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            return Ok(WindowCommand {
                exe: exe.into(),
                args,
            });
        }
        let exe = std::env::current_exe()?
            .with_file_name(format!("kith-app{}", std::env::consts::EXE_SUFFIX));
        Ok(WindowCommand {
            exe,
            args: Vec::new(),
        })
    }
}

enum Slot {
    Closed,
    /// A window process was started and has not connected yet.
    Starting {
        pid: u32,
        since: Instant,
    },
    Open {
        connection: u64,
        pid: u32,
        to_window: UnboundedSender<FromTray>,
    },
}

/// The window as the tray role knows it. Shared as `Arc<Windows>`.
pub struct Windows {
    slot: Mutex<Slot>,
    command: Option<WindowCommand>,
}

/// A window connection refused because another window is open.
#[derive(Debug)]
pub struct AlreadyOpen;

impl Windows {
    /// `command` starts the window process; `None` never starts one (tests that only
    /// connect windows themselves).
    pub fn new(command: Option<WindowCommand>) -> Arc<Self> {
        Arc::new(Windows {
            slot: Mutex::new(Slot::Closed),
            command,
        })
    }

    /// Whether a window is connected.
    pub fn is_open(&self) -> bool {
        matches!(*lock(&self.slot), Slot::Open { .. })
    }

    /// The window process's id, while one is started or connected.
    pub fn pid(&self) -> Option<u32> {
        match *lock(&self.slot) {
            Slot::Starting { pid, .. } | Slot::Open { pid, .. } => Some(pid),
            Slot::Closed => None,
        }
    }

    /// Shows the window (at `friend`, if given): raises a connected one, else starts one.
    pub fn open(self: &Arc<Self>, friend: Option<&str>) {
        let mut slot = lock(&self.slot);
        match &*slot {
            Slot::Open { to_window, pid, .. } => {
                tracing::debug!(pid, friend, "raising the window");
                let _ = to_window.send(FromTray::Raise {
                    friend: friend.map(str::to_owned),
                });
            }
            Slot::Starting { pid, since } if since.elapsed() < START_TIMEOUT => {
                tracing::debug!(pid, "the window is starting already");
            }
            _ => {
                if let Some(started) = self.start(friend) {
                    *slot = started;
                }
            }
        }
    }

    /// A left click on the tray icon.
    pub fn toggle(self: &Arc<Self>) {
        {
            let slot = lock(&self.slot);
            if let Slot::Open { to_window, .. } = &*slot {
                let _ = to_window.send(FromTray::Toggle);
                return;
            }
        }
        self.open(None);
    }

    /// Asks an open window to close (Quit).
    pub fn close(&self) {
        if let Slot::Open { to_window, .. } = &*lock(&self.slot) {
            let _ = to_window.send(FromTray::Close);
        }
    }

    /// Sends a view event to the window, if one is connected. Called with the view
    /// locked, so events go out in the order they were made.
    pub fn emit(&self, event: &'static str, payload: Box<RawValue>) {
        if let Slot::Open { to_window, .. } = &*lock(&self.slot) {
            let _ = to_window.send(FromTray::Event {
                event: event.to_owned(),
                payload,
            });
        }
    }

    /// A window role said hello on `connection`: it becomes the window, welcomed
    /// before any event reaches it, unless another one is open (which is raised).
    pub(crate) fn attach(
        &self,
        connection: u64,
        pid: u32,
        to_window: UnboundedSender<FromTray>,
    ) -> Result<(), AlreadyOpen> {
        let mut slot = lock(&self.slot);
        if let Slot::Open {
            to_window: open, ..
        } = &*slot
        {
            if !open.is_closed() {
                let _ = open.send(FromTray::Raise { friend: None });
                let _ = to_window.send(FromTray::Refused {
                    refusal: Refusal::WindowOpen,
                    detail: "Kith's window is open already; it was brought to the front".into(),
                });
                return Err(AlreadyOpen);
            }
        }
        let _ = to_window.send(FromTray::Welcome { version: VERSION });
        tracing::info!(pid, connection, "the window connected");
        *slot = Slot::Open {
            connection,
            pid,
            to_window,
        };
        Ok(())
    }

    /// The window's connection ended (it closed, crashed or was killed).
    pub(crate) fn detach(&self, connection: u64) {
        let mut slot = lock(&self.slot);
        if matches!(&*slot, Slot::Open { connection: c, .. } if *c == connection) {
            tracing::info!(connection, "the window is gone");
            *slot = Slot::Closed;
        }
    }

    /// The window process `pid` exited.
    fn exited(&self, pid: u32) {
        let mut slot = lock(&self.slot);
        if matches!(&*slot, Slot::Starting { pid: p, .. } if *p == pid) {
            tracing::warn!(pid, "the window process exited before it connected");
            *slot = Slot::Closed;
        }
    }

    /// Starts the window process; the slot to record, or `None` if it cannot start.
    fn start(self: &Arc<Self>, friend: Option<&str>) -> Option<Slot> {
        let command = self.command.as_ref()?;
        let mut process = Command::new(&command.exe);
        process.args(&command.args).stdin(Stdio::null());
        if let Some(friend) = friend {
            process.args(["--friend", friend]);
        }
        match process.spawn() {
            Ok(child) => {
                let pid = child.id();
                tracing::info!(pid, exe = %command.exe.display(), friend, "started the window");
                self.reap(child);
                Some(Slot::Starting {
                    pid,
                    since: Instant::now(),
                })
            }
            Err(error) => {
                tracing::error!(%error, exe = %command.exe.display(), "cannot start the window");
                None
            }
        }
    }

    /// Waits for the window process on a thread of its own, so it never lingers as a
    /// zombie and a window that dies before connecting frees the slot.
    fn reap(self: &Arc<Self>, mut child: Child) {
        let windows = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("kith-window-reaper".into())
            .spawn(move || {
                let pid = child.id();
                let status = child.wait();
                tracing::info!(pid, ?status, "the window process ended");
                if let Some(windows) = windows.upgrade() {
                    windows.exited(pid);
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot watch the window process");
        }
    }
}
