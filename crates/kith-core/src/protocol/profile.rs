//! Server profiles: how a backend wants to be spoken to.
//!
//! A profile names the auth API's paths and JSON field names, where the refresh token
//! travels (JSON body or an httpOnly cookie), which WebSocket auth transports to use,
//! and the timing policies. Profiles load from TOML or are built in code; the default
//! is Django SimpleJWT, the backend of seeds 000 and 001. [`ServerProfile::resolve`] is
//! the one way the app and the CLI turn the user's choices into a checked profile.
//!
//! A profile file is outside input: the app's webview may name any path. So
//! [`ServerProfile::validate`] bounds every field that timers and buffers are built
//! from (no duration above [`MAX_PROFILE_DURATION`], no zero where zero makes no
//! sense), auth API URLs must stay on the server's origin, a parse error reports a
//! line and column but never the file's text, and plaintext to a remote host needs the
//! user's own opt-in, which a file cannot give.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::proxy::ProxyUrl;

/// Everything Kith needs to know about one backend.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerProfile {
    /// A short name shown to the user, e.g. "django-simplejwt".
    pub name: String,
    /// Base URL of the HTTP auth API, e.g. `http://127.0.0.1:8000`.
    pub server: String,
    /// WebSocket URL; when empty it is derived from `server` and `ws_path`.
    pub ws_url: String,
    /// Path of the presence socket, used when `ws_url` is empty.
    pub ws_path: String,
    /// `ws://` or `http://` to a host that is not loopback is refused unless this is set.
    /// Only the user can set it: [`ServerProfile::resolve`] takes it from its caller
    /// (the CLI's `--allow-insecure`, the app's "Allow unencrypted connection"), and
    /// the value in a profile file is ignored.
    pub allow_insecure_remote: bool,
    /// The HTTP proxy for the auth API and the socket, `http://[user:pass@]host:port`;
    /// it wins over `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` (`NO_PROXY` still applies).
    /// Its credentials are redacted in Debug output and logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxyUrl>,
    /// Extra trust for the auth API and the socket.
    pub tls: TlsProfile,
    /// The HTTP auth API: paths, field names, the refresh token's transport, timeouts.
    pub auth: AuthApiProfile,
    /// The presence socket: framing, auth transports, keepalive and deadlines.
    pub socket: SocketProfile,
    /// When the access token is refreshed, and how failed refreshes back off.
    pub refresh: RefreshPolicy,
    /// How the socket backs off and when it gives up.
    pub reconnect: ReconnectPolicy,
    /// How Kith catches up after a disconnect when the socket sends no snapshot.
    pub resync: ResyncProfile,
}

/// How Kith learns what changed while it was disconnected, for a backend whose socket
/// sends no `presence_snapshot` (or as well as one).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ResyncProfile {
    /// A path on the server (e.g. `/api/friends/`) that lists the signed-in user's
    /// friends with their status. Kith GETs it with `Authorization: Bearer <access>`
    /// after every connect and reconnect and applies the list as a resync. The answer
    /// is a JSON array of friend records, or an object whose `friends` field is one
    /// (the shape of `presence_snapshot`); records have the fields of `status_update`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_path: Option<String>,
}

/// What to trust besides the OS trust store.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsProfile {
    /// A PEM bundle of extra certificate authorities (a private CA), trusted for the
    /// auth API and the socket alongside the OS store. A relative path in a profile
    /// file is relative to that file's directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

/// How Kith signs in and renews the socket token: three ways of obtaining the same
/// two things, a socket token and a long-lived secret to renew it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// A username and password posted as JSON to `login_path`; a refresh token
    /// renews the access token at `refresh_path` (SimpleJWT, seeds 000–002, 004).
    #[default]
    Password,
    /// Next-Auth (seed 003): the credentials provider signs in, the session cookie is
    /// the long-lived secret, and `/api/auth/session` gives the socket token.
    Nextauth,
    /// The system browser (OAuth 2.0 for native apps, RFC 8252, with OpenID Connect):
    /// authorization code with PKCE through a loopback redirect; the refresh token is
    /// the long-lived secret. Settings in `auth.oidc`.
    Oidc,
}

/// Next-Auth's own paths and names, for `auth.kind = "nextauth"`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct NextAuthProfile {
    /// Where Next-Auth's routes live (`[...nextauth].js`): `/api/auth`.
    pub base_path: String,
    /// The credentials provider's id: `credentials`.
    pub provider: String,
    /// The session field that holds the backend token: `token` (seed 003's
    /// `session.token = token.accessToken`), or e.g. `accessToken`.
    pub token_field: String,
    /// The session cookie's name; empty means Next-Auth's own choice:
    /// `next-auth.session-token`, or `__Secure-next-auth.session-token` on https.
    pub session_cookie: String,
}

impl Default for NextAuthProfile {
    fn default() -> Self {
        NextAuthProfile {
            base_path: "/api/auth".into(),
            provider: "credentials".into(),
            token_field: "token".into(),
            session_cookie: String::new(),
        }
    }
}

/// The HTTP auth API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthApiProfile {
    /// How Kith signs in: `password` (the default), or `nextauth`.
    pub kind: AuthKind,
    /// Next-Auth's paths and names, used when `kind = "nextauth"`.
    pub nextauth: NextAuthProfile,
    /// The OpenID provider, required when `kind = "oidc"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc: Option<crate::token::oidc::OidcSettings>,
    /// Path of the login endpoint (username and password in, tokens out).
    pub login_path: String,
    /// Path of the refresh endpoint (refresh token in, a new access token out).
    pub refresh_path: String,
    /// Path of the logout endpoint, which revokes the refresh token.
    pub logout_path: String,
    /// Optional token verification endpoint (`{token}` → 200).
    pub verify_path: Option<String>,
    /// Field of the login request that holds the username.
    pub username_field: String,
    /// Field of the login request that holds the password.
    pub password_field: String,
    /// Field of the login/refresh response holding the access token ("access", or "token" in seed 004).
    pub access_field: String,
    /// Field holding the refresh token in bodies (request and response).
    pub refresh_field: String,
    /// Where the refresh token travels.
    pub refresh_transport: RefreshTransport,
    /// Name of the refresh cookie when `refresh_transport = "cookie"`.
    pub refresh_cookie: String,
    /// Timeout of each auth request (login, logout, verify).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Deadline of a refresh request; at least `request_timeout`. Longer than other
    /// requests on purpose: with rotating refresh tokens the server invalidates the old
    /// refresh token as soon as it issues the new one, so a refresh that times out
    /// after the server rotated loses the new token, and with it the session.
    #[serde(with = "humantime_serde")]
    pub refresh_timeout: Duration,
    /// Extra HTTP statuses of the refresh endpoint that mean the session is over (the
    /// refresh token is no longer accepted), on top of 400 and 401, which always do;
    /// e.g. `[403]`. Only 3xx and 4xx can be listed: 2xx is success, 5xx and 429 are
    /// transient failures that are retried, 1xx is no answer.
    pub session_end_statuses: Vec<u16>,
}

/// Where the refresh token travels between Kith and the auth API.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RefreshTransport {
    /// In the JSON body, as SimpleJWT does.
    Body,
    /// In an httpOnly cookie set by login and refresh, as in seed 004.
    Cookie,
}

/// One way of presenting the access token to the WebSocket server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum WsAuthTransport {
    /// `?<param>=<token>` on the URL (seeds 000, 002).
    Query {
        /// The query parameter's name.
        param: String,
    },
    /// `Authorization: Bearer <token>` on the upgrade request (seed 004).
    Bearer,
    /// `Sec-WebSocket-Protocol: <protocol>, <token>` (seed 001).
    Subprotocol {
        /// The subprotocol named before the token.
        protocol: String,
    },
    /// A cookie on the upgrade request.
    Cookie {
        /// The cookie's name.
        name: String,
    },
    /// A first message `{"type":"auth","payload":{"token":…}}`, answered by
    /// `auth_success` or `auth_error` (seed 002). Also enables in-band re-authentication.
    Message,
}

/// How messages are framed on the socket.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum WireProtocol {
    /// One JSON object per text frame (seeds 000–002, 004).
    #[default]
    Json,
    /// Engine.IO v4 / Socket.IO v5 over WebSocket (seed 003); the token travels in
    /// the CONNECT packet's `auth`.
    SocketIo,
}

/// The presence socket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SocketProfile {
    /// Message framing: `json` or `socket_io`.
    pub protocol: WireProtocol,
    /// Auth transports, combined on every connect.
    pub auth: Vec<WsAuthTransport>,
    /// Interval of WebSocket ping frames.
    #[serde(with = "humantime_serde")]
    pub ping_interval: Duration,
    /// Silence beyond `ping_interval + dead_grace` means the connection is dead.
    #[serde(with = "humantime_serde")]
    pub dead_grace: Duration,
    /// Also send app-level `{"type":"PING"}` and expect `{"type":"PONG"}` (seed 002).
    pub app_ping: bool,
    /// The server sends a `presence_snapshot` after auth; a handover waits for it, at
    /// most `snapshot_wait`.
    pub snapshot_on_connect: bool,
    /// How long a handover socket waits for its snapshot after authenticating; past it,
    /// the socket is promoted without one (logged once, at info).
    #[serde(with = "humantime_serde")]
    pub snapshot_wait: Duration,
    /// The longest a socket a handover replaced is still read after the new one takes
    /// over. It is closed sooner, as soon as the new socket's messages show it has
    /// caught up: a backend such as Django Channels drops what it had queued for a
    /// socket once its client closes it, and a change sent just before the new socket
    /// joined exists only there.
    #[serde(with = "humantime_serde")]
    pub handover_drain: Duration,
    /// Socket.IO: dead-server detection follows the `pingInterval + pingTimeout` of the
    /// server's Engine.IO open packet; `false` uses `ping_interval + dead_grace`.
    pub server_heartbeat: bool,
    /// Socket.IO namespace of CONNECT, events, acks and DISCONNECT, e.g. `/presence`.
    pub namespace: String,
    /// Deadline for the TCP connect, the upgrade and in-band auth together.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Deadline of the liveness probe sent after a resume from sleep.
    #[serde(with = "humantime_serde")]
    pub wake_probe_timeout: Duration,
    /// Largest accepted message; larger ones are dropped with a typed error.
    pub max_message_bytes: usize,
}

/// When to refresh ahead of expiry: at `exp − min(lead_max, lifetime × lead_fraction)`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RefreshPolicy {
    /// The longest lead: the refresh is never earlier than this before expiry.
    #[serde(with = "humantime_serde")]
    pub lead_max: Duration,
    /// The lead as a fraction of the token's lifetime, for short-lived tokens.
    pub lead_fraction: f64,
    /// Backoff of retried (transient) refresh failures.
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    /// The longest wait between retried refreshes.
    #[serde(with = "humantime_serde")]
    pub retry_cap: Duration,
}

/// Reconnect backoff: exponential from `base`, capped at `cap`, then full jitter.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReconnectPolicy {
    /// The backoff ceiling after the first failed attempt; it doubles with each more.
    #[serde(with = "humantime_serde")]
    pub base: Duration,
    /// The highest the backoff ceiling goes.
    #[serde(with = "humantime_serde")]
    pub cap: Duration,
    /// A connection up this long resets the attempt counter.
    #[serde(with = "humantime_serde")]
    pub stable_after: Duration,
    /// Give up after this many failed attempts in a row; `None` retries forever.
    pub max_attempts: Option<u32>,
}

impl Default for ServerProfile {
    fn default() -> Self {
        ServerProfile {
            name: "django-simplejwt".into(),
            server: "http://127.0.0.1:8000".into(),
            ws_url: String::new(),
            ws_path: "/ws/friends/status/".into(),
            allow_insecure_remote: false,
            proxy: None,
            tls: TlsProfile::default(),
            auth: AuthApiProfile::default(),
            socket: SocketProfile::default(),
            refresh: RefreshPolicy::default(),
            reconnect: ReconnectPolicy::default(),
            resync: ResyncProfile::default(),
        }
    }
}

impl Default for AuthApiProfile {
    fn default() -> Self {
        AuthApiProfile {
            kind: AuthKind::Password,
            nextauth: NextAuthProfile::default(),
            oidc: None,
            login_path: "/api/auth/login/".into(),
            refresh_path: "/api/auth/token/refresh/".into(),
            logout_path: "/api/auth/logout/".into(),
            verify_path: Some("/api/auth/token/verify/".into()),
            username_field: "username".into(),
            password_field: "password".into(),
            access_field: "access".into(),
            refresh_field: "refresh".into(),
            refresh_transport: RefreshTransport::Body,
            refresh_cookie: "refresh_token".into(),
            request_timeout: Duration::from_secs(10),
            refresh_timeout: Duration::from_secs(30),
            session_end_statuses: Vec::new(),
        }
    }
}

impl Default for SocketProfile {
    fn default() -> Self {
        SocketProfile {
            protocol: WireProtocol::Json,
            auth: vec![WsAuthTransport::Query {
                param: "token".into(),
            }],
            ping_interval: Duration::from_secs(20),
            dead_grace: Duration::from_secs(10),
            app_ping: false,
            snapshot_on_connect: true,
            snapshot_wait: Duration::from_secs(1),
            handover_drain: Duration::from_secs(1),
            server_heartbeat: true,
            namespace: "/".into(),
            connect_timeout: Duration::from_secs(10),
            wake_probe_timeout: Duration::from_secs(3),
            max_message_bytes: 16 * 1024 * 1024,
        }
    }
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            lead_max: Duration::from_secs(5 * 60),
            lead_fraction: 0.25,
            retry_base: Duration::from_millis(500),
            retry_cap: Duration::from_secs(30),
        }
    }
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            stable_after: Duration::from_secs(10),
            max_attempts: None,
        }
    }
}

/// Where a profile starts from, before the user's overrides are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileSource<'a> {
    /// A TOML profile file.
    File(&'a Path),
    /// A built-in preset by name, as in [`ServerProfile::preset`].
    Preset(&'a str),
    /// The default (SimpleJWT) profile.
    Default,
}

/// A built-in preset as a sign-in form offers it: its name for
/// [`ServerProfile::preset`] and a short description of the backend style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Preset {
    /// The name [`ServerProfile::preset`] and `kith --preset` take.
    pub name: &'static str,
    /// What a user picks it by.
    pub label: &'static str,
}

/// The built-in presets, the default (SimpleJWT) first.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "django-simplejwt",
        label: "Django + SimpleJWT (token in the URL)",
    },
    Preset {
        name: "bearer-cookie",
        label: "Bearer header, refresh token in a cookie",
    },
    Preset {
        name: "auth-message",
        label: "Token in an auth message on the socket",
    },
    Preset {
        name: "socketio",
        label: "Socket.IO",
    },
    Preset {
        name: "nextauth-socketio",
        label: "Next-Auth sign-in, Socket.IO presence",
    },
];

/// The longest any duration in a profile may be. Timers are built by adding these to
/// the clock; a day is far beyond any sensible timeout or backoff, and far below
/// anything that could overflow.
pub const MAX_PROFILE_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// The accepted range of `socket.max_message_bytes`: 1 KiB to 256 MiB.
pub const MESSAGE_BYTES_RANGE: std::ops::RangeInclusive<usize> = 1024..=256 * 1024 * 1024;

/// The longest accepted `socket.namespace`, in bytes.
pub const MAX_NAMESPACE_BYTES: usize = 128;

/// A Socket.IO namespace: `/` or `/name`, printable ASCII without `,` (which ends the
/// namespace in a packet), spaces or a `?`, at most [`MAX_NAMESPACE_BYTES`].
fn check_namespace(namespace: &str) -> Result<(), ProfileError> {
    let reason = if !namespace.starts_with('/') {
        Some("must start with /".to_string())
    } else if namespace.len() > MAX_NAMESPACE_BYTES {
        Some(format!("is longer than {MAX_NAMESPACE_BYTES} bytes"))
    } else if !namespace
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b',' && b != b'?')
    {
        Some("may hold only printable ASCII, without spaces, commas or ?".to_string())
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ProfileError::Invalid {
            field: "socket.namespace",
            reason,
        }),
        None => Ok(()),
    }
}

/// The longest accepted `resync.http_path`, in bytes.
pub const MAX_RESYNC_PATH_BYTES: usize = 512;

/// A resync path: `/` then printable ASCII without spaces (a query is allowed), at most
/// [`MAX_RESYNC_PATH_BYTES`]; `//host` would leave the server, so it is refused.
fn check_resync_path(path: &str) -> Result<(), ProfileError> {
    let reason = if !path.starts_with('/') {
        Some("must start with / (a path on the server)".to_string())
    } else if path.starts_with("//") {
        Some("must be a path on the server, not //host".to_string())
    } else if path.len() > MAX_RESYNC_PATH_BYTES {
        Some(format!("is longer than {MAX_RESYNC_PATH_BYTES} bytes"))
    } else if !path.bytes().all(|b| b.is_ascii_graphic() && b != b'#') {
        Some("may hold only printable ASCII, without spaces or #".to_string())
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ProfileError::Invalid {
            field: "resync.http_path",
            reason,
        }),
        None => Ok(()),
    }
}

/// Refresh statuses that always end the session: the refresh token was refused.
pub const ALWAYS_SESSION_END_STATUSES: [u16; 2] = [400, 401];

/// A profile that cannot be used, with what is wrong in words. No variant quotes a
/// profile file's text beyond the URLs it names, and those without any userinfo,
/// query or fragment.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file is not TOML or does not fit the profile's shape. `reason` is the
    /// parser's message with anything it quoted from the file left out. `line` and
    /// `column` are 1-based (characters), or 0 when the parser gave no position.
    #[error("profile is not valid TOML at line {line}, column {column}: {reason}")]
    Toml {
        /// The line of the error.
        line: usize,
        /// The column of the error.
        column: usize,
        /// What the parser said.
        reason: String,
    },
    /// The profile file could not be read.
    #[error("cannot read profile {path}: {source}")]
    Read {
        /// The file's path.
        path: String,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// A URL that cannot be used: it does not parse, names no host, or has the wrong
    /// scheme.
    #[error("server URL {url:?} is not valid: {reason}")]
    BadUrl {
        /// The URL as it may be shown: without userinfo, query or fragment.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `ws://` or `http://` URL to a host that is not loopback, without the user's
    /// opt-in.
    #[error("{url} is unencrypted and not on this machine; to use it anyway, opt in with the CLI's --allow-insecure or the app's \"Allow unencrypted connection\" (a profile file's allow_insecure_remote does not count)")]
    InsecureRemote {
        /// The URL.
        url: String,
    },
    /// The server is `https` but this URL would travel in plaintext.
    #[error("{url} is unencrypted but the server {server} uses https; use https:// or wss://")]
    Downgrade {
        /// The plaintext URL.
        url: String,
        /// The `https` server.
        server: String,
    },
    /// An auth API URL that leaves the server's origin (an absolute or `//host` path).
    #[error("auth API URL {url} is not on the server's origin {origin}; use a path on the server")]
    CrossOrigin {
        /// The URL.
        url: String,
        /// The server's origin.
        origin: String,
    },
    /// A field out of its bounds ([`ServerProfile::validate`]), or an unknown preset.
    #[error("profile field {field} is invalid: {reason}")]
    Invalid {
        /// The field, as `section.name`, or `preset`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl ProfileError {
    /// A TOML error as line, column and a message that quotes nothing from `text`.
    fn toml(error: &toml::de::Error, text: &str) -> Self {
        let (line, column) = match error.span() {
            Some(span) => line_and_column(text, span.start),
            None => (0, 0),
        };
        ProfileError::Toml {
            line,
            column,
            reason: unquoted(error.message()),
        }
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Words a parser message may quote without quoting the file: the profile's own field
/// names and enum values (serde lists them as what it expected).
const SCHEMA_WORDS: &[&str] = &[
    "name",
    "server",
    "ws_url",
    "ws_path",
    "allow_insecure_remote",
    "auth",
    "socket",
    "refresh",
    "reconnect",
    "login_path",
    "refresh_path",
    "logout_path",
    "verify_path",
    "username_field",
    "password_field",
    "access_field",
    "refresh_field",
    "refresh_transport",
    "refresh_cookie",
    "request_timeout",
    "refresh_timeout",
    "session_end_statuses",
    "protocol",
    "ping_interval",
    "dead_grace",
    "app_ping",
    "snapshot_on_connect",
    "snapshot_wait",
    "server_heartbeat",
    "namespace",
    "connect_timeout",
    "wake_probe_timeout",
    "max_message_bytes",
    "lead_max",
    "lead_fraction",
    "retry_base",
    "retry_cap",
    "base",
    "cap",
    "stable_after",
    "max_attempts",
    "resync",
    "http_path",
    "kind",
    "param",
    "body",
    "cookie",
    "query",
    "bearer",
    "subprotocol",
    "message",
    "json",
    "socket_io",
];

/// A parser message with everything between quotes or backticks (which serde and toml
/// use to cite the input: keys, values, characters) replaced by `…`, on one line.
/// Kept are the profile's own words ([`SCHEMA_WORDS`]) and a few punctuation marks
/// (toml names the characters it expected), which cannot carry a file's secret.
fn unquoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut open: Option<char> = None;
    let mut quoted = String::new();
    for c in message.chars() {
        match open {
            Some(close) if c == close => {
                let harmless = SCHEMA_WORDS.contains(&quoted.as_str())
                    || (quoted.chars().count() <= 2
                        && quoted.chars().all(|c| c.is_ascii_punctuation()));
                out.push_str(if harmless { &quoted } else { "…" });
                out.push(c);
                quoted.clear();
                open = None;
            }
            Some(_) => quoted.push(c),
            None if matches!(c, '`' | '"' | '\'') => {
                out.push(c);
                open = Some(c);
            }
            None if c == '\n' || c == '\r' => out.push_str("; "),
            None if c.is_control() => {}
            None => out.push(c),
        }
    }
    if open.is_some() {
        out.push('…');
    }
    out.truncate(out.trim_end().len());
    out
}

/// A URL as it may appear in an error: without userinfo, query or fragment.
fn shown(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// URL text that did not parse, as it may appear in an error: anything up to an `@`
/// (possible userinfo) and from a `?` or `#` on is left out.
fn shown_text(text: &str) -> String {
    let text = text.split(['?', '#']).next().unwrap_or_default();
    let text = match text.rfind('@') {
        Some(at) => match text.find("://") {
            Some(scheme_end) if scheme_end < at => {
                format!("{}://…@{}", &text[..scheme_end], &text[at + 1..])
            }
            _ => format!("…@{}", &text[at + 1..]),
        },
        None => text.to_string(),
    };
    text.chars().take(200).collect()
}

impl ServerProfile {
    /// The default (SimpleJWT) profile pointed at `server`.
    pub fn simplejwt(server: impl Into<String>) -> Self {
        ServerProfile {
            server: server.into(),
            ..ServerProfile::default()
        }
    }

    /// Parses a TOML profile; fields left out keep their defaults. Like any profile
    /// text, it cannot allow plaintext to a remote host: `allow_insecure_remote` is
    /// read but ignored (see [`ServerProfile::resolve`]).
    pub fn from_toml(text: &str) -> Result<Self, ProfileError> {
        let profile = Self::parse(text)?;
        profile.validate()?;
        Ok(profile)
    }

    /// Reads and parses a TOML profile file, as [`ServerProfile::from_toml`].
    pub fn from_file(path: &Path) -> Result<Self, ProfileError> {
        let profile = Self::read_unchecked(path)?;
        profile.validate()?;
        Ok(profile)
    }

    /// Builds the profile to use from a source, an optional `server` URL that replaces
    /// the source's, and `allow_insecure`, the user's own opt-in to plaintext to a
    /// remote host (the CLI's `--allow-insecure`, the app's "Allow unencrypted
    /// connection"). That flag alone decides `allow_insecure_remote`: a file's
    /// `allow_insecure_remote = true` is ignored, since the app may load a file it did
    /// not write. The result is validated once, after the overrides, so a file's
    /// remote `http://` server is accepted when the user allows it.
    pub fn resolve(
        source: ProfileSource<'_>,
        server: Option<&str>,
        allow_insecure: bool,
    ) -> Result<Self, ProfileError> {
        let mut profile = match source {
            ProfileSource::File(path) => Self::read_unchecked(path)?,
            ProfileSource::Preset(name) => Self::preset(name, ServerProfile::default().server)?,
            ProfileSource::Default => ServerProfile::default(),
        };
        if let Some(server) = server {
            profile.server = server.to_string();
        }
        profile.allow_insecure_remote = allow_insecure;
        profile.validate()?;
        Ok(profile)
    }

    /// Reads and parses a TOML profile file without validating it.
    fn read_unchecked(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut profile = Self::parse(&text)?;
        if let (Some(ca_file), Some(dir)) = (&profile.tls.ca_file, path.parent()) {
            if ca_file.is_relative() {
                profile.tls.ca_file = Some(dir.join(ca_file));
            }
        }
        Ok(profile)
    }

    /// Parses profile text without validating it. The text's `allow_insecure_remote`
    /// is dropped: only the user's opt-in can set it.
    fn parse(text: &str) -> Result<Self, ProfileError> {
        let mut profile: ServerProfile =
            toml::from_str(text).map_err(|error| ProfileError::toml(&error, text))?;
        profile.allow_insecure_remote = false;
        Ok(profile)
    }

    /// The profile as TOML text, every field written out; [`ServerProfile::from_toml`]
    /// reads it back.
    pub fn to_toml(&self) -> String {
        // Serializing plain data to TOML cannot fail for this type; fall back to an
        // empty document rather than panic if it ever does.
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks URLs, transports and policies, so that mistakes surface at load time:
    /// every URL parses and is encrypted (or loopback, or allowed), auth API URLs stay
    /// on the server's origin, every duration is above zero and at most
    /// [`MAX_PROFILE_DURATION`], and the other numbers are in their ranges.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let server = self.server_url()?;
        self.check_secure(&server)?;
        let ws = self.socket_url()?;
        // Before the insecure check: no opt-in makes this combination acceptable.
        if server.scheme() == "https" && ws.scheme() != "wss" {
            return Err(ProfileError::Downgrade {
                url: shown(&ws),
                server: shown(&server),
            });
        }
        self.check_secure(&ws)?;
        let auth = &self.auth;
        for path in [&auth.login_path, &auth.refresh_path, &auth.logout_path]
            .into_iter()
            .chain(auth.verify_path.as_ref())
        {
            self.api_url(path)?;
        }
        match (auth.kind, &auth.oidc) {
            (AuthKind::Oidc, None) => {
                return Err(ProfileError::Invalid {
                    field: "auth.oidc",
                    reason: "kind = \"oidc\" needs [auth.oidc] with issuer and client_id".into(),
                })
            }
            (AuthKind::Oidc, Some(oidc)) => {
                oidc.validate().map_err(|error| ProfileError::Invalid {
                    field: "auth.oidc",
                    reason: error.to_string(),
                })?
            }
            _ => {}
        }
        if self.socket.auth.is_empty() {
            return Err(ProfileError::Invalid {
                field: "socket.auth",
                reason: "at least one auth transport is needed".into(),
            });
        }
        let socket = &self.socket;
        let refresh = &self.refresh;
        let reconnect = &self.reconnect;
        for (field, value) in [
            ("auth.request_timeout", auth.request_timeout),
            ("auth.refresh_timeout", auth.refresh_timeout),
            ("socket.ping_interval", socket.ping_interval),
            ("socket.dead_grace", socket.dead_grace),
            ("socket.connect_timeout", socket.connect_timeout),
            ("socket.wake_probe_timeout", socket.wake_probe_timeout),
            ("socket.snapshot_wait", socket.snapshot_wait),
            ("refresh.lead_max", refresh.lead_max),
            ("refresh.retry_base", refresh.retry_base),
            ("refresh.retry_cap", refresh.retry_cap),
            ("reconnect.base", reconnect.base),
            ("reconnect.cap", reconnect.cap),
            ("reconnect.stable_after", reconnect.stable_after),
        ] {
            check_duration(field, value)?;
        }
        for (field, low, high, low_name) in [
            (
                "auth.refresh_timeout",
                auth.request_timeout,
                auth.refresh_timeout,
                "auth.request_timeout",
            ),
            (
                "refresh.retry_cap",
                refresh.retry_base,
                refresh.retry_cap,
                "refresh.retry_base",
            ),
            (
                "reconnect.cap",
                reconnect.base,
                reconnect.cap,
                "reconnect.base",
            ),
        ] {
            if high < low {
                return Err(ProfileError::Invalid {
                    field,
                    reason: format!(
                        "{} is less than {low_name} ({})",
                        show_duration(high),
                        show_duration(low)
                    ),
                });
            }
        }
        // Written so that NaN fails too.
        if !(refresh.lead_fraction > 0.0 && refresh.lead_fraction < 1.0) {
            return Err(ProfileError::Invalid {
                field: "refresh.lead_fraction",
                reason: format!(
                    "must be more than 0 and less than 1, not {}",
                    refresh.lead_fraction
                ),
            });
        }
        if !MESSAGE_BYTES_RANGE.contains(&socket.max_message_bytes) {
            return Err(ProfileError::Invalid {
                field: "socket.max_message_bytes",
                reason: format!(
                    "must be from {} to {}, not {}",
                    MESSAGE_BYTES_RANGE.start(),
                    MESSAGE_BYTES_RANGE.end(),
                    socket.max_message_bytes
                ),
            });
        }
        check_namespace(&socket.namespace)?;
        if let Some(path) = &self.resync.http_path {
            check_resync_path(path)?;
            self.api_url(path)?;
        }
        if reconnect.max_attempts == Some(0) {
            return Err(ProfileError::Invalid {
                field: "reconnect.max_attempts",
                reason: "must be at least 1 when set; leave it out to retry forever".into(),
            });
        }
        for &status in &auth.session_end_statuses {
            let refused = match status {
                429 => Some("429 asks to retry later"),
                300..=499 => None,
                100..=199 => Some("a 1xx status is not a final answer"),
                200..=299 => Some("a 2xx status is a success"),
                500..=599 => Some("a 5xx status is a transient server failure"),
                _ => Some("it is not an HTTP status"),
            };
            if let Some(why) = refused {
                return Err(ProfileError::Invalid {
                    field: "auth.session_end_statuses",
                    reason: format!("{status} cannot end the session: {why}"),
                });
            }
        }
        Ok(())
    }

    /// The auth API's base URL.
    pub fn server_url(&self) -> Result<Url, ProfileError> {
        let url = Url::parse(&self.server).map_err(|error| ProfileError::BadUrl {
            url: shown_text(&self.server),
            reason: error.to_string(),
        })?;
        match url.scheme() {
            "http" | "https" if url.has_host() => Ok(url),
            "http" | "https" => Err(ProfileError::BadUrl {
                url: shown(&url),
                reason: "it names no host".into(),
            }),
            other => Err(ProfileError::BadUrl {
                url: shown(&url),
                reason: format!("scheme {:?} is not http or https", shown_text(other)),
            }),
        }
    }

    /// The presence socket's URL, without any token.
    pub fn socket_url(&self) -> Result<Url, ProfileError> {
        if !self.ws_url.is_empty() {
            let url = Url::parse(&self.ws_url).map_err(|error| ProfileError::BadUrl {
                url: shown_text(&self.ws_url),
                reason: error.to_string(),
            })?;
            return match url.scheme() {
                "ws" | "wss" if url.has_host() => Ok(url),
                "ws" | "wss" => Err(ProfileError::BadUrl {
                    url: shown(&url),
                    reason: "it names no host".into(),
                }),
                other => Err(ProfileError::BadUrl {
                    url: shown(&url),
                    reason: format!("scheme {:?} is not ws or wss", shown_text(other)),
                }),
            };
        }
        let mut url = self.server_url()?;
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(scheme).map_err(|()| ProfileError::BadUrl {
            url: shown(&url),
            reason: "cannot derive a WebSocket URL".into(),
        })?;
        url.set_path(&self.ws_path);
        Ok(url)
    }

    /// An absolute auth API URL for `path`, which must stay on the server's origin
    /// (scheme, host and port): a relative path, or an absolute URL on the same
    /// origin. Credentials are sent to these URLs, so another origin is refused with
    /// [`ProfileError::CrossOrigin`], and so an `https` server never yields plaintext.
    pub fn api_url(&self, path: &str) -> Result<Url, ProfileError> {
        let server = self.server_url()?;
        let url = server.join(path).map_err(|error| ProfileError::BadUrl {
            url: shown_text(path),
            reason: error.to_string(),
        })?;
        if url.origin() != server.origin() {
            return Err(ProfileError::CrossOrigin {
                url: shown(&url),
                origin: server.origin().ascii_serialization(),
            });
        }
        Ok(url)
    }

    /// The absolute URL of the resync endpoint, when the profile names one.
    pub fn resync_url(&self) -> Result<Option<Url>, ProfileError> {
        match &self.resync.http_path {
            Some(path) => {
                check_resync_path(path)?;
                self.api_url(path).map(Some)
            }
            None => Ok(None),
        }
    }

    /// Whether an HTTP status from the refresh endpoint means the session is over:
    /// 400 and 401 always, and any status in `auth.session_end_statuses`.
    pub fn refresh_ends_session(&self, status: u16) -> bool {
        ALWAYS_SESSION_END_STATUSES.contains(&status)
            || self.auth.session_end_statuses.contains(&status)
    }

    /// Whether the socket is authenticated by a message after opening (an `auth`
    /// message, or Socket.IO's CONNECT), so that Kith waits for its acknowledgement.
    pub fn authenticates_by_message(&self) -> bool {
        self.socket.protocol == WireProtocol::SocketIo
            || self.socket.auth.contains(&WsAuthTransport::Message)
    }

    /// Whether a refreshed token is presented on the open socket (`auth` message) rather
    /// than by a make-before-break handover. Socket.IO has no in-band re-auth.
    pub fn authenticates_in_band(&self) -> bool {
        self.socket.protocol == WireProtocol::Json
            && self.socket.auth.contains(&WsAuthTransport::Message)
    }

    /// A named preset for one of the backend styles Kith is tested against, pointed at
    /// `server`: `django-simplejwt`, `bearer-cookie`, `auth-message` or `socketio`.
    pub fn preset(name: &str, server: impl Into<String>) -> Result<Self, ProfileError> {
        let mut profile = ServerProfile::simplejwt(server);
        match name {
            "django-simplejwt" => {}
            "bearer-cookie" => {
                profile.name = name.into();
                profile.auth.access_field = "token".into();
                profile.auth.refresh_transport = RefreshTransport::Cookie;
                profile.auth.refresh_cookie = "refresh_token".into();
                profile.socket.auth = vec![WsAuthTransport::Bearer];
            }
            "auth-message" => {
                profile.name = name.into();
                profile.socket.auth = vec![
                    WsAuthTransport::Query {
                        param: "token".into(),
                    },
                    WsAuthTransport::Message,
                ];
                profile.socket.app_ping = true;
            }
            "socketio" => {
                profile.name = name.into();
                profile.ws_path = "/socket.io/".into();
                profile.socket.protocol = WireProtocol::SocketIo;
                profile.socket.auth = vec![WsAuthTransport::Message];
            }
            "nextauth-socketio" => {
                // Seed 003: Next-Auth's credentials provider signs in; the backend token
                // from the session goes in the Socket.IO CONNECT packet's `auth`.
                profile.name = name.into();
                profile.auth.kind = AuthKind::Nextauth;
                profile.ws_path = "/socket.io/".into();
                profile.socket.protocol = WireProtocol::SocketIo;
                profile.socket.auth = vec![WsAuthTransport::Message];
            }
            other => {
                return Err(ProfileError::Invalid {
                    field: "preset",
                    reason: format!(
                        "unknown preset {other:?}; known: django-simplejwt, bearer-cookie, auth-message, socketio"
                    ),
                })
            }
        }
        Ok(profile)
    }

    /// A stable key naming this backend in the credential store.
    pub fn account_key(&self) -> String {
        match self.server_url() {
            Ok(url) => format!(
                "{}://{}{}",
                url.scheme(),
                url.host_str().unwrap_or(""),
                url.port().map(|p| format!(":{p}")).unwrap_or_default()
            ),
            Err(_) => self.server.clone(),
        }
    }

    fn check_secure(&self, url: &Url) -> Result<(), ProfileError> {
        let plain = matches!(url.scheme(), "http" | "ws");
        if plain && !self.allow_insecure_remote && !is_loopback(url) {
            return Err(ProfileError::InsecureRemote { url: shown(url) });
        }
        Ok(())
    }
}

/// Refuses zero and anything above [`MAX_PROFILE_DURATION`].
fn check_duration(field: &'static str, value: Duration) -> Result<(), ProfileError> {
    if value.is_zero() || value > MAX_PROFILE_DURATION {
        return Err(ProfileError::Invalid {
            field,
            reason: format!(
                "must be more than 0 and at most {}, not {}",
                show_duration(MAX_PROFILE_DURATION),
                show_duration(value)
            ),
        });
    }
    Ok(())
}

fn show_duration(value: Duration) -> String {
    humantime_serde::re::humantime::format_duration(value).to_string()
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_is_simplejwt_with_query_token() {
        let profile = ServerProfile::simplejwt("http://127.0.0.1:9000");
        profile.validate().unwrap();
        assert_eq!(
            profile.socket_url().unwrap().as_str(),
            "ws://127.0.0.1:9000/ws/friends/status/"
        );
        assert_eq!(
            profile.api_url(&profile.auth.login_path).unwrap().as_str(),
            "http://127.0.0.1:9000/api/auth/login/"
        );
        assert!(!profile.authenticates_in_band());
    }

    #[test]
    fn toml_overrides_only_what_it_names() {
        let profile = ServerProfile::from_toml(
            r#"
            name = "go-bearer"
            server = "https://presence.example.com"
            [auth]
            access_field = "token"
            refresh_transport = "cookie"
            [socket]
            ping_interval = "15s"
            auth = [{ kind = "bearer" }, { kind = "cookie", name = "access_token" }]
            [reconnect]
            max_attempts = 5
            "#,
        )
        .unwrap();
        assert_eq!(profile.auth.access_field, "token");
        assert_eq!(profile.auth.refresh_transport, RefreshTransport::Cookie);
        assert_eq!(profile.auth.login_path, "/api/auth/login/");
        assert_eq!(profile.socket.ping_interval, Duration::from_secs(15));
        assert_eq!(profile.reconnect.max_attempts, Some(5));
        assert_eq!(
            profile.socket_url().unwrap().as_str(),
            "wss://presence.example.com/ws/friends/status/"
        );
        let round_trip = ServerProfile::from_toml(&profile.to_toml()).unwrap();
        assert_eq!(round_trip, profile);
    }

    #[test]
    fn proxy_and_ca_file_round_trip_and_the_proxy_password_stays_out_of_debug() {
        let profile = ServerProfile::from_toml(
            r#"
            server = "https://presence.example.com"
            proxy = "http://me:hunter2@proxy.corp:3128"
            [tls]
            ca_file = "/etc/kith/corp-ca.pem"
            "#,
        )
        .unwrap();
        assert_eq!(
            profile.tls.ca_file.as_deref(),
            Some(Path::new("/etc/kith/corp-ca.pem"))
        );
        let proxy = profile.proxy.as_ref().unwrap();
        assert_eq!(proxy.authority(), ("proxy.corp".to_string(), 3128));
        let shown = format!("{profile:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("proxy.corp:3128"), "{shown}");
        assert_eq!(
            ServerProfile::from_toml(&profile.to_toml()).unwrap(),
            profile
        );
        // A bad proxy is refused without repeating the value.
        let error = ServerProfile::from_toml(
            "server = \"https://a.example\"\nproxy = \"socks5://me:hunter2@p:1\"",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("http://"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn a_relative_ca_file_is_relative_to_the_profile_file() {
        let dir = std::env::temp_dir().join(format!("kith-profile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("corp.toml");
        std::fs::write(
            &path,
            "server = \"https://a.example\"\n[tls]\nca_file = \"corp-ca.pem\"\n",
        )
        .unwrap();
        let profile = ServerProfile::from_file(&path).unwrap();
        assert_eq!(profile.tls.ca_file, Some(dir.join("corp-ca.pem")));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn plaintext_to_a_remote_host_is_refused_unless_allowed() {
        let mut profile = ServerProfile::simplejwt("http://presence.example.com");
        assert!(matches!(
            profile.validate(),
            Err(ProfileError::InsecureRemote { .. })
        ));
        profile.allow_insecure_remote = true;
        profile.validate().unwrap();
        ServerProfile::simplejwt("http://localhost:8000")
            .validate()
            .unwrap();
    }

    #[test]
    fn profile_files_match_the_presets() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|entry| {
                let name = entry.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(".toml").map(str::to_owned)
            })
            .collect();
        files.sort();
        let mut listed: Vec<String> = PRESETS.iter().map(|p| p.name.to_owned()).collect();
        listed.sort();
        assert_eq!(
            files, listed,
            "PRESETS lists every profile file, and only those"
        );
        assert_eq!(
            ServerProfile::preset(PRESETS[0].name, "http://127.0.0.1:8000").unwrap(),
            ServerProfile::default(),
            "the first preset is the default"
        );
        for name in PRESETS.iter().map(|p| p.name) {
            let file = ServerProfile::from_file(&dir.join(format!("{name}.toml")))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let preset = ServerProfile::preset(name, file.server.clone()).unwrap();
            assert_eq!(file, preset, "profiles/{name}.toml differs from the preset");
        }
        assert!(ServerProfile::preset("carrier-pigeon", "http://127.0.0.1").is_err());
    }

    #[test]
    fn bad_toml_and_bad_fields_are_typed_errors() {
        assert!(matches!(
            ServerProfile::from_toml("server = ["),
            Err(ProfileError::Toml { .. })
        ));
        assert!(matches!(
            ServerProfile::from_toml("unknown_key = 1"),
            Err(ProfileError::Toml { .. })
        ));
        assert!(matches!(
            ServerProfile::from_toml("server = \"ftp://x\""),
            Err(ProfileError::BadUrl { .. })
        ));
        assert!(matches!(
            ServerProfile::from_toml("[socket]\nauth = []"),
            Err(ProfileError::Invalid { .. })
        ));
    }

    /// A TOML file in the temp directory, removed when dropped.
    struct TempProfile(std::path::PathBuf);

    impl TempProfile {
        fn new(tag: &str, text: &str) -> Self {
            let path = std::env::temp_dir()
                .join(format!("kith-profile-{}-{tag}.toml", std::process::id()));
            std::fs::write(&path, text).unwrap();
            TempProfile(path)
        }
    }

    impl Drop for TempProfile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn resolve_file_keeps_its_fields_and_takes_the_server_override() {
        let file = TempProfile::new(
            "override",
            "name = \"go-bearer\"\nserver = \"http://127.0.0.1:8080\"\n[auth]\naccess_field = \"token\"\n",
        );
        let source = ProfileSource::File(&file.0);
        let kept = ServerProfile::resolve(source, None, false).unwrap();
        assert_eq!(kept.server, "http://127.0.0.1:8080");
        let profile =
            ServerProfile::resolve(source, Some("https://presence.example.com"), false).unwrap();
        assert_eq!(profile.server, "https://presence.example.com");
        assert_eq!(profile.name, "go-bearer");
        assert_eq!(profile.auth.access_field, "token");
        assert!(!profile.allow_insecure_remote);
        assert!(matches!(
            ServerProfile::resolve(
                ProfileSource::File(Path::new("/nonexistent/kith/profile.toml")),
                None,
                false
            ),
            Err(ProfileError::Read { .. })
        ));
    }

    #[test]
    fn resolve_preset_takes_the_server_override() {
        let profile = ServerProfile::resolve(
            ProfileSource::Preset("bearer-cookie"),
            Some("https://presence.example.com"),
            false,
        )
        .unwrap();
        assert_eq!(
            profile,
            ServerProfile::preset("bearer-cookie", "https://presence.example.com").unwrap()
        );
        assert_eq!(profile.socket.auth, vec![WsAuthTransport::Bearer]);
        let plain = ServerProfile::resolve(ProfileSource::Preset("socketio"), None, false).unwrap();
        assert_eq!(plain.server, ServerProfile::default().server);
        assert_eq!(plain.socket.protocol, WireProtocol::SocketIo);
    }

    #[test]
    fn resolve_default_is_simplejwt_at_the_given_server() {
        assert_eq!(
            ServerProfile::resolve(ProfileSource::Default, None, false).unwrap(),
            ServerProfile::default()
        );
        assert_eq!(
            ServerProfile::resolve(
                ProfileSource::Default,
                Some("https://presence.example.com"),
                false
            )
            .unwrap(),
            ServerProfile::simplejwt("https://presence.example.com")
        );
    }

    #[test]
    fn resolve_rejects_a_profile_that_is_invalid_after_overrides() {
        assert!(matches!(
            ServerProfile::resolve(ProfileSource::Default, Some("ftp://x"), false),
            Err(ProfileError::BadUrl { .. })
        ));
        assert!(matches!(
            ServerProfile::resolve(ProfileSource::Preset("carrier-pigeon"), None, false),
            Err(ProfileError::Invalid {
                field: "preset",
                ..
            })
        ));
        let file = TempProfile::new("invalid", "[socket]\nauth = []\n");
        assert!(matches!(
            ServerProfile::resolve(
                ProfileSource::File(&file.0),
                Some("https://presence.example.com"),
                true
            ),
            Err(ProfileError::Invalid {
                field: "socket.auth",
                ..
            })
        ));
    }

    #[test]
    fn resolve_applies_allow_insecure_to_every_source() {
        let remote = Some("http://presence.example.com");
        for source in [
            ProfileSource::Default,
            ProfileSource::Preset("auth-message"),
        ] {
            assert!(matches!(
                ServerProfile::resolve(source, remote, false),
                Err(ProfileError::InsecureRemote { .. })
            ));
            let profile = ServerProfile::resolve(source, remote, true).unwrap();
            assert!(profile.allow_insecure_remote);
            assert_eq!(profile.server, "http://presence.example.com");
        }
        // A file naming a remote plaintext server is usable once the user allows it.
        let file = TempProfile::new("insecure", "server = \"http://presence.example.com\"\n");
        let source = ProfileSource::File(&file.0);
        assert!(matches!(
            ServerProfile::resolve(source, None, false),
            Err(ProfileError::InsecureRemote { .. })
        ));
        assert!(
            ServerProfile::resolve(source, None, true)
                .unwrap()
                .allow_insecure_remote
        );
        // A file cannot opt in by itself: only the caller's flag counts.
        let allowing = TempProfile::new(
            "allowing",
            "server = \"http://presence.example.com\"\nallow_insecure_remote = true\n",
        );
        let source = ProfileSource::File(&allowing.0);
        let refused = ServerProfile::resolve(source, None, false).unwrap_err();
        assert!(
            matches!(refused, ProfileError::InsecureRemote { .. }),
            "{refused}"
        );
        let message = refused.to_string();
        for hint in [
            "--allow-insecure",
            "Allow unencrypted connection",
            "allow_insecure_remote",
        ] {
            assert!(message.contains(hint), "{message}");
        }
        assert!(
            ServerProfile::resolve(source, None, true)
                .unwrap()
                .allow_insecure_remote
        );
        // Nor through from_toml / from_file.
        assert!(matches!(
            ServerProfile::from_file(&allowing.0),
            Err(ProfileError::InsecureRemote { .. })
        ));
        // A file on loopback that says true still gets false.
        let local = ServerProfile::from_toml("allow_insecure_remote = true").unwrap();
        assert!(!local.allow_insecure_remote);
        // And the caller's false wins over a preset or a code-built default.
        assert!(
            !ServerProfile::resolve(ProfileSource::Default, None, false)
                .unwrap()
                .allow_insecure_remote
        );
    }

    fn invalid_field(text: &str) -> &'static str {
        match ServerProfile::from_toml(text) {
            Err(ProfileError::Invalid { field, .. }) => field,
            other => panic!("{text}: expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn every_duration_is_bounded_and_named_in_the_error() {
        for (section, key, field) in [
            ("auth", "request_timeout", "auth.request_timeout"),
            ("auth", "refresh_timeout", "auth.refresh_timeout"),
            ("socket", "ping_interval", "socket.ping_interval"),
            ("socket", "dead_grace", "socket.dead_grace"),
            ("socket", "connect_timeout", "socket.connect_timeout"),
            ("socket", "wake_probe_timeout", "socket.wake_probe_timeout"),
            ("socket", "snapshot_wait", "socket.snapshot_wait"),
            ("refresh", "lead_max", "refresh.lead_max"),
            ("refresh", "retry_base", "refresh.retry_base"),
            ("refresh", "retry_cap", "refresh.retry_cap"),
            ("reconnect", "base", "reconnect.base"),
            ("reconnect", "cap", "reconnect.cap"),
            ("reconnect", "stable_after", "reconnect.stable_after"),
        ] {
            for value in ["0s", "25h", "500000000000years"] {
                let text = format!("[{section}]\n{key} = \"{value}\"\n");
                assert_eq!(invalid_field(&text), field, "{text}");
            }
            let text = format!("[{section}]\n{key} = \"24h\"\n");
            let error = ServerProfile::from_toml(&text);
            assert!(
                !matches!(error, Err(ProfileError::Invalid { field: f, .. }) if f == field),
                "{text}: a day is allowed"
            );
        }
        let message = ServerProfile::from_toml("[socket]\nping_interval = \"500000000000years\"")
            .unwrap_err()
            .to_string();
        assert!(message.contains("socket.ping_interval"), "{message}");
        assert!(message.contains("at most 1day"), "{message}");
    }

    #[test]
    fn a_namespace_is_a_path_without_separators() {
        assert_eq!(ServerProfile::default().socket.namespace, "/");
        assert_eq!(
            ServerProfile::default().socket.snapshot_wait,
            Duration::from_secs(1)
        );
        for bad in ["", "presence", "/a,b", "/a b", "/a\\u0007", "/ä"] {
            assert_eq!(
                invalid_field(&format!("[socket]\nnamespace = \"{bad}\"")),
                "socket.namespace",
                "{bad}"
            );
        }
        let long = format!("/{}", "a".repeat(MAX_NAMESPACE_BYTES));
        assert_eq!(
            invalid_field(&format!("[socket]\nnamespace = \"{long}\"")),
            "socket.namespace"
        );
        let profile = ServerProfile::from_toml("[socket]\nnamespace = \"/presence-v2\"").unwrap();
        assert_eq!(profile.socket.namespace, "/presence-v2");
    }

    #[test]
    fn a_resync_path_is_a_bounded_path_on_the_server() {
        assert_eq!(ServerProfile::default().resync.http_path, None);
        assert_eq!(ServerProfile::default().resync_url().unwrap(), None);
        let profile = ServerProfile::from_toml(
            "server = \"https://presence.example.com\"\n[resync]\nhttp_path = \"/api/friends/?with=status\"",
        )
        .unwrap();
        assert_eq!(
            profile.resync_url().unwrap().unwrap().as_str(),
            "https://presence.example.com/api/friends/?with=status"
        );
        assert_eq!(
            ServerProfile::from_toml(&profile.to_toml()).unwrap(),
            profile
        );
        let long = format!("/{}", "a".repeat(MAX_RESYNC_PATH_BYTES));
        for bad in [
            "",
            "api/friends/",
            "//evil.example.com/friends",
            "https://evil.example.com/friends",
            "/api/friends/ list",
            "/api/friends/#top",
            "/api/\\u0007",
            "/ä",
            long.as_str(),
        ] {
            let text = format!("[resync]\nhttp_path = \"{bad}\"");
            let error = ServerProfile::from_toml(&text).unwrap_err();
            assert!(
                matches!(
                    error,
                    ProfileError::Invalid {
                        field: "resync.http_path",
                        ..
                    }
                ),
                "{bad}: {error:?}"
            );
        }
        let message = ServerProfile::from_toml("[resync]\nhttp_path = \"api/friends/\"")
            .unwrap_err()
            .to_string();
        assert!(message.contains("resync.http_path"), "{message}");
        assert!(message.contains("must start with /"), "{message}");
        let at_cap = format!("/{}", "a".repeat(MAX_RESYNC_PATH_BYTES - 1));
        ServerProfile::from_toml(&format!("[resync]\nhttp_path = \"{at_cap}\"")).unwrap();
    }

    #[test]
    fn ordered_durations_and_ranges_are_checked() {
        assert_eq!(
            invalid_field("[auth]\nrequest_timeout = \"40s\"\nrefresh_timeout = \"30s\""),
            "auth.refresh_timeout"
        );
        assert_eq!(
            invalid_field("[refresh]\nretry_base = \"1m\"\nretry_cap = \"30s\""),
            "refresh.retry_cap"
        );
        assert_eq!(
            invalid_field("[reconnect]\nbase = \"1m\"\ncap = \"30s\""),
            "reconnect.cap"
        );
        for fraction in ["0.0", "1.0", "-0.5", "1.5", "nan", "inf"] {
            assert_eq!(
                invalid_field(&format!("[refresh]\nlead_fraction = {fraction}")),
                "refresh.lead_fraction",
                "{fraction}"
            );
        }
        ServerProfile::from_toml("[refresh]\nlead_fraction = 0.9").unwrap();
        for bytes in ["0", "1023", "268435457", "9223372036854775807"] {
            assert_eq!(
                invalid_field(&format!("[socket]\nmax_message_bytes = {bytes}")),
                "socket.max_message_bytes",
                "{bytes}"
            );
        }
        ServerProfile::from_toml("[socket]\nmax_message_bytes = 1024").unwrap();
        assert_eq!(
            invalid_field("[reconnect]\nmax_attempts = 0"),
            "reconnect.max_attempts"
        );
        ServerProfile::from_toml("[reconnect]\nmax_attempts = 1").unwrap();
    }

    #[test]
    fn refresh_timeout_and_session_end_statuses() {
        let profile = ServerProfile::default();
        assert_eq!(profile.auth.refresh_timeout, Duration::from_secs(30));
        assert!(profile.auth.session_end_statuses.is_empty());
        assert!(profile.refresh_ends_session(400));
        assert!(profile.refresh_ends_session(401));
        assert!(!profile.refresh_ends_session(403));
        let profile = ServerProfile::from_toml(
            "[auth]\nrefresh_timeout = \"1m\"\nsession_end_statuses = [403, 419, 302]",
        )
        .unwrap();
        assert_eq!(profile.auth.refresh_timeout, Duration::from_secs(60));
        assert!(profile.refresh_ends_session(403));
        assert!(profile.refresh_ends_session(401));
        assert!(!profile.refresh_ends_session(500));
        assert_eq!(
            ServerProfile::from_toml(&profile.to_toml()).unwrap(),
            profile
        );
        for status in [200, 204, 429, 500, 503, 100, 0, 99, 600, 65535] {
            assert_eq!(
                invalid_field(&format!("[auth]\nsession_end_statuses = [403, {status}]")),
                "auth.session_end_statuses",
                "{status}"
            );
        }
    }

    #[test]
    fn a_parse_error_gives_the_place_but_not_the_text() {
        let secret = "hunter2-sk-live-0123456789";
        for text in [
            format!("name = \"x\"\n\npassword = {secret}\n"),
            format!("name = \"x\"\n\n{secret} = 1\n"),
            format!("name = \"x\"\n\nallow_insecure_remote = \"{secret}\"\n"),
            format!("name = \"x\"\n\n[auth]\nrequest_timeout = \"{secret}\"\n"),
            format!("name = \"x\"\n\nname = \"{secret}\"\n"),
            format!("name = \"x\"\n\nAPI_KEY=\"{secret}\n"),
        ] {
            let file = TempProfile::new("secret", &text);
            let error = ServerProfile::from_file(&file.0).unwrap_err();
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains(secret), "{shown}");
            assert!(!shown.contains("hunter2"), "{shown}");
            let ProfileError::Toml { line, .. } = error else {
                panic!("{text}: {error:?}");
            };
            assert!(line >= 3, "{text}: line {line}");
        }
        let error = ServerProfile::from_toml("name = \"x\"\n  oops = [\n").unwrap_err();
        let ProfileError::Toml { line, column, .. } = error else {
            panic!("{error:?}");
        };
        assert!(line >= 2, "{line}:{column}");
        assert_eq!(line_and_column("ab\ncdé\nf", 7), (2, 4));
        assert_eq!(line_and_column("ab\ncdé\nf", 6), (2, 3));
        assert_eq!(line_and_column("ab", 99), (1, 3));
    }

    #[test]
    fn messages_leave_out_what_they_quote() {
        assert_eq!(
            unquoted("unknown field `sk-123`, expected one of `name`, `auth`"),
            "unknown field `…`, expected one of `name`, `auth`"
        );
        assert_eq!(unquoted("expected `\"`, `'`"), "expected `\"`, `'`");
        assert_eq!(unquoted("unknown field `server_`"), "unknown field `…`");
        assert_eq!(unquoted("found `$$$`"), "found `…`");
        assert_eq!(
            unquoted("invalid type: string \"pw\", expected"),
            "invalid type: string \"…\", expected"
        );
        assert_eq!(unquoted("dangling `quote"), "dangling `…");
        assert_eq!(
            shown_text("https://user:pw@host/x?token=1"),
            "https://…@host/x"
        );
    }

    #[test]
    fn api_urls_stay_on_the_server_origin() {
        let server = "https://presence.example.com";
        let mut profile = ServerProfile::simplejwt(server);
        assert_eq!(
            profile
                .api_url("https://presence.example.com/login")
                .unwrap()
                .as_str(),
            "https://presence.example.com/login"
        );
        for path in [
            "https://evil.example.com/login",
            "//evil.example.com/login",
            "http://presence.example.com/login",
            "https://presence.example.com:8443/login",
            "wss://presence.example.com/login",
        ] {
            assert!(
                matches!(profile.api_url(path), Err(ProfileError::CrossOrigin { .. })),
                "{path}"
            );
            profile.auth.refresh_path = path.into();
            assert!(
                matches!(profile.validate(), Err(ProfileError::CrossOrigin { .. })),
                "{path}"
            );
            profile.auth.refresh_path = "/api/auth/token/refresh/".into();
        }
        profile.auth.verify_path = Some("https://evil.example.com/verify".into());
        assert!(matches!(
            profile.validate(),
            Err(ProfileError::CrossOrigin { .. })
        ));
        profile.auth.verify_path = None;
        profile.validate().unwrap();
        // An https server keeps its socket encrypted too, even on loopback.
        for ws_url in ["ws://presence.example.com/ws", "ws://127.0.0.1:9000/ws"] {
            profile.ws_url = ws_url.into();
            profile.allow_insecure_remote = true;
            assert!(
                matches!(profile.validate(), Err(ProfileError::Downgrade { .. })),
                "{ws_url}"
            );
        }
        profile.ws_url = "wss://socket.example.com/ws".into();
        profile.validate().unwrap();
    }

    #[test]
    fn urls_in_errors_hide_userinfo_and_queries() {
        let mut profile =
            ServerProfile::simplejwt("http://user:pw-secret@presence.example.com/?token=tk-secret");
        let message = profile.validate().unwrap_err().to_string();
        assert!(!message.contains("secret"), "{message}");
        profile.server = "ftp://user:pw-secret@x".into();
        let message = profile.validate().unwrap_err().to_string();
        assert!(!message.contains("secret"), "{message}");
        profile.server = "http://user:pw-secret@[::1".into();
        let message = profile.validate().unwrap_err().to_string();
        assert!(!message.contains("secret"), "{message}");
    }
}
