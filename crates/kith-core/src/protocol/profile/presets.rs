//! The built-in presets: one profile per backend style Kith is tested against, each
//! also written out as `profiles/<name>.toml`.

use super::{
    AuthKind, ProfileError, RefreshTransport, ServerProfile, WireProtocol, WsAuthTransport,
};

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

impl ServerProfile {
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
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::*;

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
}
