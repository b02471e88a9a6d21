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
//!
//! One file per concern: `auth` for the HTTP auth API and the sign-in methods,
//! `socket` for the presence socket, `mapping` for a backend's own presence messages
//! (`[messages]`) and `pointer` for the JSON pointers it reads them with, `presets` for
//! the built-in backend styles, `errors` for [`ProfileError`]; this file holds the
//! profile itself, loading and validation.

mod auth;
mod errors;
mod mapping;
mod pointer;
mod presets;
mod socket;

pub use auth::{
    AuthApiProfile, AuthKind, NextAuthProfile, RefreshTransport, ALWAYS_SESSION_END_STATUSES,
};
pub use errors::ProfileError;
pub use mapping::{
    DiffMapping, IgnoreMapping, MappingError, MemberScope, MembersMapping, MessageKind,
    MessageMapping, RecordPointers, SnapshotMapping, StatusMap, StatusValue, TimeFormat,
    UpdateMapping, DEFAULT_DISCRIMINATOR, MAX_MATCH_CHARS, MAX_MATCH_VALUES, MAX_STATUS_VALUES,
};
pub use pointer::{JsonPointer, ReferenceToken, MAX_POINTER_BYTES};
pub use presets::{Preset, PRESETS};
pub use socket::{
    SocketProfile, WireProtocol, WsAuthTransport, MAX_NAMESPACE_BYTES, MESSAGE_BYTES_RANGE,
};

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::proxy::ProxyUrl;
use errors::{shown, shown_text};
use socket::check_namespace;

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
    /// The backend's own presence messages (`[messages]`); `None` reads Kith's own
    /// vocabulary, with its fast reader.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<MessageMapping>,
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
            messages: None,
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

/// The longest any duration in a profile may be. Timers are built by adding these to
/// the clock; a day is far beyond any sensible timeout or backoff, and far below
/// anything that could overflow.
pub const MAX_PROFILE_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

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
        if let Some(messages) = &self.messages {
            messages.check().map_err(|error| ProfileError::Invalid {
                field: error.field,
                reason: error.reason,
            })?;
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

/// The field a profile text is refused for, which must be a [`ProfileError::Invalid`].
#[cfg(test)]
fn invalid_field(text: &str) -> &'static str {
    match ServerProfile::from_toml(text) {
        Err(ProfileError::Invalid { field, .. }) => field,
        other => panic!("{text}: expected Invalid, got {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::errors::line_and_column;
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
