//! The tray as a surface: one icon per connection state, a tooltip (also the status
//! line atop the menu, for hosts that show no tooltips) and the menu: Open Kith, the
//! online friends (favourites first), Reconnect now, Do not disturb, Snooze alerts and
//! Resume alerts, Launch at login, Sign out, Quit. What
//! to show is decided by kith-shell's pure `tray_view`; this module builds the tray
//! with `tray-icon` and `muda` and applies each [`TrayCommand`] on the one thread that
//! owns them (their objects are not `Send`): on Linux the main thread, which does
//! nothing else; elsewhere tao's event loop on the main thread, as the platform wants.
//! What the menu and a click do is kith-shell's `menu`, reached through [`TrayEvent`]s.
//!
//! On Linux the tray is a StatusNotifierItem (tray-icon's ksni backend), which needs a
//! host (a panel owning `org.kde.StatusNotifierWatcher` on the session bus). Where
//! there is none yet, as when a login launch beats the panel, Kith runs on without a
//! tray and tries again every [`RETRY_EVERY`].

use std::time::Duration;

use kith_shell::menu::item;
use kith_shell::tray_view::{TrayIcon as IconKind, TrayView};
use muda::{CheckMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tokio::sync::mpsc::UnboundedSender;
use tray_icon::{Icon, MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};

use crate::surface::TrayEvent;

/// How often a tray that could not be created is tried again.
pub const RETRY_EVERY: Duration = Duration::from_secs(5);

/// Index in the menu where the online friends start (after status, separator, Open,
/// separator).
const FRIENDS_AT: usize = 4;

/// What the tray's thread is asked to do.
#[derive(Debug)]
pub enum TrayCommand {
    Show(TrayView),
    Checks {
        do_not_disturb: bool,
        launch_at_login: bool,
    },
    /// End the loop (and so the process).
    Quit,
}

/// The tray as it is now, and what it should show: kept by the tray's thread.
#[derive(Default)]
struct Wanted {
    view: Option<TrayView>,
    do_not_disturb: bool,
    launch_at_login: bool,
}

struct Tray {
    icon: TrayIcon,
    menu: Menu,
    status: MenuItem,
    reconnect: MenuItem,
    dnd: CheckMenuItem,
    /// Undoes "Snooze alerts" (30 minutes, 1 hour, until tomorrow morning).
    unsnooze: MenuItem,
    autostart: CheckMenuItem,
    sign_out: MenuItem,
    friends: Vec<MenuItem>,
    shown: Option<TrayView>,
}

impl Tray {
    fn create(wanted: &Wanted) -> Result<Self, String> {
        let status = MenuItem::with_id(item::STATUS, "Kith — not signed in", false, None);
        let open = MenuItem::with_id(item::OPEN, "Open Kith", true, None);
        let reconnect = MenuItem::with_id(item::RECONNECT, "Reconnect now", false, None);
        let dnd = CheckMenuItem::with_id(
            item::DO_NOT_DISTURB,
            "Do not disturb",
            true,
            wanted.do_not_disturb,
            None,
        );
        let snooze = Submenu::with_items(
            "Snooze alerts",
            true,
            &[
                &MenuItem::with_id(item::SNOOZE_HALF_HOUR, "For 30 minutes", true, None),
                &MenuItem::with_id(item::SNOOZE_HOUR, "For 1 hour", true, None),
                &MenuItem::with_id(
                    item::SNOOZE_UNTIL_MORNING,
                    "Until tomorrow morning",
                    true,
                    None,
                ),
            ],
        )
        .map_err(|e| e.to_string())?;
        let unsnooze = MenuItem::with_id(item::UNSNOOZE, "Resume alerts", false, None);
        let autostart = CheckMenuItem::with_id(
            item::LAUNCH_AT_LOGIN,
            "Launch at login",
            true,
            wanted.launch_at_login,
            None,
        );
        let sign_out = MenuItem::with_id(item::SIGN_OUT, "Sign out", false, None);
        let quit = MenuItem::with_id(item::QUIT, "Quit Kith", true, None);
        let menu = Menu::with_items(&[
            &status,
            &PredefinedMenuItem::separator(),
            &open,
            &PredefinedMenuItem::separator(),
            &PredefinedMenuItem::separator(),
            &reconnect,
            &dnd,
            &snooze,
            &unsnooze,
            &autostart,
            &sign_out,
            &PredefinedMenuItem::separator(),
            &quit,
        ])
        .map_err(|e| e.to_string())?;
        let builder = TrayIconBuilder::new()
            .with_id("kith")
            .with_icon(icon(IconKind::SignedOut)?)
            // On macOS, a template image: drawn from the alpha channel only, in the
            // menu bar's own colour. The state icons differ by shape, so they still read.
            .with_icon_as_template(true)
            .with_tooltip("Kith — not signed in")
            .with_menu(Box::new(menu.clone()))
            .with_menu_on_left_click(false);
        // The StatusNotifierItem's name for hosts (and the tooltip's heading). Elsewhere
        // a title is text drawn beside the icon, which Kith does not want.
        #[cfg(target_os = "linux")]
        let builder = builder.with_title("Kith");
        let icon = builder.build().map_err(|e| e.to_string())?;
        let mut tray = Tray {
            icon,
            menu,
            status,
            reconnect,
            dnd,
            unsnooze,
            autostart,
            sign_out,
            friends: Vec::new(),
            shown: None,
        };
        if let Some(view) = &wanted.view {
            tray.show(view)?;
        }
        Ok(tray)
    }

    fn show(&mut self, view: &TrayView) -> Result<(), String> {
        let last = self.shown.as_ref();
        if last.map(|l| l.icon) != Some(view.icon) {
            self.icon
                .set_icon(Some(icon(view.icon)?))
                .map_err(|e| e.to_string())?;
            self.icon.set_icon_as_template(true);
        }
        if last.map(|l| &l.tooltip) != Some(&view.tooltip) {
            self.icon
                .set_tooltip(Some(&view.tooltip))
                .map_err(|e| e.to_string())?;
            self.status.set_text(&view.tooltip);
        }
        self.reconnect.set_enabled(view.can_reconnect);
        self.sign_out.set_enabled(view.signed_in);
        self.unsnooze.set_enabled(view.snoozed);
        let same_friends = last.is_some_and(|l| {
            l.online_friends == view.online_friends && l.more_online == view.more_online
        });
        if !same_friends {
            for item in self.friends.drain(..) {
                self.menu.remove(&item).map_err(|e| e.to_string())?;
            }
            let mut labels: Vec<String> = view
                .online_friends
                .iter()
                .map(|n| format!("● {n}"))
                .collect();
            if view.more_online > 0 {
                labels.push(format!("and {} more online", view.more_online));
            }
            for (offset, label) in labels.iter().enumerate() {
                let item = MenuItem::new(label, false, None);
                self.menu
                    .insert(&item, FRIENDS_AT + offset)
                    .map_err(|e| e.to_string())?;
                self.friends.push(item);
            }
        }
        self.shown = Some(view.clone());
        Ok(())
    }

    fn checks(&self, wanted: &Wanted) {
        self.dnd.set_checked(wanted.do_not_disturb);
        self.autostart.set_checked(wanted.launch_at_login);
    }
}

/// A state's icon, decoded from its PNG.
fn icon(kind: IconKind) -> Result<Icon, String> {
    let decoder = png::Decoder::new(std::io::Cursor::new(kind.png()));
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let mut rgba = vec![0; reader.output_buffer_size().unwrap_or(0)];
    let info = reader.next_frame(&mut rgba).map_err(|e| e.to_string())?;
    if info.color_type != png::ColorType::Rgba || info.bit_depth != png::BitDepth::Eight {
        return Err(format!(
            "the tray icon is {:?} {:?}, not 8-bit RGBA",
            info.color_type, info.bit_depth
        ));
    }
    rgba.truncate(info.buffer_size());
    Icon::from_rgba(rgba, info.width, info.height).map_err(|e| e.to_string())
}

/// The tray's state machine, whichever loop drives it: commands in, the tray built (or
/// retried) and kept as wanted.
struct Keeper {
    tray: Option<Tray>,
    wanted: Wanted,
    /// Whether "no tray" was logged already.
    missing: bool,
}

impl Keeper {
    fn new() -> Self {
        Keeper {
            tray: None,
            wanted: Wanted::default(),
            missing: false,
        }
    }

    /// Tries to create the tray if there is none yet.
    fn ensure(&mut self) {
        if self.tray.is_some() {
            return;
        }
        match Tray::create(&self.wanted) {
            Ok(tray) => {
                if self.missing {
                    tracing::info!("tray shown: a tray host appeared");
                }
                self.tray = Some(tray);
            }
            Err(error) if !self.missing => {
                self.missing = true;
                tracing::warn!(
                    %error,
                    retry_every_s = RETRY_EVERY.as_secs(),
                    "no tray: the desktop has no tray host (StatusNotifierWatcher) yet; Kith runs on without one"
                );
            }
            Err(error) => tracing::debug!(%error, "still no tray"),
        }
    }

    /// Applies a command; false for Quit.
    fn handle(&mut self, command: TrayCommand) -> bool {
        match command {
            TrayCommand::Show(view) => {
                if let Some(tray) = &mut self.tray {
                    if let Err(error) = tray.show(&view) {
                        tracing::warn!(%error, "cannot update the tray");
                    }
                }
                self.wanted.view = Some(view);
            }
            TrayCommand::Checks {
                do_not_disturb,
                launch_at_login,
            } => {
                self.wanted.do_not_disturb = do_not_disturb;
                self.wanted.launch_at_login = launch_at_login;
                if let Some(tray) = &self.tray {
                    tray.checks(&self.wanted);
                }
            }
            TrayCommand::Quit => return false,
        }
        true
    }
}

/// Sends the menu's and the icon's events to the runtime.
fn forward_events(events: UnboundedSender<TrayEvent>) {
    let menu_events = events.clone();
    MenuEvent::set_event_handler(Some(move |event: MenuEvent| {
        let _ = menu_events.send(TrayEvent::Menu(event.id().0.clone()));
    }));
    TrayIconEvent::set_event_handler(Some(move |event: TrayIconEvent| {
        if let TrayIconEvent::Click {
            button: MouseButton::Left,
            button_state: MouseButtonState::Up,
            ..
        } = event
        {
            let _ = events.send(TrayEvent::Click);
        }
    }));
}

#[cfg(all(target_os = "linux", not(feature = "tao-host")))]
pub use plain::{start, TrayHandle};

/// Linux: the ksni tray is a D-Bus object served on threads of its own, the menu a
/// snapshot it exports; nothing needs a GUI toolkit's loop. The main thread keeps the
/// tray and waits for commands.
#[cfg(all(target_os = "linux", not(feature = "tao-host")))]
mod plain {
    use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
    use std::sync::Mutex;

    use super::*;

    /// Where commands for the tray go; any thread may send.
    pub struct TrayHandle(Mutex<Sender<TrayCommand>>);

    impl TrayHandle {
        pub fn send(&self, command: TrayCommand) {
            let sender = self.0.lock().unwrap_or_else(|p| p.into_inner());
            let _ = sender.send(command);
        }
    }

    /// The tray's loop, run on the main thread until Quit.
    pub struct TrayLoop {
        commands: Receiver<TrayCommand>,
    }

    pub fn start(events: UnboundedSender<TrayEvent>) -> (TrayHandle, TrayLoop) {
        forward_events(events);
        let (sender, commands) = channel();
        (TrayHandle(Mutex::new(sender)), TrayLoop { commands })
    }

    impl TrayLoop {
        pub fn run(self) {
            let mut keeper = Keeper::new();
            loop {
                keeper.ensure();
                let wait = if keeper.tray.is_some() {
                    Duration::from_secs(3600)
                } else {
                    RETRY_EVERY
                };
                match self.commands.recv_timeout(wait) {
                    Ok(command) => {
                        if !keeper.handle(command) {
                            return;
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        }
    }
}

#[cfg(any(not(target_os = "linux"), feature = "tao-host"))]
pub use with_tao::{start, TrayHandle};

/// macOS and Windows (and Linux with the `tao-host` feature): the tray belongs to the
/// platform's event loop on the main thread, as Tauri's does; commands arrive as the
/// loop's user events, and a tray that could not be made is retried on a timer.
#[cfg(any(not(target_os = "linux"), feature = "tao-host"))]
mod with_tao {
    use std::sync::Mutex;
    use std::time::Instant;

    use tao::event::{Event, StartCause};
    use tao::event_loop::{ControlFlow, EventLoop, EventLoopBuilder, EventLoopProxy};

    use super::*;

    /// Where commands for the tray go; any thread may send.
    pub struct TrayHandle(Mutex<EventLoopProxy<TrayCommand>>);

    impl TrayHandle {
        pub fn send(&self, command: TrayCommand) {
            let proxy = self.0.lock().unwrap_or_else(|p| p.into_inner());
            let _ = proxy.send_event(command);
        }
    }

    /// The platform's event loop, run on the main thread until Quit.
    pub struct TrayLoop {
        event_loop: EventLoop<TrayCommand>,
    }

    pub fn start(events: UnboundedSender<TrayEvent>) -> (TrayHandle, TrayLoop) {
        forward_events(events);
        let event_loop = EventLoopBuilder::<TrayCommand>::with_user_event().build();
        #[cfg(target_os = "macos")]
        let event_loop = {
            use tao::platform::macos::{ActivationPolicy, EventLoopExtMacOS};
            let mut event_loop = event_loop;
            // A tray app: no Dock icon (not verified on a Mac; CI builds it).
            event_loop.set_activation_policy(ActivationPolicy::Accessory);
            event_loop
        };
        let proxy = event_loop.create_proxy();
        (TrayHandle(Mutex::new(proxy)), TrayLoop { event_loop })
    }

    impl TrayLoop {
        pub fn run(self) {
            let mut keeper = Keeper::new();
            self.event_loop.run(move |event, _, control_flow| {
                match event {
                    Event::NewEvents(StartCause::Init)
                    | Event::NewEvents(StartCause::ResumeTimeReached { .. }) => keeper.ensure(),
                    Event::UserEvent(command) => {
                        if !keeper.handle(command) {
                            keeper.tray = None;
                            *control_flow = ControlFlow::Exit;
                            return;
                        }
                    }
                    _ => {}
                }
                *control_flow = if keeper.tray.is_some() {
                    ControlFlow::Wait
                } else {
                    ControlFlow::WaitUntil(Instant::now() + RETRY_EVERY)
                };
            });
        }
    }
}
