//! Server profiles: how a backend wants to be spoken to.
//!
//! A profile names the auth API's paths and JSON field names, where the refresh token
//! travels (JSON body or an httpOnly cookie), which WebSocket auth transports to use,
//! and the timing policies. Profiles load from TOML or are built in code; the default
//! is Django SimpleJWT, the backend of seeds 000 and 001. [`ServerProfile::resolve`] is
//! the one way the app and the CLI turn the user's choices into a checked profile.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

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
    pub allow_insecure_remote: bool,
    pub auth: AuthApiProfile,
    pub socket: SocketProfile,
    pub refresh: RefreshPolicy,
    pub reconnect: ReconnectPolicy,
}

/// The HTTP auth API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthApiProfile {
    pub login_path: String,
    pub refresh_path: String,
    pub logout_path: String,
    /// Optional token verification endpoint (`{token}` → 200).
    pub verify_path: Option<String>,
    pub username_field: String,
    pub password_field: String,
    /// Field of the login/refresh response holding the access token ("access", or "token" in seed 004).
    pub access_field: String,
    /// Field holding the refresh token in bodies (request and response).
    pub refresh_field: String,
    /// Where the refresh token travels.
    pub refresh_transport: RefreshTransport,
    /// Name of the refresh cookie when `refresh_transport = "cookie"`.
    pub refresh_cookie: String,
    /// Timeout of each auth request.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Deadline of a refresh request, longer than `request_timeout`: a refresh that
    /// times out after the server rotated has lost the new refresh token.
    #[serde(with = "humantime_serde")]
    pub refresh_timeout: Duration,
    /// Statuses of the refresh endpoint that end the session, besides 400 and 401.
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
    Query { param: String },
    /// `Authorization: Bearer <token>` on the upgrade request (seed 004).
    Bearer,
    /// `Sec-WebSocket-Protocol: <protocol>, <token>` (seed 001).
    Subprotocol { protocol: String },
    /// A cookie on the upgrade request.
    Cookie { name: String },
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
    /// The server sends a `presence_snapshot` after auth; a handover waits for it.
    pub snapshot_on_connect: bool,
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
    #[serde(with = "humantime_serde")]
    pub lead_max: Duration,
    pub lead_fraction: f64,
    /// Backoff of retried (transient) refresh failures.
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    #[serde(with = "humantime_serde")]
    pub retry_cap: Duration,
}

/// Reconnect backoff: exponential from `base`, capped at `cap`, then full jitter.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReconnectPolicy {
    #[serde(with = "humantime_serde")]
    pub base: Duration,
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
            auth: AuthApiProfile::default(),
            socket: SocketProfile::default(),
            refresh: RefreshPolicy::default(),
            reconnect: ReconnectPolicy::default(),
        }
    }
}

impl Default for AuthApiProfile {
    fn default() -> Self {
        AuthApiProfile {
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

/// A profile that cannot be used, with what is wrong in words.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("profile is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("cannot read profile {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("server URL {url:?} is not valid: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("{url} is unencrypted and not on this machine; set allow_insecure_remote = true to use it anyway")]
    InsecureRemote { url: String },
    #[error("profile field {field} is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl ServerProfile {
    /// The default (SimpleJWT) profile pointed at `server`.
    pub fn simplejwt(server: impl Into<String>) -> Self {
        ServerProfile {
            server: server.into(),
            ..ServerProfile::default()
        }
    }

    /// Parses a TOML profile; fields left out keep their defaults.
    pub fn from_toml(text: &str) -> Result<Self, ProfileError> {
        let profile: ServerProfile = toml::from_str(text)?;
        profile.validate()?;
        Ok(profile)
    }

    /// Reads and parses a TOML profile file.
    pub fn from_file(path: &Path) -> Result<Self, ProfileError> {
        let profile = Self::read_unchecked(path)?;
        profile.validate()?;
        Ok(profile)
    }

    /// Builds the profile to use from a source, an optional `server` URL that replaces
    /// the source's, and `allow_insecure`, which permits plaintext to a remote host on
    /// top of whatever the source allows. The result is validated once, after the
    /// overrides, so a file's remote `http://` server is accepted when the user allows it.
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
        profile.allow_insecure_remote |= allow_insecure;
        profile.validate()?;
        Ok(profile)
    }

    /// Reads and parses a TOML profile file without validating it.
    fn read_unchecked(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Ok(toml::from_str(&text)?)
    }

    pub fn to_toml(&self) -> String {
        // Serializing plain data to TOML cannot fail for this type; fall back to an
        // empty document rather than panic if it ever does.
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks URLs, transports and policies, so that mistakes surface at load time.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let server = self.server_url()?;
        self.check_secure(&server)?;
        let ws = self.socket_url()?;
        self.check_secure(&ws)?;
        if self.socket.auth.is_empty() {
            return Err(ProfileError::Invalid {
                field: "socket.auth",
                reason: "at least one auth transport is needed".into(),
            });
        }
        if !(0.0..=1.0).contains(&self.refresh.lead_fraction) {
            return Err(ProfileError::Invalid {
                field: "refresh.lead_fraction",
                reason: "must be between 0 and 1".into(),
            });
        }
        if self.reconnect.base.is_zero() || self.reconnect.cap < self.reconnect.base {
            return Err(ProfileError::Invalid {
                field: "reconnect",
                reason: "base must be > 0 and cap >= base".into(),
            });
        }
        if self.socket.ping_interval.is_zero() {
            return Err(ProfileError::Invalid {
                field: "socket.ping_interval",
                reason: "must be > 0".into(),
            });
        }
        Ok(())
    }

    /// The auth API's base URL.
    pub fn server_url(&self) -> Result<Url, ProfileError> {
        let url = Url::parse(&self.server).map_err(|error| ProfileError::BadUrl {
            url: self.server.clone(),
            reason: error.to_string(),
        })?;
        match url.scheme() {
            "http" | "https" => Ok(url),
            other => Err(ProfileError::BadUrl {
                url: self.server.clone(),
                reason: format!("scheme {other:?} is not http or https"),
            }),
        }
    }

    /// The presence socket's URL, without any token.
    pub fn socket_url(&self) -> Result<Url, ProfileError> {
        if !self.ws_url.is_empty() {
            let url = Url::parse(&self.ws_url).map_err(|error| ProfileError::BadUrl {
                url: self.ws_url.clone(),
                reason: error.to_string(),
            })?;
            return match url.scheme() {
                "ws" | "wss" => Ok(url),
                other => Err(ProfileError::BadUrl {
                    url: self.ws_url.clone(),
                    reason: format!("scheme {other:?} is not ws or wss"),
                }),
            };
        }
        let mut url = self.server_url()?;
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(scheme).map_err(|()| ProfileError::BadUrl {
            url: self.server.clone(),
            reason: "cannot derive a WebSocket URL".into(),
        })?;
        url.set_path(&self.ws_path);
        Ok(url)
    }

    /// An absolute auth API URL for `path`.
    pub fn api_url(&self, path: &str) -> Result<Url, ProfileError> {
        self.server_url()?
            .join(path)
            .map_err(|error| ProfileError::BadUrl {
                url: path.to_string(),
                reason: error.to_string(),
            })
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
            return Err(ProfileError::InsecureRemote {
                url: url.to_string(),
            });
        }
        Ok(())
    }
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
        for name in [
            "django-simplejwt",
            "bearer-cookie",
            "auth-message",
            "socketio",
        ] {
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
            Err(ProfileError::Toml(_))
        ));
        assert!(matches!(
            ServerProfile::from_toml("unknown_key = 1"),
            Err(ProfileError::Toml(_))
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
        // The flag only widens: a file that already allows it keeps allowing it.
        let allowing = TempProfile::new(
            "allowing",
            "server = \"http://presence.example.com\"\nallow_insecure_remote = true\n",
        );
        assert!(
            ServerProfile::resolve(ProfileSource::File(&allowing.0), None, false)
                .unwrap()
                .allow_insecure_remote
        );
    }
}
