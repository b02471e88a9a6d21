//! Structured fuzzing of server profiles, which the app may load from any file the
//! webview names: TOML documents built from the profile's own keys with hostile values
//! (zero, huge and malformed durations, odd numbers, cross-origin and plaintext URLs,
//! userinfo), then damaged, go through `ServerProfile::from_toml`, `validate()`,
//! `socket_url()` and `api_url()`. The properties: nothing panics; anything refused is
//! a typed `ProfileError`; a parse error never repeats the document's text; whatever is
//! accepted has bounded durations, encrypted or permitted URLs and same-origin API URLs
//! (the resync endpoint's included, with a bounded path).
//!
//! Bounded case count for CI: `KITH_FUZZ_CASES` (default 256) per property.

mod common;

use std::time::Duration;

use kith_core::protocol::profile::{
    MAX_PROFILE_DURATION, MAX_RESYNC_PATH_BYTES, MESSAGE_BYTES_RANGE,
};
use kith_core::protocol::{ProfileError, ServerProfile};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    common::fuzz_config()
}

/// Text that must never come back in a parse error.
const MARK: &str = "zqxsecret";

fn duration() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (1u64..600).prop_map(|n| format!("\"{n}s\"")),
        1 => Just("\"0s\"".to_string()),
        1 => Just("\"1ns\"".to_string()),
        1 => Just("\"24h\"".to_string()),
        1 => Just("\"25h\"".to_string()),
        1 => Just("\"500000000000years\"".to_string()),
        1 => Just("\"99999999999999999999999s\"".to_string()),
        1 => Just(format!("\"{MARK}\"")),
        1 => Just("15".to_string()),
    ]
}

fn url() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("http://127.0.0.1:8000"),
        Just("https://presence.example.com"),
        Just("http://presence.example.com"),
        Just("https://presence.example.com:8443/base/"),
        Just("https://user:pw@presence.example.com"),
        Just("http://[::1]:9000"),
        Just("ftp://x"),
        Just("https://"),
        Just("http:/x"),
        Just("not a url"),
        Just(""),
    ]
    .prop_map(|url| format!("\"{url}\""))
}

fn ws_url() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(""),
        Just("ws://127.0.0.1:8000/ws/"),
        Just("wss://socket.example.com/ws/"),
        Just("ws://socket.example.com/ws/"),
        Just("https://socket.example.com/"),
        Just("wss://"),
    ]
    .prop_map(|url| format!("\"{url}\""))
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("/api/auth/login/"),
        1 => Just("relative/path"),
        1 => Just("https://evil.example.com/steal"),
        1 => Just("//evil.example.com/steal"),
        1 => Just("http://presence.example.com/login"),
        1 => Just("https://presence.example.com/login"),
        1 => Just("http://127.0.0.1:8000/login"),
        1 => Just("../../etc"),
        1 => Just("?q=1"),
        1 => Just("http://[::1"),
    ]
    .prop_map(|path| format!("\"{path}\""))
}

/// A `resync.http_path`: good paths, paths off the server, and paths too long or with
/// characters a path may not hold.
fn resync_path() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("/api/friends/".to_string()),
        1 => Just("/api/friends/?page_size=1000".to_string()),
        1 => Just("api/friends/".to_string()),
        1 => Just("//evil.example.com/friends".to_string()),
        1 => Just("https://evil.example.com/friends".to_string()),
        1 => Just("/a b".to_string()),
        1 => Just("/a#b".to_string()),
        1 => Just(String::new()),
        1 => (MAX_RESYNC_PATH_BYTES - 2..MAX_RESYNC_PATH_BYTES + 2)
            .prop_map(|n| format!("/{}", "f".repeat(n))),
        1 => "/[ -~]{0,20}",
    ]
    .prop_map(|path| format!("{path:?}"))
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        Just("0".to_string()),
        Just("1024".to_string()),
        Just("16777216".to_string()),
        (0.0..1.0f64).prop_map(|f| format!("{f:?}")),
        Just("nan".to_string()),
        Just("-inf".to_string()),
        Just("1.0".to_string()),
    ]
}

/// One `key = value` line of some table of the profile.
fn entry() -> impl Strategy<Value = (&'static str, String)> {
    prop_oneof![
        url().prop_map(|v| ("", format!("server = {v}"))),
        ws_url().prop_map(|v| ("", format!("ws_url = {v}"))),
        Just(("", "ws_path = \"/socket.io/\"".to_string())),
        any::<bool>().prop_map(|v| ("", format!("allow_insecure_remote = {v}"))),
        path().prop_map(|v| ("auth", format!("login_path = {v}"))),
        path().prop_map(|v| ("auth", format!("refresh_path = {v}"))),
        path().prop_map(|v| ("auth", format!("verify_path = {v}"))),
        duration().prop_map(|v| ("auth", format!("request_timeout = {v}"))),
        duration().prop_map(|v| ("auth", format!("refresh_timeout = {v}"))),
        proptest::collection::vec(
            prop_oneof![
                Just(0u32),
                Just(200),
                Just(302),
                Just(403),
                Just(429),
                Just(503),
                Just(70000),
                0..1000u32
            ],
            0..3
        )
        .prop_map(|v| ("auth", format!("session_end_statuses = {v:?}"))),
        Just(("auth", "refresh_transport = \"cookie\"".to_string())),
        duration().prop_map(|v| ("socket", format!("ping_interval = {v}"))),
        duration().prop_map(|v| ("socket", format!("dead_grace = {v}"))),
        duration().prop_map(|v| ("socket", format!("connect_timeout = {v}"))),
        duration().prop_map(|v| ("socket", format!("wake_probe_timeout = {v}"))),
        number().prop_map(|v| ("socket", format!("max_message_bytes = {v}"))),
        prop_oneof![
            Just("[]"),
            Just("[{ kind = \"bearer\" }]"),
            Just("[{ kind = \"query\", param = \"t\" }, { kind = \"message\" }]"),
            Just("[{ kind = \"carrier\" }]"),
        ]
        .prop_map(|v| ("socket", format!("auth = {v}"))),
        Just(("socket", "protocol = \"socket_io\"".to_string())),
        duration().prop_map(|v| ("refresh", format!("lead_max = {v}"))),
        number().prop_map(|v| ("refresh", format!("lead_fraction = {v}"))),
        duration().prop_map(|v| ("refresh", format!("retry_base = {v}"))),
        duration().prop_map(|v| ("refresh", format!("retry_cap = {v}"))),
        duration().prop_map(|v| ("reconnect", format!("base = {v}"))),
        duration().prop_map(|v| ("reconnect", format!("cap = {v}"))),
        duration().prop_map(|v| ("reconnect", format!("stable_after = {v}"))),
        number().prop_map(|v| ("reconnect", format!("max_attempts = {v}"))),
        resync_path().prop_map(|v| ("resync", format!("http_path = {v}"))),
        Just(("", format!("{MARK} = \"{MARK}\""))),
        Just(("auth", format!("password = {MARK}"))),
    ]
}

/// A profile document: entries grouped under their tables, keys kept unique.
fn document() -> impl Strategy<Value = String> {
    proptest::collection::vec(entry(), 0..10).prop_map(|entries| {
        let mut text = String::new();
        for table in ["", "auth", "socket", "refresh", "reconnect", "resync"] {
            let mut keys = Vec::new();
            let lines: Vec<&String> = entries
                .iter()
                .filter(|(t, _)| *t == table)
                .map(|(_, line)| line)
                .filter(|line| {
                    let key = line.split(' ').next().unwrap_or_default().to_string();
                    let fresh = !keys.contains(&key);
                    keys.push(key);
                    fresh
                })
                .collect();
            if lines.is_empty() {
                continue;
            }
            if !table.is_empty() {
                text.push_str(&format!("[{table}]\n"));
            }
            for line in lines {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    })
}

/// Damages a document: a byte flipped, a piece removed or repeated, a cut.
fn damage(text: &str, how: u8, a: usize, b: usize) -> String {
    let mut bytes = text.as_bytes().to_vec();
    if bytes.is_empty() {
        return String::new();
    }
    let (a, b) = (a % bytes.len(), b % bytes.len());
    let (lo, hi) = (a.min(b), a.max(b));
    match how % 5 {
        0 => bytes[a] ^= 1 << (b % 8),
        1 => bytes.truncate(a),
        2 => {
            bytes.drain(lo..hi);
        }
        3 => {
            let piece = bytes[lo..hi].to_vec();
            bytes.splice(a..a, piece);
        }
        _ => bytes.insert(a, b"\"=[]{}#\n\\'"[b % 10]),
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn check(text: &str) -> Result<(), TestCaseError> {
    match ServerProfile::from_toml(text) {
        Ok(profile) => check_accepted(&profile)?,
        Err(error) => {
            let shown = format!("{error} {error:?}");
            match &error {
                ProfileError::Toml {
                    line,
                    column,
                    reason,
                } => {
                    prop_assert!(!reason.contains(MARK), "{}", shown);
                    prop_assert!(!shown.contains(MARK), "{}", shown);
                    prop_assert!(*line >= 1 && *column >= 1, "{}", shown);
                    prop_assert!(*line <= text.lines().count() + 1, "{}", shown);
                }
                ProfileError::Read { .. }
                | ProfileError::BadUrl { .. }
                | ProfileError::InsecureRemote { .. }
                | ProfileError::Downgrade { .. }
                | ProfileError::CrossOrigin { .. }
                | ProfileError::Invalid { .. } => {}
            }
            // URLs in errors never carry userinfo.
            prop_assert!(!shown.contains("user:pw"), "{}", shown);
        }
    }
    Ok(())
}

fn check_accepted(profile: &ServerProfile) -> Result<(), TestCaseError> {
    // A file cannot opt in to plaintext.
    prop_assert!(!profile.allow_insecure_remote);
    prop_assert!(profile.validate().is_ok());
    let server = profile
        .server_url()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let socket = profile
        .socket_url()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    if server.scheme() == "https" {
        prop_assert_eq!(socket.scheme(), "wss");
    }
    let auth = &profile.auth;
    for path in [&auth.login_path, &auth.refresh_path, &auth.logout_path]
        .into_iter()
        .chain(auth.verify_path.as_ref())
    {
        let url = profile
            .api_url(path)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(url.origin(), server.origin());
    }
    match &profile.resync.http_path {
        Some(path) => {
            prop_assert!(path.starts_with('/') && !path.starts_with("//"), "{}", path);
            prop_assert!(path.len() <= MAX_RESYNC_PATH_BYTES);
            let url = profile
                .resync_url()
                .map_err(|e| TestCaseError::fail(e.to_string()))?
                .ok_or_else(|| TestCaseError::fail("no resync URL"))?;
            prop_assert_eq!(url.origin(), server.origin());
        }
        None => prop_assert_eq!(profile.resync_url().ok().flatten(), None),
    }
    for value in [
        auth.request_timeout,
        auth.refresh_timeout,
        profile.socket.ping_interval,
        profile.socket.dead_grace,
        profile.socket.connect_timeout,
        profile.socket.wake_probe_timeout,
        profile.refresh.lead_max,
        profile.refresh.retry_base,
        profile.refresh.retry_cap,
        profile.reconnect.base,
        profile.reconnect.cap,
        profile.reconnect.stable_after,
    ] {
        prop_assert!(value > Duration::ZERO && value <= MAX_PROFILE_DURATION);
    }
    prop_assert!(auth.refresh_timeout >= auth.request_timeout);
    prop_assert!(profile.refresh.lead_fraction > 0.0 && profile.refresh.lead_fraction < 1.0);
    prop_assert!(MESSAGE_BYTES_RANGE.contains(&profile.socket.max_message_bytes));
    prop_assert_ne!(profile.reconnect.max_attempts, Some(0));
    // What was accepted survives a round trip.
    let again = ServerProfile::from_toml(&profile.to_toml())
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&again, profile);
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn profiles_are_accepted_checked_or_refused_with_a_type(text in document()) {
        check(&text)?;
    }

    #[test]
    fn damaged_profiles_are_refused_with_a_type(
        text in document(),
        how in any::<u8>(),
        a in any::<usize>(),
        b in any::<usize>(),
    ) {
        check(&damage(&text, how, a, b))?;
    }

    /// api_url on any text, for any accepted server, stays on its origin or is refused.
    #[test]
    fn api_url_never_leaves_the_origin(
        server in url(),
        path in prop_oneof![path(), "[\\PC]{0,24}".prop_map(|p| serde_json::to_string(&p).unwrap_or_default())],
    ) {
        let profile = ServerProfile::simplejwt(server.trim_matches('"'));
        let path: String = serde_json::from_str(&path).unwrap_or_default();
        if let (Ok(server), Ok(url)) = (profile.server_url(), profile.api_url(&path)) {
            prop_assert_eq!(url.origin(), server.origin());
        }
    }
}
