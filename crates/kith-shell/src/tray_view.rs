//! What the tray shows for a given connection state and friends list: which icon,
//! what tooltip, which friends in the menu. A pure function, tested on its own; the
//! tray module only applies the result.

use std::time::Duration;

use kith_core::alerts::Counts;
use kith_core::ConnectionState;

/// One tray icon per kind of state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayIcon {
    Connected,
    Connecting,
    Offline,
    SignedOut,
}

impl TrayIcon {
    pub fn png(self) -> &'static [u8] {
        match self {
            TrayIcon::Connected => include_bytes!("../../../icons/tray-connected.png"),
            TrayIcon::Connecting => include_bytes!("../../../icons/tray-connecting.png"),
            TrayIcon::Offline => include_bytes!("../../../icons/tray-offline.png"),
            TrayIcon::SignedOut => include_bytes!("../../../icons/tray-signed-out.png"),
        }
    }
}

/// The tray's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayView {
    pub icon: TrayIcon,
    pub tooltip: String,
    /// Online friends for the menu, at most [`MENU_FRIENDS`]: favourites first, each
    /// part by name.
    pub online_friends: Vec<String>,
    /// "and 3 more" when more friends are online than the menu lists.
    pub more_online: usize,
    pub can_reconnect: bool,
    pub signed_in: bool,
    /// Whether alerts are snoozed, so the menu offers "Resume alerts".
    pub snoozed: bool,
}

/// An online friend as the menu lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuFriend {
    pub name: String,
    pub favourite: bool,
}

/// How many online friends the tray menu lists.
pub const MENU_FRIENDS: usize = 10;

/// Inputs of the mapping.
pub struct TrayInput<'a> {
    pub signed_in: bool,
    pub state: &'a ConnectionState,
    /// Time left until the next attempt, while reconnecting.
    pub retry_in: Option<Duration>,
    /// The friends currently online (any status but "offline").
    pub online: &'a [MenuFriend],
    /// Present, away and offline friends, counted apart.
    pub counts: Counts,
    /// Why alerts are held back ("Alerts snoozed until 14:30"), if they are.
    pub alerts_held: Option<String>,
    /// Whether alerts are snoozed.
    pub snoozed: bool,
}

pub fn tray_view(input: &TrayInput<'_>) -> TrayView {
    let mut online: Vec<&MenuFriend> = input.online.iter().collect();
    online.sort_by_cached_key(|f| (!f.favourite, kith_core::protocol::collation_key(&f.name)));
    let more_online = online.len().saturating_sub(MENU_FRIENDS);
    online.truncate(MENU_FRIENDS);
    // Menu labels come from the server: plain text, capped. A star marks favourites.
    let online: Vec<String> = online
        .iter()
        .map(|f| {
            let name = crate::display::plain_text(&f.name, crate::display::NAME_MAX);
            if f.favourite {
                format!("★ {name}")
            } else {
                name
            }
        })
        .collect();
    let (icon, tooltip) = if !input.signed_in {
        let tooltip = match input.state {
            ConnectionState::SignedOut { reason } => {
                format!("Signed out — {}", reason.message())
            }
            _ => "Kith — not signed in".to_string(),
        };
        (TrayIcon::SignedOut, tooltip)
    } else {
        match input.state {
            ConnectionState::Connected => (
                TrayIcon::Connected,
                format!("Kith — connected · {}", input.counts),
            ),
            ConnectionState::Idle
            | ConnectionState::Connecting { .. }
            | ConnectionState::Authenticating { .. } => {
                (TrayIcon::Connecting, "Kith — connecting…".to_string())
            }
            ConnectionState::Reconnecting { .. } => (
                TrayIcon::Connecting,
                match input.retry_in {
                    Some(left) if !left.is_zero() => {
                        format!("Reconnecting in {} s", left.as_millis().div_ceil(1000))
                    }
                    _ => "Kith — reconnecting…".to_string(),
                },
            ),
            ConnectionState::Offline => (TrayIcon::Offline, "Offline: no network".to_string()),
            ConnectionState::GaveUp => (
                TrayIcon::Offline,
                "Kith — stopped retrying; choose Reconnect now to try again".to_string(),
            ),
            ConnectionState::SignedOut { reason } => (
                TrayIcon::SignedOut,
                format!("Signed out — {}", reason.message()),
            ),
            ConnectionState::Stopped => (TrayIcon::Offline, "Kith — stopped".to_string()),
        }
    };
    let tooltip = match &input.alerts_held {
        Some(held) if input.signed_in => format!("{tooltip} · {held}"),
        _ => tooltip,
    };
    // Offered exactly where the machine acts on it.
    let can_reconnect = input.signed_in && input.state.can_reconnect_now();
    let connected = icon == TrayIcon::Connected;
    TrayView {
        icon,
        tooltip,
        online_friends: if connected { online } else { Vec::new() },
        more_online: if connected { more_online } else { 0 },
        can_reconnect,
        signed_in: input.signed_in,
        snoozed: input.snoozed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_core::EndReason;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn menu(list: &[&str]) -> Vec<MenuFriend> {
        list.iter()
            .map(|s| MenuFriend {
                name: s.to_string(),
                favourite: false,
            })
            .collect()
    }

    /// `online` present friends (none away) of `total`.
    fn counts(online: usize, total: usize) -> Counts {
        Counts {
            online,
            away: 0,
            offline: total - online,
        }
    }

    #[test]
    fn connected_shows_who_is_online() {
        let online = menu(&["carol", "Alice", "bob"]);
        let view = tray_view(&TrayInput {
            signed_in: true,
            state: &ConnectionState::Connected,
            retry_in: None,
            online: &online,
            counts: counts(3, 12),
            alerts_held: None,
            snoozed: false,
        });
        assert_eq!(view.icon, TrayIcon::Connected);
        assert_eq!(
            view.tooltip,
            "Kith — connected · 3 online · 0 away · 12 friends"
        );
        assert_eq!(view.online_friends, names(&["Alice", "bob", "carol"]));
        assert!(!view.can_reconnect);
    }

    #[test]
    fn the_menu_orders_names_as_kith_core_collates_them() {
        let online = menu(&["Émile", "friend10", "zoë", "friend9", "alice"]);
        let view = tray_view(&TrayInput {
            signed_in: true,
            state: &ConnectionState::Connected,
            retry_in: None,
            online: &online,
            counts: counts(5, 5),
            alerts_held: None,
            snoozed: false,
        });
        assert_eq!(
            view.online_friends,
            names(&["alice", "Émile", "friend9", "friend10", "zoë"])
        );
    }

    #[test]
    fn menu_names_are_plain_text() {
        let online = menu(&["\x1b[2JMallory\u{202E}", &"n".repeat(10_000)]);
        let view = tray_view(&TrayInput {
            signed_in: true,
            state: &ConnectionState::Connected,
            retry_in: None,
            online: &online,
            counts: counts(2, 2),
            alerts_held: None,
            snoozed: false,
        });
        assert_eq!(view.online_friends[0], "[2JMallory");
        assert_eq!(
            view.online_friends[1].chars().count(),
            crate::display::NAME_MAX
        );
    }

    #[test]
    fn the_menu_lists_at_most_ten() {
        let online: Vec<MenuFriend> = (0..14)
            .map(|i| MenuFriend {
                name: format!("f{i:02}"),
                favourite: false,
            })
            .collect();
        let view = tray_view(&TrayInput {
            signed_in: true,
            state: &ConnectionState::Connected,
            retry_in: None,
            online: &online,
            counts: counts(14, 20),
            alerts_held: None,
            snoozed: false,
        });
        assert_eq!(view.online_friends.len(), 10);
        assert_eq!(view.more_online, 4);
    }

    fn reconnecting_with(retry_in: Option<Duration>) -> TrayView {
        tray_view(&TrayInput {
            signed_in: true,
            state: &ConnectionState::Reconnecting { attempt: 3 },
            retry_in,
            online: &[],
            counts: counts(0, 5),
            alerts_held: None,
            snoozed: false,
        })
    }

    #[test]
    fn reconnecting_rounds_the_countdown_up() {
        let view = reconnecting_with(Some(Duration::from_millis(3_200)));
        assert_eq!(view.icon, TrayIcon::Connecting);
        assert_eq!(view.tooltip, "Reconnecting in 4 s");
        assert!(view.can_reconnect);
        assert!(view.online_friends.is_empty());
    }

    #[test]
    fn the_countdown_follows_the_time_left_not_the_first_delay() {
        // The same state, seen 30 s, 20 s and 0 s before the retry.
        assert_eq!(
            reconnecting_with(Some(Duration::from_secs(30))).tooltip,
            "Reconnecting in 30 s"
        );
        assert_eq!(
            reconnecting_with(Some(Duration::from_secs(20))).tooltip,
            "Reconnecting in 20 s"
        );
        assert_eq!(
            reconnecting_with(Some(Duration::ZERO)).tooltip,
            "Kith — reconnecting…"
        );
    }

    #[test]
    fn reconnect_now_is_offered_only_where_the_machine_acts_on_it() {
        for (state, offered) in [
            (ConnectionState::Stopped, false),
            (ConnectionState::Connected, false),
            (ConnectionState::Authenticating { attempt: 1 }, false),
            (ConnectionState::Connecting { attempt: 1 }, true),
            (ConnectionState::Reconnecting { attempt: 2 }, true),
            (ConnectionState::Offline, true),
            (ConnectionState::GaveUp, true),
        ] {
            let view = tray_view(&TrayInput {
                signed_in: true,
                state: &state,
                retry_in: None,
                online: &[],
                counts: counts(0, 0),
                alerts_held: None,
                snoozed: false,
            });
            assert_eq!(view.can_reconnect, offered, "{state:?}");
        }
    }

    #[test]
    fn each_state_has_its_icon() {
        let cases = [
            (
                ConnectionState::Connecting { attempt: 1 },
                TrayIcon::Connecting,
            ),
            (
                ConnectionState::Authenticating { attempt: 1 },
                TrayIcon::Connecting,
            ),
            (ConnectionState::GaveUp, TrayIcon::Offline),
            (ConnectionState::Offline, TrayIcon::Offline),
            (
                ConnectionState::SignedOut {
                    reason: EndReason::SessionExpired,
                },
                TrayIcon::SignedOut,
            ),
        ];
        for (state, icon) in cases {
            let view = tray_view(&TrayInput {
                signed_in: true,
                state: &state,
                retry_in: None,
                online: &[],
                counts: counts(0, 0),
                alerts_held: None,
                snoozed: false,
            });
            assert_eq!(view.icon, icon, "{state:?}");
        }
    }

    /// Which pixels of an icon are drawn (alpha above half), whatever their colour.
    fn shape(icon: TrayIcon) -> Vec<bool> {
        let decoder = png::Decoder::new(std::io::Cursor::new(icon.png()));
        let mut reader = decoder.read_info().unwrap();
        let mut rgba = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut rgba).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgba);
        rgba[..info.buffer_size()]
            .chunks(4)
            .map(|pixel| pixel[3] > 127)
            .collect()
    }

    #[test]
    fn the_state_icons_differ_by_shape_not_only_by_colour() {
        let icons = [
            TrayIcon::Connected,
            TrayIcon::Connecting,
            TrayIcon::Offline,
            TrayIcon::SignedOut,
        ];
        for (i, a) in icons.iter().enumerate() {
            for b in &icons[i + 1..] {
                let (sa, sb) = (shape(*a), shape(*b));
                assert_eq!(sa.len(), sb.len());
                let differing = sa.iter().zip(&sb).filter(|(x, y)| x != y).count();
                // 32 × 32 icons: at least 40 pixels, a clearly visible difference.
                assert!(
                    differing >= 40,
                    "{a:?} and {b:?} differ in {differing} pixels only"
                );
            }
        }
    }

    #[test]
    fn offline_says_there_is_no_network() {
        let view = tray_view(&TrayInput {
            signed_in: true,
            state: &ConnectionState::Offline,
            retry_in: None,
            online: &menu(&["alice"]),
            counts: counts(1, 3),
            alerts_held: None,
            snoozed: false,
        });
        assert_eq!(view.icon, TrayIcon::Offline);
        assert_eq!(view.tooltip, "Offline: no network");
        assert!(view.can_reconnect);
        assert!(
            view.online_friends.is_empty(),
            "nobody is known to be online"
        );
    }

    #[test]
    fn signed_out_says_why() {
        let view = tray_view(&TrayInput {
            signed_in: false,
            state: &ConnectionState::SignedOut {
                reason: EndReason::SessionExpired,
            },
            retry_in: None,
            online: &[],
            counts: counts(0, 0),
            alerts_held: None,
            snoozed: false,
        });
        assert_eq!(view.icon, TrayIcon::SignedOut);
        assert_eq!(
            view.tooltip,
            format!("Signed out — {}", EndReason::SessionExpired.message())
        );
        let never = tray_view(&TrayInput {
            signed_in: false,
            state: &ConnectionState::Idle,
            retry_in: None,
            online: &[],
            counts: counts(0, 0),
            alerts_held: None,
            snoozed: false,
        });
        assert_eq!(never.tooltip, "Kith — not signed in");
    }

    #[test]
    fn favourites_come_first_and_a_snooze_shows_in_the_tooltip() {
        let mut online = menu(&["carol", "alice", "zoë", "bob"]);
        online[2].favourite = true;
        online[3].favourite = true;
        let counts = Counts {
            online: 3,
            away: 1,
            offline: 4,
        };
        let view = tray_view(&TrayInput {
            signed_in: true,
            state: &ConnectionState::Connected,
            retry_in: None,
            online: &online,
            counts,
            alerts_held: Some("Alerts snoozed until 14:30".into()),
            snoozed: true,
        });
        assert_eq!(
            view.online_friends,
            names(&["★ bob", "★ zoë", "alice", "carol"])
        );
        assert_eq!(
            view.tooltip,
            "Kith — connected · 3 online · 1 away · 8 friends · Alerts snoozed until 14:30"
        );
        assert!(view.snoozed);
        // Signed out, there are no alerts to speak of.
        let view = tray_view(&TrayInput {
            signed_in: false,
            state: &ConnectionState::Idle,
            retry_in: None,
            online: &[],
            counts: Counts::default(),
            alerts_held: Some("Alerts snoozed until 14:30".into()),
            snoozed: true,
        });
        assert_eq!(view.tooltip, "Kith — not signed in");
    }
}
