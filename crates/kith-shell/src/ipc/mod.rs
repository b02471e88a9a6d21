//! The one IPC vocabulary between Kith's two desktop roles: the tray role (`kith-tray`,
//! the one owner of the session and every secret) and the window role (`kith-app`, the
//! Tauri window, which only renders what it is sent and asks for what it needs).
//!
//! - Transport: a local socket ([`socket`]), private to the user: on Unix in
//!   `$XDG_RUNTIME_DIR/kith/` (0700), the peer's UID checked on both sides.
//! - Framing: newline-delimited JSON, one message a line, at most [`MAX_MESSAGE`]
//!   bytes ([`codec`]); a longer one ends the connection.
//! - Two enums: [`ToTray`] (a hello, then requests, each with an id) and [`FromTray`]
//!   (the welcome or a refusal, an answer per request id, the `kith://` view events in
//!   the order the tray role made them, and what to do with the window).
//! - A [`VERSION`] in the hello: a mismatch is refused with words that say so.
//! - Deadlines: the hello and every request have one ([`Request::deadline`]), and so
//!   does every write, so a hung peer becomes an error, never a stall.
//!
//! The page never sees any of this: the window role's Tauri commands keep their names
//! and capabilities and forward to the tray role through [`client`].

pub mod client;
pub mod codec;
pub mod loopback;
pub mod socket;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::alert_change::AlertChange;
use crate::session_control::{BrowserSignInRequest, SignInRequest};
use crate::settings::Settings;

/// The vocabulary's version. A peer speaking another one is refused at the hello.
pub const VERSION: u32 = 1;

/// The largest message either side sends or accepts, in bytes (the newline aside).
/// A 5,000-friend list is about 1 MB; this leaves room for ten times that.
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// How long a peer has to say hello (and the tray role to welcome it).
pub const HELLO_DEADLINE: Duration = Duration::from_secs(5);

/// How long one message may take to be written before the peer counts as hung.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(10);

/// Who is connecting to the tray role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The window role: it hears the view events and may send any request.
    Window,
    /// A second launch of `kith-tray`: it may only ask for the window.
    Launcher,
}

/// The first message of every connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u32,
    pub role: Role,
    /// The sender's process id, for the logs and the tray role's window bookkeeping.
    pub pid: u32,
}

impl Hello {
    pub fn new(role: Role) -> Self {
        Hello {
            version: VERSION,
            role,
            pid: std::process::id(),
        }
    }
}

/// Everything a client sends the tray role: a hello, then requests.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToTray {
    Hello(Hello),
    Request { id: u64, request: Request },
}

/// What the window role (or a launcher) asks of the tray role; each gets one [`Answer`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// The whole view as the page shows it: [`Reply::View`].
    GetView,
    /// A password sign-in, as the page sends it: [`Reply::Done`].
    SignIn(SignInRequest),
    /// Starts a sign-in through the system browser: [`Reply::BrowserUrl`], the address
    /// the window role opens in the browser.
    BeginBrowserSignIn(BrowserSignInRequest),
    /// Waits for that sign-in's outcome: [`Reply::Done`] once signed in.
    FinishBrowserSignIn,
    /// Cancels it: [`Reply::Done`].
    CancelBrowserSignIn,
    TryDemo,
    SignOut,
    ReconnectNow,
    /// The preferences the window may change: [`Reply::Settings`], as saved.
    SaveSettings(Settings),
    /// A star, a friend's rule, a one-shot or a snooze: [`Reply::Settings`], as saved.
    ChangeAlerts(AlertChange),
    /// The server profile file the user picked in the window role's native dialog.
    ProfileChosen(PathBuf),
    /// Open the window (or raise it), optionally at a friend: [`Reply::Done`].
    OpenWindow {
        friend: Option<String>,
    },
}

impl Request {
    /// How long the asker waits for the answer. A sign-in talks to the server and the
    /// keyring, each with deadlines of their own inside kith-core; this is the outer one.
    pub fn deadline(&self) -> Duration {
        match self {
            Request::SignIn(_) | Request::TryDemo | Request::SignOut => Duration::from_secs(90),
            Request::BeginBrowserSignIn(_) => Duration::from_secs(60),
            // The browser has `browser_timeout` (5 minutes by default, a day at most)
            // to come back; the loopback redirect's own deadline ends the wait first.
            Request::FinishBrowserSignIn => Duration::from_secs(24 * 60 * 60 + 60),
            _ => Duration::from_secs(15),
        }
    }

    /// The request's name, for logs (never its content: a sign-in holds a password).
    pub fn name(&self) -> &'static str {
        match self {
            Request::GetView => "get_view",
            Request::SignIn(_) => "sign_in",
            Request::BeginBrowserSignIn(_) => "begin_browser_sign_in",
            Request::FinishBrowserSignIn => "finish_browser_sign_in",
            Request::CancelBrowserSignIn => "cancel_browser_sign_in",
            Request::TryDemo => "try_demo",
            Request::SignOut => "sign_out",
            Request::ReconnectNow => "reconnect_now",
            Request::SaveSettings(_) => "save_settings",
            Request::ChangeAlerts(_) => "change_alerts",
            Request::ProfileChosen(_) => "profile_chosen",
            Request::OpenWindow { .. } => "open_window",
        }
    }
}

/// A request's answer: a typed reply, or the error as the page shows it.
pub type Answer = Result<Reply, String>;

/// The typed replies.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Done,
    /// The address of a browser sign-in, to open in the system browser.
    BrowserUrl(String),
    /// The page's `get_view` answer ([`crate::view::FullView`]), serialized once.
    View(Box<RawValue>),
    Settings(Settings),
}

/// Why the tray role refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The peer speaks another [`VERSION`].
    Version,
    /// A window is already open; it was raised instead.
    WindowOpen,
    /// The first message was not a hello.
    NoHello,
}

/// Everything the tray role sends a client.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FromTray {
    /// The hello was accepted; the tray role's version.
    Welcome {
        version: u32,
    },
    /// The hello was refused, in words for a log or a terminal; the connection ends.
    Refused {
        refusal: Refusal,
        detail: String,
    },
    Answer {
        id: u64,
        answer: Answer,
    },
    /// A `kith://` event for the page, in the order the tray role made it.
    Event {
        event: String,
        payload: Box<RawValue>,
    },
    /// Show the window and bring it to the front, optionally at a friend.
    Raise {
        friend: Option<String>,
    },
    /// A left click on the tray icon: close the window if it is on screen, else raise it.
    Toggle,
    /// Close the window (its process then ends).
    Close,
}

/// The words of a version refusal, the same on both sides.
pub fn version_mismatch(ours: u32, theirs: u32) -> String {
    format!(
        "Kith's tray process and its window speak different IPC versions ({theirs} and {ours}): \
         they come from different installs; quit Kith and start it again"
    )
}

/// Reads a connection's first line as a hello. The version is looked at first, in
/// whatever shape the rest has, so a peer from another version is told so in words
/// rather than "malformed". The error is what to send back.
pub fn check_hello(line: &[u8]) -> Result<Hello, (Refusal, String)> {
    let value: serde_json::Value = serde_json::from_slice(line).map_err(|_| {
        (
            Refusal::NoHello,
            "the first IPC message is not JSON".to_string(),
        )
    })?;
    let version = value
        .get("hello")
        .and_then(|hello| hello.get("version"))
        .and_then(serde_json::Value::as_u64)
        .ok_or((
            Refusal::NoHello,
            "the first IPC message must be a hello with a version".to_string(),
        ))?;
    if version != u64::from(VERSION) {
        let theirs = u32::try_from(version).unwrap_or(u32::MAX);
        return Err((Refusal::Version, version_mismatch(VERSION, theirs)));
    }
    match serde_json::from_value::<ToTray>(value) {
        Ok(ToTray::Hello(hello)) => Ok(hello),
        _ => Err((
            Refusal::NoHello,
            "the first IPC message must be a hello".to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hello_of_another_version_is_refused_in_words_whatever_its_shape() {
        let ours = serde_json::to_vec(&ToTray::Hello(Hello::new(Role::Window))).unwrap();
        assert_eq!(check_hello(&ours).unwrap().role, Role::Window);
        // A later version may say hello differently; its version is still read.
        let later = br#"{"hello":{"version":2,"role":"window","pid":1,"features":["x"]}}"#;
        let (refusal, detail) = check_hello(later).unwrap_err();
        assert_eq!(refusal, Refusal::Version);
        assert!(
            detail.contains("different IPC versions (2 and 1)"),
            "{detail}"
        );
        let older = br#"{"hello":{"version":0}}"#;
        assert_eq!(check_hello(older).unwrap_err().0, Refusal::Version);
        // Not a hello at all.
        let request = br#"{"request":{"id":1,"request":"get_view"}}"#;
        assert_eq!(check_hello(request).unwrap_err().0, Refusal::NoHello);
        assert_eq!(check_hello(b"not json").unwrap_err().0, Refusal::NoHello);
    }

    #[test]
    fn the_vocabulary_round_trips_and_a_payload_passes_through_as_it_is() {
        let event = FromTray::Event {
            event: "kith://session".into(),
            payload: RawValue::from_string(r#"{"signed_in":true,"username":"me"}"#.into()).unwrap(),
        };
        let text = serde_json::to_string(&event).unwrap();
        assert!(!text.contains('\n'));
        match serde_json::from_str::<FromTray>(&text).unwrap() {
            FromTray::Event { event, payload } => {
                assert_eq!(event, "kith://session");
                assert_eq!(payload.get(), r#"{"signed_in":true,"username":"me"}"#);
            }
            other => panic!("{other:?}"),
        }
        let hello = serde_json::to_string(&ToTray::Hello(Hello::new(Role::Window))).unwrap();
        assert!(hello.contains(&format!("\"version\":{VERSION}")), "{hello}");
    }

    #[test]
    fn a_sign_in_request_crosses_with_its_password_but_never_shows_it_in_debug() {
        let request: SignInRequest = serde_json::from_value(serde_json::json!({
            "server": "http://127.0.0.1:8000",
            "username": "me",
            "password": "correct-horse-battery",
        }))
        .unwrap();
        let wire = ToTray::Request {
            id: 7,
            request: Request::SignIn(request),
        };
        assert!(!format!("{wire:?}").contains("correct-horse"));
        let text = serde_json::to_string(&wire).unwrap();
        let back: ToTray = serde_json::from_str(&text).unwrap();
        match back {
            ToTray::Request {
                id: 7,
                request: Request::SignIn(request),
            } => assert_eq!(request.password.expose(), "correct-horse-battery"),
            other => panic!("{other:?}"),
        }
    }
}
