//! The connection state machine, driven input by input with an injected clock.
//! No sockets and no sleeps: every transition of the design is checked here, and
//! proptest checks the invariants over random input sequences.

use std::time::{Duration, Instant};

use kith_core::protocol::ServerProfile;
use kith_core::socket::backoff::OUTAGE_FLOOR;
use kith_core::socket::{
    Action, CloseReason, ConnectionMachine, ConnectionState, FetchPurpose, Input, MachineConfig,
    Reason, WebPageAt, MAX_RETRY_AFTER, QUICK_DISCONNECT_WINDOW,
};
use kith_core::{ChangeCause, EndReason};
use proptest::prelude::*;

fn config(in_band: bool) -> MachineConfig {
    let mut profile = ServerProfile::default();
    if in_band {
        profile
            .socket
            .auth
            .push(kith_core::WsAuthTransport::Message);
    }
    MachineConfig::from_profile(&profile)
}

fn drain(machine: &mut ConnectionMachine) -> Vec<Action> {
    std::iter::from_fn(|| machine.poll_action()).collect()
}

fn token_ready(purpose: FetchPurpose, generation: u64, now: Instant) -> Input {
    Input::TokenReady {
        purpose,
        generation,
        expires_at: now + Duration::from_secs(300),
    }
}

/// Brings a fresh machine to Connected on socket 1 with token generation 1.
fn connected(in_band: bool) -> (ConnectionMachine, Instant) {
    let t0 = Instant::now();
    let mut machine = ConnectionMachine::new(config(in_band), 42);
    machine.handle(Input::Start, t0);
    assert_eq!(
        drain(&mut machine),
        vec![Action::FetchToken {
            purpose: FetchPurpose::Connect,
            force: None
        }]
    );
    machine.handle(token_ready(FetchPurpose::Connect, 1, t0), t0);
    assert_eq!(drain(&mut machine), vec![Action::Open { conn: 1 }]);
    machine.handle(Input::Opened { conn: 1 }, t0);
    if in_band {
        assert_eq!(drain(&mut machine), vec![Action::SendAuth { conn: 1 }]);
        assert!(matches!(
            machine.state(),
            ConnectionState::Authenticating { attempt: 1 }
        ));
        machine.handle(Input::AuthSucceeded { conn: 1 }, t0);
    }
    assert_eq!(
        drain(&mut machine),
        vec![Action::Promote {
            conn: 1,
            snapshot: ChangeCause::Resync
        }]
    );
    assert_eq!(machine.state(), &ConnectionState::Connected);
    (machine, t0)
}

#[test]
fn connects_with_a_fresh_token_and_reports_every_transition() {
    let (mut machine, _) = connected(false);
    let changes: Vec<_> = std::iter::from_fn(|| machine.poll_event()).collect();
    let names: Vec<_> = changes.iter().map(|c| c.to.name()).collect();
    assert_eq!(names, ["connecting", "connected"]);
    assert_eq!(changes[0].reason, Reason::Started);
    assert_eq!(changes[1].reason, Reason::SocketOpened);
}

#[test]
fn in_band_auth_waits_for_auth_success() {
    let (machine, _) = connected(true);
    assert_eq!(machine.live_sockets(), 1);
}

#[test]
fn a_failed_connect_backs_off_within_the_base_then_retries() {
    let t0 = Instant::now();
    let mut machine = ConnectionMachine::new(config(false), 1);
    machine.handle(Input::Start, t0);
    machine.handle(token_ready(FetchPurpose::Connect, 1, t0), t0);
    drain(&mut machine);
    machine.handle(
        Input::ConnectFailed {
            conn: 1,
            error: "refused".into(),
        },
        t0,
    );
    let ConnectionState::Reconnecting { attempt } = machine.state().clone() else {
        panic!("expected reconnecting, got {:?}", machine.state());
    };
    assert_eq!(attempt, 1);
    let change = std::iter::from_fn(|| machine.poll_event()).last().unwrap();
    let retry_at = change
        .retry_at
        .expect("a reconnecting state has a deadline");
    assert!(change.retry_in(t0).unwrap() <= Duration::from_millis(500));
    // Seen later, the same change tells the time left then, not the delay it began with.
    let later = t0 + Duration::from_millis(100);
    assert_eq!(
        change.retry_in(later).unwrap(),
        retry_at.saturating_duration_since(later)
    );
    let due = machine.poll_timeout().unwrap();
    assert_eq!(due, retry_at);
    machine.handle(Input::Tick, due);
    assert_eq!(machine.state(), &ConnectionState::Connecting { attempt: 2 });
    assert_eq!(
        drain(&mut machine),
        vec![Action::FetchToken {
            purpose: FetchPurpose::Connect,
            force: None
        }]
    );
}

#[test]
fn a_refused_certificate_gives_up_at_once_with_no_timer_until_the_user_retries() {
    use kith_core::CertProblem;
    let t0 = Instant::now();
    let mut machine = ConnectionMachine::new(config(false), 1);
    machine.handle(Input::Start, t0);
    machine.handle(token_ready(FetchPurpose::Connect, 1, t0), t0);
    drain(&mut machine);
    machine.handle(
        Input::CertificateRejected {
            conn: 1,
            problem: CertProblem::Expired,
        },
        t0,
    );
    assert_eq!(machine.state(), &ConnectionState::GaveUp);
    let last = std::iter::from_fn(|| machine.poll_event()).last().unwrap();
    assert_eq!(last.reason, Reason::Certificate(CertProblem::Expired));
    assert_eq!(last.reason.code(), "tls_expired");
    assert_eq!(last.retry_at, None);
    // No retry is scheduled, and no session is ended.
    assert_eq!(machine.poll_timeout(), None);
    assert!(!drain(&mut machine)
        .iter()
        .any(|a| matches!(a, Action::EndSession { .. } | Action::Open { .. })));
    // The user's Reconnect now tries again.
    machine.handle(Input::ReconnectNow, t0 + Duration::from_secs(60));
    assert!(matches!(
        machine.state(),
        ConnectionState::Connecting { .. }
    ));
}

#[test]
fn the_auth_api_refusing_its_certificate_also_gives_up() {
    use kith_core::CertProblem;
    let t0 = Instant::now();
    let mut machine = ConnectionMachine::new(config(false), 1);
    machine.handle(Input::Start, t0);
    drain(&mut machine);
    machine.handle(
        Input::TokenFailed {
            purpose: FetchPurpose::Connect,
            reason: "unknown issuer".into(),
            ended: None,
            retry_after: None,
            certificate: Some(CertProblem::UnknownIssuer),
            web_page: false,
        },
        t0,
    );
    assert_eq!(machine.state(), &ConnectionState::GaveUp);
    let last = std::iter::from_fn(|| machine.poll_event()).last().unwrap();
    assert_eq!(last.reason, Reason::Certificate(CertProblem::UnknownIssuer));
    assert!(last.reason.to_string().contains("tls.ca_file"));
    assert_eq!(machine.poll_timeout(), None);
}

#[test]
fn a_handover_socket_with_a_bad_certificate_leaves_the_current_one_alone() {
    use kith_core::CertProblem;
    let (mut machine, t0) = connected(false);
    machine.handle(Input::TokenRefreshed { generation: 2 }, t0);
    machine.handle(token_ready(FetchPurpose::Handover, 2, t0), t0);
    let opened = drain(&mut machine);
    let Some(conn) = opened.iter().find_map(|a| match a {
        Action::Open { conn } => Some(*conn),
        _ => None,
    }) else {
        panic!("no handover socket: {opened:?}");
    };
    machine.handle(
        Input::CertificateRejected {
            conn,
            problem: CertProblem::WrongHost,
        },
        t0,
    );
    assert_eq!(machine.state(), &ConnectionState::Connected);
    assert_eq!(machine.live_sockets(), 1);
}

#[test]
fn a_proxy_refusal_is_transient_with_backoff() {
    use kith_core::proxy::ProxyProblem;
    let t0 = Instant::now();
    let mut machine = ConnectionMachine::new(config(false), 1);
    machine.handle(Input::Start, t0);
    machine.handle(token_ready(FetchPurpose::Connect, 1, t0), t0);
    drain(&mut machine);
    machine.handle(
        Input::ProxyFailed {
            conn: 1,
            problem: ProxyProblem::AuthRequired,
        },
        t0,
    );
    assert!(matches!(
        machine.state(),
        ConnectionState::Reconnecting { attempt: 1, .. }
    ));
    let last = std::iter::from_fn(|| machine.poll_event()).last().unwrap();
    assert_eq!(last.reason, Reason::Proxy(ProxyProblem::AuthRequired));
    assert_eq!(last.reason.code(), "proxy_auth_required");
    assert!(last.retry_at.is_some());
    assert!(machine.poll_timeout().is_some());
}

#[test]
fn reconnect_now_skips_the_wait() {
    let t0 = Instant::now();
    let mut machine = ConnectionMachine::new(config(false), 1);
    machine.handle(Input::Start, t0);
    machine.handle(
        Input::TokenFailed {
            purpose: FetchPurpose::Connect,
            reason: "server down".into(),
            ended: None,
            retry_after: None,
            certificate: None,
            web_page: false,
        },
        t0,
    );
    assert!(matches!(
        machine.state(),
        ConnectionState::Reconnecting { .. }
    ));
    drain(&mut machine);
    machine.handle(Input::ReconnectNow, t0);
    assert!(matches!(
        machine.state(),
        ConnectionState::Connecting { .. }
    ));
    assert_eq!(drain(&mut machine).len(), 1);
}

/// Runs an outage of `down` against a connected machine: the socket is lost at t0, every
/// connect before `t0 + down` is refused at once (as a closed port refuses within a
/// millisecond), and the first one after it succeeds. Returns how long after the server
/// came back the machine was connected again, and the attempts it made meanwhile.
fn recover_from_outage(seed: u64, down: Duration) -> (Duration, u32) {
    let t0 = Instant::now();
    let mut machine = ConnectionMachine::new(config(false), seed);
    machine.handle(Input::Start, t0);
    machine.handle(token_ready(FetchPurpose::Connect, 1, t0), t0);
    machine.handle(Input::Opened { conn: 1 }, t0);
    drain(&mut machine);
    let lost_at = t0 + Duration::from_secs(60);
    let back_at = lost_at + down;
    machine.handle(
        Input::Closed {
            conn: 1,
            code: None,
            reason: String::new(),
        },
        lost_at,
    );
    let mut now = lost_at;
    let mut attempts = 0;
    for _ in 0..10_000 {
        while let Some(action) = machine.poll_action() {
            match action {
                Action::FetchToken { purpose, .. } => {
                    machine.handle(token_ready(purpose, 1, now), now);
                }
                Action::Open { conn } => {
                    attempts += 1;
                    if now >= back_at {
                        machine.handle(Input::Opened { conn }, now);
                    } else {
                        now += Duration::from_millis(1);
                        machine.handle(
                            Input::ConnectFailed {
                                conn,
                                error: "connection refused".into(),
                            },
                            now,
                        );
                    }
                }
                _ => {}
            }
        }
        if machine.state() == &ConnectionState::Connected {
            return (now.saturating_duration_since(back_at), attempts);
        }
        now = machine
            .poll_timeout()
            .expect("a reconnecting machine has a timer");
        machine.handle(Input::Tick, now);
    }
    panic!("never reconnected after an outage of {down:?}");
}

#[test]
fn after_an_outage_the_machine_is_back_within_a_quarter_of_it() {
    const SEEDS: u64 = 300;
    for down in [2, 5, 15, 60].map(Duration::from_secs) {
        let bound = Duration::from_secs(1).max(down / 4);
        let mut worst = Duration::ZERO;
        let mut attempts = 0;
        for seed in 0..SEEDS {
            let (late, made) = recover_from_outage(seed, down);
            worst = worst.max(late);
            attempts += made;
        }
        assert!(
            worst <= bound,
            "an outage of {down:?}: back {worst:?} after the server, bound {bound:?}"
        );
        // Fast recovery is not bought with hammering: on average no more than one
        // attempt per half the floor, plus the quick first step and the attempt that
        // succeeds.
        let mean_attempts = attempts as f64 / SEEDS as f64;
        let most_allowed = down.as_secs_f64() / (OUTAGE_FLOOR.as_secs_f64() / 2.0) + 2.0;
        assert!(
            mean_attempts <= most_allowed,
            "an outage of {down:?}: {mean_attempts:.1} attempts on average, more than {most_allowed:.1}"
        );
    }
}

#[test]
fn a_refresh_while_waiting_to_reconnect_retries_at_once() {
    let (mut machine, t0) = connected(false);
    let lost_at = t0 + Duration::from_secs(1);
    machine.handle(
        Input::Closed {
            conn: 1,
            code: None,
            reason: String::new(),
        },
        lost_at,
    );
    // Refused several times, so the wait is long.
    let mut now = lost_at;
    for _ in 0..5 {
        now = machine.poll_timeout().unwrap();
        machine.handle(Input::Tick, now);
        machine.handle(token_ready(FetchPurpose::Connect, 1, now), now);
        let Some(Action::Open { conn }) = drain(&mut machine).pop() else {
            panic!("expected an open");
        };
        machine.handle(
            Input::ConnectFailed {
                conn,
                error: "refused".into(),
            },
            now,
        );
    }
    assert!(matches!(
        machine.state(),
        ConnectionState::Reconnecting { .. }
    ));
    drain(&mut machine);
    std::iter::from_fn(|| machine.poll_event()).for_each(drop);
    // The auth API answered a refresh: the server is back.
    machine.handle(Input::TokenRefreshed { generation: 2 }, now);
    assert!(matches!(
        machine.state(),
        ConnectionState::Connecting { attempt: 7 }
    ));
    let change = machine.poll_event().unwrap();
    assert_eq!(change.reason, Reason::ServerBack);
    assert_eq!(
        drain(&mut machine),
        vec![Action::FetchToken {
            purpose: FetchPurpose::Connect,
            force: None
        }]
    );
}

#[test]
fn a_rejected_token_gets_one_forced_refresh_then_gives_up_keeping_the_session() {
    let t0 = Instant::now();
    let mut machine = ConnectionMachine::new(config(false), 1);
    machine.handle(Input::Start, t0);
    machine.handle(token_ready(FetchPurpose::Connect, 1, t0), t0);
    drain(&mut machine);
    machine.handle(
        Input::UpgradeRejected {
            conn: 1,
            status: 401,
        },
        t0,
    );
    assert_eq!(
        drain(&mut machine),
        vec![Action::FetchToken {
            purpose: FetchPurpose::Connect,
            force: Some(1)
        }]
    );
    machine.handle(token_ready(FetchPurpose::Connect, 2, t0), t0);
    assert_eq!(drain(&mut machine), vec![Action::Open { conn: 2 }]);
    machine.handle(
        Input::UpgradeRejected {
            conn: 2,
            status: 401,
        },
        t0,
    );
    // The forced refresh succeeded, so the auth API still vouches for the session: the
    // machine stops, but does not end the session.
    assert_eq!(machine.state(), &ConnectionState::GaveUp);
    let change = std::iter::from_fn(|| machine.poll_event()).last().unwrap();
    assert_eq!(change.reason, Reason::AuthRejected);
    assert!(!drain(&mut machine)
        .iter()
        .any(|a| matches!(a, Action::EndSession { .. })));
    // Nothing loops: time and wake-ups bring nothing.
    for input in [Input::Tick, Input::Wake] {
        machine.handle(input, t0 + Duration::from_secs(60));
        assert!(drain(&mut machine).is_empty());
    }
    // The user's retry gets a fresh budget, including one more forced refresh.
    machine.handle(Input::ReconnectNow, t0 + Duration::from_secs(61));
    assert_eq!(
        drain(&mut machine),
        vec![Action::FetchToken {
            purpose: FetchPurpose::Connect,
            force: None
        }]
    );
    machine.handle(token_ready(FetchPurpose::Connect, 3, t0), t0);
    drain(&mut machine);
    machine.handle(
        Input::UpgradeRejected {
            conn: 3,
            status: 403,
        },
        t0,
    );
    assert_eq!(
        drain(&mut machine),
        vec![Action::FetchToken {
            purpose: FetchPurpose::Connect,
            force: Some(3)
        }]
    );
}

#[test]
fn an_auth_error_takes_the_auth_path_with_its_own_reason() {
    let (mut machine, t0) = connected(true);
    std::iter::from_fn(|| machine.poll_event()).for_each(drop);
    machine.handle(
        Input::AuthFailed {
            conn: 1,
            message: "token revoked".into(),
        },
        t0,
    );
    // Not a lost connection: one forced refresh, as for any refused token.
    let change = machine.poll_event().expect("a transition");
    assert_eq!(change.reason, Reason::AuthRetry);
    // Its reason says what the server said, not "connection lost".
    let reason = Reason::AuthFailed("token revoked".into());
    assert_eq!(reason.code(), "auth_failed");
    assert_eq!(
        reason.to_string(),
        "the server refused the token: token revoked"
    );
    assert_eq!(
        Reason::AuthFailed(String::new()).to_string(),
        "the server refused the token"
    );
}

#[test]
fn auth_close_codes_count_as_rejection_but_an_expired_token_does_not() {
    for code in [1008u16, 4001, 4401] {
        let (mut machine, t0) = connected(false);
        drain(&mut machine);
        machine.handle(
            Input::Closed {
                conn: 1,
                code: Some(code),
                reason: "bad token".into(),
            },
            t0 + Duration::from_secs(1),
        );
        assert!(drain(&mut machine).contains(&Action::FetchToken {
            purpose: FetchPurpose::Connect,
            force: Some(1)
        }));
    }
    // The same close after the token's expiry is the server enforcing it: reconnect
    // at once with a fresh (not forced) token, and keep the auth retry.
    let (mut machine, t0) = connected(false);
    machine.handle(
        Input::Closed {
            conn: 1,
            code: Some(4001),
            reason: "token expired".into(),
        },
        t0 + Duration::from_secs(301),
    );
    assert!(drain(&mut machine).contains(&Action::FetchToken {
        purpose: FetchPurpose::Connect,
        force: None
    }));
}

/// The server closes socket `conn` with 4403; the machine must be signed out for it.
fn close_forbidden(machine: &mut ConnectionMachine, conn: u64, at: Instant) {
    machine.handle(
        Input::Closed {
            conn,
            code: Some(4403),
            reason: "banned".into(),
        },
        at,
    );
    assert_eq!(
        machine.state(),
        &ConnectionState::SignedOut {
            reason: EndReason::Forbidden
        }
    );
}

#[test]
fn close_4403_signs_out_at_once() {
    let (mut machine, t0) = connected(false);
    close_forbidden(&mut machine, 1, t0);
}

#[test]
fn close_4403_on_the_handover_socket_signs_out_and_closes_the_old_one() {
    for (mut machine, t0) in [connected(false), socketio_connected(socketio_config())] {
        handover_open_at(&mut machine, t0);
        drain(&mut machine);
        close_forbidden(&mut machine, 2, t0);
        let actions = drain(&mut machine);
        assert!(
            actions.contains(&Action::EndSession {
                reason: EndReason::Forbidden
            }),
            "{actions:?}"
        );
        assert!(
            actions
                .iter()
                .any(|a| matches!(a, Action::Close { conn: 1, .. })),
            "{actions:?}"
        );
        assert_eq!(machine.live_sockets(), 0);
    }
}

#[test]
fn silence_past_ping_interval_plus_grace_is_a_dead_connection() {
    let (mut machine, t0) = connected(false);
    drain(&mut machine);
    let ping = machine.config().ping_interval;
    machine.handle(Input::Tick, t0 + ping);
    assert_eq!(
        drain(&mut machine),
        vec![Action::SendPing {
            conn: 1,
            app: false
        }]
    );
    let dead_at = machine.poll_timeout().unwrap();
    assert!(dead_at <= t0 + machine.config().dead_after());
    let mut now = t0 + ping;
    while machine.state() == &ConnectionState::Connected {
        now = machine.poll_timeout().unwrap();
        machine.handle(Input::Tick, now);
    }
    assert_eq!(now, t0 + machine.config().dead_after());
    let change = std::iter::from_fn(|| machine.poll_event()).last().unwrap();
    assert_eq!(change.reason, Reason::KeepaliveTimeout);
    // The dead socket is closed, so nothing it delivers later can count.
    assert!(drain(&mut machine).contains(&Action::Close {
        conn: 1,
        code: 1000,
        reason: CloseReason::KeepaliveTimeout
    }));
    assert_eq!(machine.live_sockets(), 0);
}

#[test]
fn activity_keeps_the_connection_alive() {
    let (mut machine, t0) = connected(false);
    for second in 1..=120u64 {
        let now = t0 + Duration::from_secs(second);
        machine.handle(Input::Activity { conn: 1 }, now);
        machine.handle(Input::Tick, now);
    }
    assert_eq!(machine.state(), &ConnectionState::Connected);
}

#[test]
fn a_stable_connection_resets_the_attempt_counter() {
    let t0 = Instant::now();
    let mut machine = ConnectionMachine::new(config(false), 3);
    machine.handle(Input::Start, t0);
    for conn in 1..=3 {
        machine.handle(token_ready(FetchPurpose::Connect, 1, t0), t0);
        machine.handle(
            Input::ConnectFailed {
                conn,
                error: "refused".into(),
            },
            t0,
        );
        machine.handle(Input::ReconnectNow, t0);
    }
    assert_eq!(machine.failures(), 3);
    machine.handle(token_ready(FetchPurpose::Connect, 1, t0), t0);
    machine.handle(Input::Opened { conn: 4 }, t0);
    assert_eq!(machine.state(), &ConnectionState::Connected);
    machine.handle(Input::Activity { conn: 4 }, t0 + Duration::from_secs(9));
    machine.handle(Input::Tick, t0 + Duration::from_secs(9));
    assert_eq!(machine.failures(), 3);
    machine.handle(Input::Activity { conn: 4 }, t0 + Duration::from_secs(10));
    machine.handle(Input::Tick, t0 + Duration::from_secs(10));
    assert_eq!(machine.failures(), 0);
}

#[test]
fn max_attempts_gives_up_and_reconnect_now_revives() {
    let mut cfg = config(false);
    cfg.reconnect.max_attempts = Some(2);
    let t0 = Instant::now();
    let mut machine = ConnectionMachine::new(cfg, 3);
    machine.handle(Input::Start, t0);
    for conn in 1..=2 {
        machine.handle(token_ready(FetchPurpose::Connect, 1, t0), t0);
        machine.handle(
            Input::ConnectFailed {
                conn,
                error: "refused".into(),
            },
            t0,
        );
        if conn < 2 {
            machine.handle(Input::ReconnectNow, t0);
        }
    }
    assert_eq!(machine.state(), &ConnectionState::GaveUp);
    drain(&mut machine);
    machine.handle(Input::Tick, t0 + Duration::from_secs(3600));
    assert!(drain(&mut machine).is_empty(), "no retries after giving up");
    machine.handle(Input::ReconnectNow, t0);
    assert_eq!(machine.state(), &ConnectionState::Connecting { attempt: 1 });
}

#[test]
fn a_refresh_hands_over_make_before_break() {
    let (mut machine, t0) = connected(false);
    drain(&mut machine);
    machine.handle(Input::TokenRefreshed { generation: 2 }, t0);
    assert_eq!(
        drain(&mut machine),
        vec![Action::FetchToken {
            purpose: FetchPurpose::Handover,
            force: None
        }]
    );
    machine.handle(token_ready(FetchPurpose::Handover, 2, t0), t0);
    assert_eq!(drain(&mut machine), vec![Action::Open { conn: 2 }]);
    assert_eq!(machine.live_sockets(), 2);
    assert!(machine.in_handover());
    machine.handle(Input::Opened { conn: 2 }, t0);
    // Not switched until the new socket's snapshot is in.
    assert!(drain(&mut machine).is_empty());
    machine.handle(Input::SnapshotReceived { conn: 2 }, t0);
    assert_eq!(
        drain(&mut machine),
        vec![Action::Promote {
            conn: 2,
            snapshot: ChangeCause::Live
        }]
    );
    assert_eq!(machine.live_sockets(), 1);
    assert_eq!(machine.primary(), Some(2));
    assert_eq!(machine.retiring(), Some(1));
    assert_eq!(machine.state(), &ConnectionState::Connected);
    // The old socket is closed once the router says it has nothing left.
    machine.handle(Input::HandoverDrained { conn: 1 }, t0);
    assert_eq!(
        drain(&mut machine),
        vec![Action::Close {
            conn: 1,
            code: 1000,
            reason: CloseReason::Handover
        }]
    );
    assert_eq!(machine.retiring(), None);
    machine.handle(Input::HandoverDrained { conn: 1 }, t0);
    assert!(drain(&mut machine).is_empty(), "closed once");
}

#[test]
fn the_replaced_socket_is_closed_when_the_drain_time_is_over_drained_or_not() {
    let (mut machine, t0) = connected(false);
    drain(&mut machine);
    let bound = machine.config().handover_drain;
    machine.handle(Input::TokenRefreshed { generation: 2 }, t0);
    machine.handle(token_ready(FetchPurpose::Handover, 2, t0), t0);
    machine.handle(Input::Opened { conn: 2 }, t0);
    machine.handle(Input::SnapshotReceived { conn: 2 }, t0);
    drain(&mut machine);
    assert_eq!(machine.retiring(), Some(1));
    assert!(machine.poll_timeout().is_some_and(|at| at <= t0 + bound));
    machine.handle(Input::Tick, t0 + bound - Duration::from_millis(1));
    assert!(
        drain(&mut machine).is_empty(),
        "not before the drain time is over"
    );
    machine.handle(Input::Tick, t0 + bound);
    assert_eq!(
        drain(&mut machine),
        vec![Action::Close {
            conn: 1,
            code: 1000,
            reason: CloseReason::Handover
        }]
    );
    // Its late close changes nothing: socket 2 carries on.
    machine.handle(
        Input::Closed {
            conn: 1,
            code: Some(1000),
            reason: String::new(),
        },
        t0 + bound,
    );
    assert!(drain(&mut machine).is_empty());
    assert_eq!(machine.state(), &ConnectionState::Connected);
    assert_eq!(machine.primary(), Some(2));
}

#[test]
fn a_replaced_socket_the_server_closes_while_draining_is_forgotten_quietly() {
    let (mut machine, t0) = connected(false);
    drain(&mut machine);
    machine.handle(Input::TokenRefreshed { generation: 2 }, t0);
    machine.handle(token_ready(FetchPurpose::Handover, 2, t0), t0);
    machine.handle(Input::Opened { conn: 2 }, t0);
    machine.handle(Input::SnapshotReceived { conn: 2 }, t0);
    drain(&mut machine);
    while machine.poll_event().is_some() {}
    machine.handle(
        Input::Closed {
            conn: 1,
            code: Some(1008),
            reason: "token expired".into(),
        },
        t0,
    );
    assert!(drain(&mut machine).is_empty());
    assert!(machine.poll_event().is_none(), "no state change");
    assert_eq!(machine.retiring(), None);
    machine.handle(Input::Tick, t0 + machine.config().handover_drain);
    assert!(drain(&mut machine).is_empty(), "nothing left to close");
}

#[test]
fn an_expiry_close_before_the_candidates_snapshot_promotes_the_candidate() {
    let (mut machine, t0) = connected(false);
    drain(&mut machine);
    // Socket 1's token expires at t0 + 300 s; the handover socket opens just before.
    let late = t0 + Duration::from_secs(299);
    machine.handle(Input::TokenRefreshed { generation: 2 }, late);
    machine.handle(token_ready(FetchPurpose::Handover, 2, late), late);
    machine.handle(Input::Opened { conn: 2 }, late);
    drain(&mut machine);
    // The server enforces expiry on socket 1 before socket 2's snapshot arrives.
    let expiry = t0 + Duration::from_secs(300);
    machine.handle(
        Input::Closed {
            conn: 1,
            code: Some(4001),
            reason: "token expired".into(),
        },
        expiry,
    );
    assert_eq!(machine.state(), &ConnectionState::Connected);
    assert_eq!(machine.primary(), Some(2));
    assert_eq!(
        drain(&mut machine),
        vec![Action::Promote {
            conn: 2,
            snapshot: ChangeCause::Live
        }]
    );
    // No connect deadline is left to tear socket 2 down later.
    machine.handle(Input::Tick, expiry + Duration::from_secs(20));
    assert!(!drain(&mut machine)
        .iter()
        .any(|a| matches!(a, Action::Close { conn: 2, .. })));
    assert_eq!(machine.state(), &ConnectionState::Connected);
}

#[test]
fn a_token_fetch_that_never_answers_times_out_into_a_retry() {
    let t0 = Instant::now();
    let mut machine = ConnectionMachine::new(config(false), 1);
    machine.handle(Input::Start, t0);
    drain(&mut machine);
    let deadline = t0 + machine.config().token_timeout;
    assert_eq!(machine.poll_timeout(), Some(deadline));
    machine.handle(Input::Tick, deadline);
    let change = std::iter::from_fn(|| machine.poll_event()).last().unwrap();
    assert_eq!(change.reason, Reason::TokenTimeout);
    assert!(matches!(
        machine.state(),
        ConnectionState::Reconnecting { attempt: 1, .. }
    ));
    // The late answer of the abandoned fetch opens nothing.
    machine.handle(token_ready(FetchPurpose::Connect, 1, deadline), deadline);
    assert!(drain(&mut machine).is_empty());
}

#[test]
fn reconnect_now_restarts_an_attempt_stuck_in_connecting() {
    let t0 = Instant::now();
    let mut machine = ConnectionMachine::new(config(false), 1);
    machine.handle(Input::Start, t0);
    drain(&mut machine);
    machine.handle(Input::ReconnectNow, t0 + Duration::from_secs(5));
    assert_eq!(
        drain(&mut machine),
        vec![Action::FetchToken {
            purpose: FetchPurpose::Connect,
            force: None
        }]
    );
    assert!(matches!(
        machine.state(),
        ConnectionState::Connecting { .. }
    ));
}

#[test]
fn retry_after_of_the_auth_api_delays_the_reconnect_with_a_cap() {
    let t0 = Instant::now();
    for (asked, expected_at_least) in [
        (Duration::from_secs(90), Duration::from_secs(90)),
        (Duration::from_secs(u64::MAX / 2), MAX_RETRY_AFTER),
    ] {
        let mut machine = ConnectionMachine::new(config(false), 1);
        machine.handle(Input::Start, t0);
        machine.handle(
            Input::TokenFailed {
                purpose: FetchPurpose::Connect,
                reason: "HTTP 503".into(),
                ended: None,
                retry_after: Some(asked),
                certificate: None,
                web_page: false,
            },
            t0,
        );
        let change = std::iter::from_fn(|| machine.poll_event()).last().unwrap();
        let delay = change.retry_in(t0).unwrap();
        assert!(delay >= expected_at_least, "{delay:?}");
        assert!(delay <= MAX_RETRY_AFTER.max(expected_at_least), "{delay:?}");
        assert_eq!(machine.poll_timeout(), Some(t0 + delay));
    }
}

#[test]
fn a_failed_handover_keeps_the_old_socket() {
    let (mut machine, t0) = connected(false);
    machine.handle(Input::TokenRefreshed { generation: 2 }, t0);
    machine.handle(token_ready(FetchPurpose::Handover, 2, t0), t0);
    drain(&mut machine);
    machine.handle(
        Input::ConnectFailed {
            conn: 2,
            error: "refused".into(),
        },
        t0,
    );
    assert_eq!(machine.state(), &ConnectionState::Connected);
    assert_eq!(machine.primary(), Some(1));
    assert_eq!(machine.live_sockets(), 1);
}

#[test]
fn in_band_profiles_reauthenticate_without_a_new_socket() {
    let (mut machine, t0) = connected(true);
    drain(&mut machine);
    machine.handle(Input::TokenRefreshed { generation: 2 }, t0);
    assert_eq!(
        drain(&mut machine),
        vec![Action::FetchToken {
            purpose: FetchPurpose::InBand,
            force: None
        }]
    );
    machine.handle(token_ready(FetchPurpose::InBand, 2, t0), t0);
    assert_eq!(drain(&mut machine), vec![Action::SendAuth { conn: 1 }]);
    machine.handle(Input::AuthSucceeded { conn: 1 }, t0);
    assert_eq!(machine.live_sockets(), 1);
    assert_eq!(machine.state(), &ConnectionState::Connected);
}

#[test]
fn stop_closes_with_1000_and_nothing_follows() {
    let (mut machine, t0) = connected(false);
    drain(&mut machine);
    machine.handle(Input::Stop, t0);
    assert_eq!(
        drain(&mut machine),
        vec![Action::Close {
            conn: 1,
            code: 1000,
            reason: CloseReason::Stopped
        }]
    );
    assert_eq!(machine.state(), &ConnectionState::Stopped);
    machine.handle(
        Input::Closed {
            conn: 1,
            code: None,
            reason: String::new(),
        },
        t0,
    );
    machine.handle(Input::ReconnectNow, t0);
    machine.handle(Input::Tick, t0 + Duration::from_secs(100));
    assert!(drain(&mut machine).is_empty());
    assert_eq!(machine.poll_timeout(), None);
}

/// A machine in Reconnecting after one failed connect (failures = 1).
fn reconnecting_after_one_failure() -> (ConnectionMachine, Instant) {
    let t0 = Instant::now();
    let mut machine = ConnectionMachine::new(config(false), 1);
    machine.handle(Input::Start, t0);
    machine.handle(token_ready(FetchPurpose::Connect, 1, t0), t0);
    machine.handle(
        Input::ConnectFailed {
            conn: 1,
            error: "refused".into(),
        },
        t0,
    );
    assert!(matches!(
        machine.state(),
        ConnectionState::Reconnecting { attempt: 1, .. }
    ));
    drain(&mut machine);
    while machine.poll_event().is_some() {}
    (machine, t0)
}

#[test]
fn no_network_means_offline_with_no_attempt_counted_and_no_timer() {
    // From Connected: the socket is closed, nothing is scheduled.
    let (mut machine, t0) = connected(false);
    drain(&mut machine);
    while machine.poll_event().is_some() {}
    machine.handle(Input::NetworkDown, t0 + Duration::from_secs(1));
    assert_eq!(machine.state(), &ConnectionState::Offline);
    assert_eq!(machine.state().name(), "offline");
    let change = machine.poll_event().unwrap();
    assert_eq!(change.reason, Reason::NetworkDown);
    assert_eq!(change.reason.code(), "network_down");
    assert_eq!(change.retry_at, None);
    assert_eq!(
        drain(&mut machine),
        vec![Action::Close {
            conn: 1,
            code: 1000,
            reason: CloseReason::NetworkDown
        }]
    );
    assert_eq!(machine.live_sockets(), 0);
    assert_eq!(machine.failures(), 0);
    assert_eq!(machine.poll_timeout(), None);

    // From Reconnecting: the pending retry is dropped, the count stays as it was.
    let (mut machine, t0) = reconnecting_after_one_failure();
    machine.handle(Input::NetworkDown, t0);
    assert_eq!(machine.state(), &ConnectionState::Offline);
    assert_eq!(machine.failures(), 1);
    assert_eq!(machine.poll_timeout(), None);
    // Time, ticks and wake-ups bring nothing while offline: the server is not tried.
    for input in [
        Input::Tick,
        Input::Wake,
        Input::TokenRefreshed { generation: 2 },
    ] {
        machine.handle(input, t0 + Duration::from_secs(600));
        assert!(drain(&mut machine).is_empty());
    }
    assert_eq!(machine.state(), &ConnectionState::Offline);
}

#[test]
fn a_failure_with_no_network_goes_back_offline_instead_of_backing_off() {
    let (mut machine, t0) = reconnecting_after_one_failure();
    machine.handle(Input::NetworkDown, t0);
    // The user insists; the attempt fails for want of a route.
    machine.handle(Input::ReconnectNow, t0);
    assert!(matches!(
        machine.state(),
        ConnectionState::Connecting { attempt: 2 }
    ));
    machine.handle(
        Input::TokenFailed {
            purpose: FetchPurpose::Connect,
            reason: "network unreachable".into(),
            ended: None,
            retry_after: None,
            certificate: None,
            web_page: false,
        },
        t0,
    );
    assert_eq!(machine.state(), &ConnectionState::Offline);
    assert_eq!(machine.failures(), 1);
    assert_eq!(machine.poll_timeout(), None);
}

#[test]
fn the_network_coming_back_connects_at_once() {
    let (mut machine, t0) = reconnecting_after_one_failure();
    machine.handle(Input::NetworkDown, t0);
    drain(&mut machine);
    while machine.poll_event().is_some() {}
    let back = t0 + Duration::from_secs(30);
    machine.handle(Input::NetworkUp, back);
    assert!(matches!(
        machine.state(),
        ConnectionState::Connecting { .. }
    ));
    let change = machine.poll_event().unwrap();
    assert_eq!(change.from, ConnectionState::Offline);
    assert_eq!(change.reason, Reason::NetworkUp);
    assert_eq!(change.reason.code(), "network_up");
    assert_eq!(
        drain(&mut machine),
        vec![Action::FetchToken {
            purpose: FetchPurpose::Connect,
            force: None
        }]
    );
    // And the new socket connects as usual.
    machine.handle(token_ready(FetchPurpose::Connect, 2, back), back);
    let opened = drain(&mut machine);
    let Some(Action::Open { conn }) = opened.first().cloned() else {
        panic!("no socket opened: {opened:?}");
    };
    machine.handle(Input::Opened { conn }, back);
    assert_eq!(machine.state(), &ConnectionState::Connected);
}

#[test]
fn a_network_change_while_connected_probes_the_socket() {
    let (mut machine, t0) = connected(false);
    drain(&mut machine);
    while machine.poll_event().is_some() {}
    let changed = t0 + Duration::from_secs(2);
    machine.handle(Input::NetworkChanged, changed);
    assert_eq!(machine.state(), &ConnectionState::Connected);
    assert_eq!(
        drain(&mut machine),
        vec![Action::SendPing {
            conn: 1,
            app: false
        }]
    );
    let probe_timeout = machine.config().wake_probe_timeout;
    assert_eq!(machine.poll_timeout(), Some(changed + probe_timeout));
    // An answer keeps the socket.
    machine.handle(
        Input::Activity { conn: 1 },
        changed + Duration::from_millis(50),
    );
    machine.handle(Input::Tick, changed + probe_timeout);
    assert_eq!(machine.state(), &ConnectionState::Connected);
    // No answer to the next probe: the socket died with the old network.
    let again = changed + Duration::from_secs(5);
    machine.handle(Input::NetworkChanged, again);
    drain(&mut machine);
    machine.handle(Input::Tick, again + probe_timeout);
    assert!(matches!(
        machine.state(),
        ConnectionState::Reconnecting { .. }
    ));
    let change = std::iter::from_fn(|| machine.poll_event()).last().unwrap();
    assert_eq!(change.reason, Reason::NetworkProbeFailed);
    assert!(drain(&mut machine).contains(&Action::Close {
        conn: 1,
        code: 1000,
        reason: CloseReason::NoAnswerAfterNetworkChange
    }));
}

#[test]
fn a_network_change_while_reconnecting_retries_now() {
    let (mut machine, t0) = reconnecting_after_one_failure();
    let retry_at = machine.poll_timeout().unwrap();
    let changed = t0 + Duration::from_millis(1);
    assert!(changed < retry_at, "the backoff is still running");
    machine.handle(Input::NetworkChanged, changed);
    assert!(matches!(
        machine.state(),
        ConnectionState::Connecting { attempt: 2 }
    ));
    let change = machine.poll_event().unwrap();
    assert_eq!(change.reason, Reason::NetworkChanged);
    assert_eq!(
        drain(&mut machine),
        vec![Action::FetchToken {
            purpose: FetchPurpose::Connect,
            force: None
        }]
    );
}

#[test]
fn a_socket_that_goes_live_outweighs_an_earlier_network_down() {
    // The routing table said no, the user retried, and the socket opened anyway: a
    // later failure backs off as usual instead of waiting offline.
    let (mut machine, t0) = reconnecting_after_one_failure();
    machine.handle(Input::NetworkDown, t0);
    machine.handle(Input::ReconnectNow, t0);
    machine.handle(token_ready(FetchPurpose::Connect, 2, t0), t0);
    machine.handle(Input::Opened { conn: 2 }, t0);
    assert_eq!(machine.state(), &ConnectionState::Connected);
    machine.handle(
        Input::Closed {
            conn: 2,
            code: Some(1006),
            reason: String::new(),
        },
        t0 + Duration::from_secs(1),
    );
    assert!(matches!(
        machine.state(),
        ConnectionState::Reconnecting { .. }
    ));
}

#[test]
fn wake_probes_the_socket_on_a_short_deadline() {
    let (mut machine, t0) = connected(false);
    drain(&mut machine);
    let woke = t0 + Duration::from_secs(2);
    machine.handle(Input::Wake, woke);
    assert_eq!(
        drain(&mut machine),
        vec![Action::SendPing {
            conn: 1,
            app: false
        }]
    );
    let probe_deadline = woke + machine.config().wake_probe_timeout;
    assert_eq!(machine.poll_timeout(), Some(probe_deadline));
    machine.handle(Input::Tick, probe_deadline);
    let change = std::iter::from_fn(|| machine.poll_event()).last().unwrap();
    assert_eq!(change.reason, Reason::WakeProbeFailed);
    assert!(drain(&mut machine)
        .iter()
        .any(|a| matches!(a, Action::Close { conn: 1, .. })));
    assert!(matches!(
        machine.state(),
        ConnectionState::Reconnecting { .. }
    ));
}

#[test]
fn a_refused_refresh_while_connecting_signs_out() {
    let t0 = Instant::now();
    let mut machine = ConnectionMachine::new(config(false), 1);
    machine.handle(Input::Start, t0);
    machine.handle(
        Input::TokenFailed {
            purpose: FetchPurpose::Connect,
            reason: "rejected".into(),
            ended: Some(EndReason::SessionExpired),
            retry_after: None,
            certificate: None,
            web_page: false,
        },
        t0,
    );
    assert_eq!(
        machine.state(),
        &ConnectionState::SignedOut {
            reason: EndReason::SessionExpired
        }
    );
}

/// Brings a connected machine to a handover socket (2, generation 2) that is open and
/// authenticated at `at`, with no snapshot yet.
fn handover_open_at(machine: &mut ConnectionMachine, at: Instant) {
    machine.handle(Input::TokenRefreshed { generation: 2 }, at);
    machine.handle(token_ready(FetchPurpose::Handover, 2, at), at);
    machine.handle(Input::Opened { conn: 2 }, at);
    if machine.config().auth_by_message {
        machine.handle(Input::AuthSucceeded { conn: 2 }, at);
    }
}

fn socketio_config() -> MachineConfig {
    let profile = ServerProfile::preset("socketio", "http://127.0.0.1:1").unwrap();
    MachineConfig::from_profile(&profile)
}

/// A Socket.IO machine connected on socket 1 at the returned instant.
fn socketio_connected(config: MachineConfig) -> (ConnectionMachine, Instant) {
    let t0 = Instant::now();
    let mut machine = ConnectionMachine::new(config, 3);
    machine.handle(Input::Start, t0);
    machine.handle(token_ready(FetchPurpose::Connect, 1, t0), t0);
    machine.handle(Input::Opened { conn: 1 }, t0);
    machine.handle(Input::AuthSucceeded { conn: 1 }, t0);
    assert_eq!(machine.state(), &ConnectionState::Connected);
    drain(&mut machine);
    while machine.poll_event().is_some() {}
    (machine, t0)
}

#[test]
fn a_handover_without_a_snapshot_goes_ahead_after_the_snapshot_wait() {
    for config in [config(false), socketio_config()] {
        let wait = config.snapshot_wait;
        assert_eq!(wait, Duration::from_secs(1), "the default wait");
        let t0 = Instant::now();
        let mut machine = ConnectionMachine::new(config, 5);
        machine.handle(Input::Start, t0);
        machine.handle(token_ready(FetchPurpose::Connect, 1, t0), t0);
        machine.handle(Input::Opened { conn: 1 }, t0);
        machine.handle(Input::AuthSucceeded { conn: 1 }, t0);
        drain(&mut machine);
        let at = t0 + Duration::from_secs(5);
        handover_open_at(&mut machine, at);
        drain(&mut machine);
        while machine.poll_event().is_some() {}
        // The snapshot deadline is the next thing the machine waits for.
        assert_eq!(machine.poll_timeout(), Some(at + wait));
        machine.handle(Input::Tick, at + wait - Duration::from_millis(1));
        assert!(
            drain(&mut machine).is_empty(),
            "not before the wait is over"
        );
        assert!(machine.in_handover());
        machine.handle(Input::Tick, at + wait);
        assert_eq!(
            drain(&mut machine),
            vec![Action::Promote {
                conn: 2,
                snapshot: ChangeCause::Live
            }]
        );
        assert_eq!(machine.primary(), Some(2));
        assert_eq!(machine.retiring(), Some(1));
        let change = std::iter::from_fn(|| machine.poll_event()).last().unwrap();
        assert_eq!(change.reason, Reason::Handover);
        // A snapshot that comes late changes nothing.
        machine.handle(Input::SnapshotReceived { conn: 2 }, at + wait * 2);
        assert!(drain(&mut machine).is_empty());
        assert_eq!(machine.state(), &ConnectionState::Connected);
    }
}

#[test]
fn a_snapshot_within_the_wait_promotes_at_once() {
    let (mut machine, t0) = connected(false);
    drain(&mut machine);
    let at = t0 + Duration::from_secs(3);
    handover_open_at(&mut machine, at);
    drain(&mut machine);
    machine.handle(
        Input::SnapshotReceived { conn: 2 },
        at + Duration::from_millis(200),
    );
    assert!(drain(&mut machine).contains(&Action::Promote {
        conn: 2,
        snapshot: ChangeCause::Live
    }));
    machine.handle(
        Input::HandoverDrained { conn: 1 },
        at + Duration::from_millis(200),
    );
    drain(&mut machine);
    // No snapshot (or drain) deadline is left behind.
    assert!(machine
        .poll_timeout()
        .is_some_and(|t| t > at + Duration::from_secs(2)));
}

#[test]
fn the_snapshot_wait_never_outlasts_the_connect_deadline() {
    let mut cfg = config(false);
    cfg.snapshot_wait = Duration::from_secs(60);
    cfg.reconnect.stable_after = Duration::from_secs(60);
    let connect_timeout = cfg.connect_timeout;
    let t0 = Instant::now();
    let mut machine = ConnectionMachine::new(cfg, 9);
    machine.handle(Input::Start, t0);
    machine.handle(token_ready(FetchPurpose::Connect, 1, t0), t0);
    machine.handle(Input::Opened { conn: 1 }, t0);
    drain(&mut machine);
    let asked = t0 + Duration::from_secs(1);
    machine.handle(Input::TokenRefreshed { generation: 2 }, asked);
    machine.handle(token_ready(FetchPurpose::Handover, 2, asked), asked);
    // The socket opens late, just before its connect deadline.
    let opened = asked + connect_timeout - Duration::from_millis(100);
    machine.handle(Input::Opened { conn: 2 }, opened);
    drain(&mut machine);
    let due = machine.poll_timeout().unwrap();
    assert_eq!(due, asked + connect_timeout);
    machine.handle(Input::Tick, due);
    let actions = drain(&mut machine);
    assert!(
        actions.contains(&Action::Promote {
            conn: 2,
            snapshot: ChangeCause::Live
        }),
        "{actions:?}"
    );
    assert!(!actions.contains(&Action::Close {
        conn: 2,
        code: 1000,
        reason: CloseReason::HandoverTimedOut
    }));
    assert_eq!(machine.primary(), Some(2));
}

#[test]
fn a_handover_socket_that_never_authenticates_still_times_out() {
    let (mut machine, t0) = socketio_connected(socketio_config());
    let at = t0 + Duration::from_secs(2);
    machine.handle(Input::TokenRefreshed { generation: 2 }, at);
    machine.handle(token_ready(FetchPurpose::Handover, 2, at), at);
    machine.handle(Input::Opened { conn: 2 }, at);
    drain(&mut machine);
    let deadline = at + machine.config().connect_timeout;
    let mut now = at;
    while machine.in_handover() {
        now = machine.poll_timeout().unwrap();
        assert!(now <= deadline);
        machine.handle(Input::Tick, now);
        machine.handle(Input::Activity { conn: 1 }, now);
    }
    assert_eq!(now, deadline);
    assert!(drain(&mut machine).contains(&Action::Close {
        conn: 2,
        code: 1000,
        reason: CloseReason::HandoverTimedOut
    }));
    assert_eq!(machine.primary(), Some(1));
}

#[test]
fn the_servers_heartbeat_decides_when_a_socketio_server_is_dead() {
    let t0 = Instant::now();
    let mut machine = ConnectionMachine::new(socketio_config(), 3);
    machine.handle(Input::Start, t0);
    machine.handle(token_ready(FetchPurpose::Connect, 1, t0), t0);
    machine.handle(Input::Opened { conn: 1 }, t0);
    // The Engine.IO open packet comes before CONNECT is answered.
    machine.handle(
        Input::Heartbeat {
            conn: 1,
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(3),
        },
        t0,
    );
    machine.handle(Input::AuthSucceeded { conn: 1 }, t0);
    drain(&mut machine);
    let mut now = t0;
    while machine.state() == &ConnectionState::Connected {
        now = machine.poll_timeout().unwrap();
        machine.handle(Input::Tick, now);
    }
    assert_eq!(
        now,
        t0 + Duration::from_secs(5),
        "pingInterval + pingTimeout"
    );
    let change = std::iter::from_fn(|| machine.poll_event()).last().unwrap();
    assert_eq!(change.reason, Reason::KeepaliveTimeout);

    // Opted out in the profile, or a JSON profile: ping_interval + dead_grace.
    let mut opted_out = socketio_config();
    opted_out.server_heartbeat = false;
    let mut json = config(false);
    json.server_heartbeat = false;
    for cfg in [opted_out, json] {
        let dead_after = cfg.dead_after();
        let auth = cfg.auth_by_message;
        let mut machine = ConnectionMachine::new(cfg, 3);
        machine.handle(Input::Start, t0);
        machine.handle(token_ready(FetchPurpose::Connect, 1, t0), t0);
        machine.handle(Input::Opened { conn: 1 }, t0);
        machine.handle(
            Input::Heartbeat {
                conn: 1,
                interval: Duration::from_secs(2),
                timeout: Duration::from_secs(3),
            },
            t0,
        );
        if auth {
            machine.handle(Input::AuthSucceeded { conn: 1 }, t0);
        }
        let mut now = t0;
        while machine.state() == &ConnectionState::Connected {
            now = machine.poll_timeout().unwrap();
            machine.handle(Input::Tick, now);
        }
        assert_eq!(now, t0 + dead_after);
    }
}

#[test]
fn a_heartbeat_learned_while_live_moves_the_dead_check() {
    let (mut machine, t0) = socketio_connected(socketio_config());
    machine.handle(
        Input::Heartbeat {
            conn: 1,
            interval: Duration::from_millis(500),
            timeout: Duration::from_millis(500),
        },
        t0,
    );
    // Zeros and absurd values cannot make the check vanish or overflow.
    machine.handle(
        Input::Heartbeat {
            conn: 1,
            interval: Duration::ZERO,
            timeout: Duration::from_secs(u64::MAX / 4),
        },
        t0,
    );
    let mut now = t0;
    while machine.state() == &ConnectionState::Connected {
        now = machine.poll_timeout().unwrap();
        machine.handle(Input::Tick, now);
    }
    assert_eq!(now, t0 + Duration::from_secs(1));
}

#[test]
fn a_server_disconnect_is_its_own_reason_and_is_retried() {
    let (mut machine, t0) = socketio_connected(socketio_config());
    machine.handle(
        Input::ServerDisconnected { conn: 1 },
        t0 + Duration::from_secs(30),
    );
    let change = std::iter::from_fn(|| machine.poll_event()).last().unwrap();
    assert_eq!(change.reason, Reason::ServerDisconnect);
    assert_eq!(change.reason.code(), "server_disconnect");
    assert_eq!(change.reason.to_string(), "the server ended the session");
    assert!(matches!(
        machine.state(),
        ConnectionState::Reconnecting { attempt: 1, .. }
    ));
}

#[test]
fn accept_then_disconnect_twice_is_an_auth_failure_with_one_forced_refresh() {
    let (mut machine, t0) = socketio_connected(socketio_config());
    let soon = Duration::from_millis(100);
    // The first one looks like any server disconnect: backoff.
    machine.handle(Input::ServerDisconnected { conn: 1 }, t0 + soon);
    assert!(matches!(
        machine.state(),
        ConnectionState::Reconnecting { .. }
    ));
    let due = machine.poll_timeout().unwrap();
    machine.handle(Input::Tick, due);
    machine.handle(token_ready(FetchPurpose::Connect, 2, due), due);
    machine.handle(Input::Opened { conn: 2 }, due);
    machine.handle(Input::AuthSucceeded { conn: 2 }, due);
    drain(&mut machine);
    // The second, as quick: one forced refresh and an immediate retry.
    machine.handle(Input::ServerDisconnected { conn: 2 }, due + soon);
    let changes: Vec<_> = std::iter::from_fn(|| machine.poll_event()).collect();
    assert_eq!(changes.last().unwrap().reason, Reason::AuthRetry);
    let actions = drain(&mut machine);
    assert!(actions.contains(&Action::FetchToken {
        purpose: FetchPurpose::Connect,
        force: Some(2)
    }));
    assert!(!actions.iter().any(|a| matches!(a, Action::Open { .. })));
    let t = due + soon;
    machine.handle(token_ready(FetchPurpose::Connect, 3, t), t);
    machine.handle(Input::Opened { conn: 3 }, t);
    machine.handle(Input::AuthSucceeded { conn: 3 }, t);
    drain(&mut machine);
    // And once more after the forced refresh: the no-loop rule.
    machine.handle(Input::ServerDisconnected { conn: 3 }, t + soon);
    assert_eq!(machine.state(), &ConnectionState::GaveUp);
    let change = std::iter::from_fn(|| machine.poll_event()).last().unwrap();
    assert_eq!(change.reason, Reason::AuthRejected);
    assert!(!drain(&mut machine)
        .iter()
        .any(|a| matches!(a, Action::EndSession { .. } | Action::FetchToken { .. })));
    machine.handle(Input::Tick, t + Duration::from_secs(120));
    assert!(drain(&mut machine).is_empty(), "nothing loops");
}

#[test]
fn a_disconnect_after_the_window_starts_the_count_again() {
    let (mut machine, t0) = socketio_connected(socketio_config());
    machine.handle(
        Input::ServerDisconnected { conn: 1 },
        t0 + Duration::from_millis(100),
    );
    let due = machine.poll_timeout().unwrap();
    machine.handle(Input::Tick, due);
    machine.handle(token_ready(FetchPurpose::Connect, 2, due), due);
    machine.handle(Input::Opened { conn: 2 }, due);
    machine.handle(Input::AuthSucceeded { conn: 2 }, due);
    drain(&mut machine);
    // This socket lived past the window: an ordinary server disconnect.
    let later = due + QUICK_DISCONNECT_WINDOW + Duration::from_millis(1);
    machine.handle(Input::ServerDisconnected { conn: 2 }, later);
    let change = std::iter::from_fn(|| machine.poll_event()).last().unwrap();
    assert_eq!(change.reason, Reason::ServerDisconnect);
    assert!(matches!(
        machine.state(),
        ConnectionState::Reconnecting { .. }
    ));
}

// ---- properties over random input sequences --------------------------------------

fn any_input() -> impl Strategy<Value = Input> {
    let conn = 1u64..6;
    let purpose = prop_oneof![
        Just(FetchPurpose::Connect),
        Just(FetchPurpose::Handover),
        Just(FetchPurpose::InBand)
    ];
    prop_oneof![
        Just(Input::Start),
        // Token lifetimes short enough that expiry closes race with handovers.
        (purpose.clone(), 1u64..5, 0u64..8_000).prop_map(|(purpose, generation, life_ms)| {
            Input::TokenReady {
                purpose,
                generation,
                expires_at: Instant::now() + Duration::from_millis(life_ms),
            }
        }),
        (
            purpose,
            any::<bool>(),
            prop_oneof![
                Just(None),
                Just(Some(Duration::from_secs(5))),
                Just(Some(Duration::from_secs(u64::MAX / 4)))
            ]
        )
            .prop_map(|(purpose, ended, retry_after)| Input::TokenFailed {
                purpose,
                reason: "x".into(),
                ended: ended.then_some(EndReason::SessionExpired),
                retry_after,
                certificate: None,
                web_page: false,
            }),
        conn.clone().prop_map(|conn| Input::Opened { conn }),
        (
            conn.clone(),
            prop_oneof![Just(401u16), Just(403), Just(500)]
        )
            .prop_map(|(conn, status)| Input::UpgradeRejected { conn, status }),
        conn.clone().prop_map(|conn| Input::ConnectFailed {
            conn,
            error: "x".into()
        }),
        conn.clone().prop_map(|conn| Input::CertificateRejected {
            conn,
            problem: kith_core::CertProblem::UnknownIssuer
        }),
        conn.clone().prop_map(|conn| Input::ProxyFailed {
            conn,
            problem: kith_core::proxy::ProxyProblem::AuthRequired
        }),
        conn.clone().prop_map(|conn| Input::AuthSucceeded { conn }),
        conn.clone().prop_map(|conn| Input::AuthFailed {
            conn,
            message: "x".into()
        }),
        conn.clone()
            .prop_map(|conn| Input::SnapshotReceived { conn }),
        conn.clone().prop_map(|conn| Input::Activity { conn }),
        conn.clone()
            .prop_map(|conn| Input::ServerDisconnected { conn }),
        (conn.clone(), 0u64..60_000, 0u64..60_000).prop_map(|(conn, interval, timeout)| {
            Input::Heartbeat {
                conn,
                interval: Duration::from_millis(interval),
                timeout: Duration::from_millis(timeout),
            }
        }),
        (
            conn,
            prop_oneof![
                Just(None),
                Just(Some(1000u16)),
                Just(Some(1006)),
                Just(Some(4001)),
                Just(Some(4403))
            ]
        )
            .prop_map(|(conn, code)| Input::Closed {
                conn,
                code,
                reason: String::new()
            }),
        (1u64..5).prop_map(|generation| Input::TokenRefreshed { generation }),
        Just(Input::ReconnectNow),
        Just(Input::Wake),
        Just(Input::NetworkDown),
        Just(Input::NetworkUp),
        Just(Input::NetworkChanged),
        Just(Input::Stop),
        Just(Input::SessionEnded {
            reason: EndReason::LoggedOut
        }),
        Just(Input::SignedIn),
        Just(Input::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn machine_invariants_hold_for_any_input_sequence(
        in_band in any::<bool>(),
        max_attempts in prop::option::of(1u32..6),
        seed in any::<u64>(),
        steps in prop::collection::vec((any_input(), prop_oneof![0u64..500, 0u64..40_000]), 1..120),
    ) {
        let mut cfg = config(in_band);
        cfg.reconnect.max_attempts = max_attempts;
        let cap = cfg.reconnect.cap;
        let mut machine = ConnectionMachine::new(cfg, seed);
        let mut now = Instant::now();
        let mut stopped = false;
        for (input, advance_ms) in steps {
            now += Duration::from_millis(advance_ms);
            let was_signed_out = matches!(machine.state(), ConnectionState::SignedOut { .. });
            let is_sign_in = input == Input::SignedIn;
            // Feed a Tick whenever a deadline passed, as the driver would.
            let mut actions = Vec::new();
            if machine.poll_timeout().is_some_and(|t| t <= now) {
                machine.handle(Input::Tick, now);
                actions.extend(std::iter::from_fn(|| machine.poll_action()));
            }
            let failures_before = machine.failures();
            let is_network_down = input == Input::NetworkDown;
            let is_reconnect_now = input == Input::ReconnectNow;
            let offered = machine.state().can_reconnect_now();
            machine.handle(input, now);
            let input_actions: Vec<_> = std::iter::from_fn(|| machine.poll_action()).collect();
            let events: Vec<_> = std::iter::from_fn(|| machine.poll_event()).collect();

            // Losing the network costs no attempt and tries nothing.
            if is_network_down {
                prop_assert_eq!(machine.failures(), failures_before);
                prop_assert!(
                    !input_actions.iter().any(|a| matches!(a, Action::Open { .. } | Action::FetchToken { .. })),
                    "network down started something: {:?}",
                    input_actions
                );
            }
            // "Reconnect now" is offered exactly where the machine acts on it.
            if is_reconnect_now {
                let started = events.iter().any(|e| e.reason == Reason::ReconnectNow);
                prop_assert_eq!(offered, started, "offered {} but started {}", offered, started);
            }
            actions.extend(input_actions);
            // Offline: no socket and no timer, so nothing reaches for the server.
            if machine.state() == &ConnectionState::Offline {
                prop_assert_eq!(machine.live_sockets(), 0);
                prop_assert_eq!(machine.poll_timeout(), None);
                prop_assert!(!machine.awaits_token());
            }

            // Never two live sockets outside a handover.
            prop_assert!(machine.live_sockets() <= 1 || machine.in_handover());
            prop_assert!(machine.live_sockets() <= 2);
            if machine.in_handover() {
                prop_assert_eq!(machine.state(), &ConnectionState::Connected);
                // A handover never waits without a deadline (connect, or snapshot).
                prop_assert!(machine.poll_timeout().is_some());
            }
            // Never a reconnect after stop: a stopped machine does nothing at all.
            if stopped {
                prop_assert!(actions.is_empty(), "actions after stop: {:?}", actions);
                prop_assert!(events.is_empty());
                prop_assert_eq!(machine.state(), &ConnectionState::Stopped);
            }
            // Backoff always within [0, cap], or the server's capped Retry-After.
            let longest = cap.max(MAX_RETRY_AFTER);
            for change in &events {
                if let Some(delay) = change.retry_in(now) {
                    prop_assert!(delay <= longest);
                }
                // Every wait to reconnect says until when.
                if matches!(change.to, ConnectionState::Reconnecting { .. }) {
                    prop_assert!(change.retry_at.is_some());
                }
            }
            // Liveness: a live primary socket is always reported as connected.
            if machine.primary_is_live() {
                prop_assert_eq!(machine.state(), &ConnectionState::Connected);
            }
            // Nothing waits without a deadline: every waiting state has a next tick.
            if matches!(
                machine.state(),
                ConnectionState::Connecting { .. }
                    | ConnectionState::Authenticating { .. }
                    | ConnectionState::Reconnecting { .. }
            ) {
                prop_assert!(
                    machine.poll_timeout().is_some(),
                    "{:?} with no deadline",
                    machine.state()
                );
            }
            // SignedOut is left only by a login (or a stop).
            if was_signed_out && !is_sign_in {
                let still = matches!(machine.state(), ConnectionState::SignedOut { .. } | ConnectionState::Stopped);
                prop_assert!(still, "left SignedOut without a login: {:?}", machine.state());
            }
            if machine.state() == &ConnectionState::Stopped {
                stopped = true;
            }
        }
    }
}

/// Inputs of a handover: refreshes, second sockets, snapshots and closes around expiry.
fn handover_input() -> impl Strategy<Value = Input> {
    let conn = 1u64..4;
    prop_oneof![
        (1u64..6).prop_map(|generation| Input::TokenRefreshed { generation }),
        (
            prop_oneof![Just(FetchPurpose::Connect), Just(FetchPurpose::Handover)],
            1u64..6,
            0u64..3_000
        )
            .prop_map(|(purpose, generation, life_ms)| Input::TokenReady {
                purpose,
                generation,
                expires_at: Instant::now() + Duration::from_millis(life_ms),
            }),
        conn.clone().prop_map(|conn| Input::Opened { conn }),
        conn.clone()
            .prop_map(|conn| Input::SnapshotReceived { conn }),
        conn.clone().prop_map(|conn| Input::Activity { conn }),
        conn.clone()
            .prop_map(|conn| Input::ServerDisconnected { conn }),
        (
            conn,
            prop_oneof![Just(None), Just(Some(1000u16)), Just(Some(4001))]
        )
            .prop_map(|(conn, code)| Input::Closed {
                conn,
                code,
                reason: String::new()
            }),
        Just(Input::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Liveness through handovers: whatever order the new socket's open and snapshot and
    /// the old socket's close (at expiry or not) come in, with noise between them, a
    /// live primary is always reported as connected.
    #[test]
    fn a_live_primary_never_stays_in_connecting(
        life_ms in 1_000u64..4_000,
        order in Just(vec![0u8, 1, 2]).prop_shuffle(),
        close_code in prop_oneof![Just(None), Just(Some(1000u16)), Just(Some(4001))],
        delays in prop::collection::vec(0u64..1_500, 3),
        noise in prop::collection::vec((handover_input(), 0u64..300), 0..6),
    ) {
        let t0 = Instant::now();
        let mut machine = ConnectionMachine::new(config(false), 7);
        let mut now = t0;
        let skeleton = [
            Input::Start,
            Input::TokenReady { purpose: FetchPurpose::Connect, generation: 1, expires_at: t0 + Duration::from_millis(life_ms) },
            Input::Opened { conn: 1 },
            Input::TokenRefreshed { generation: 2 },
            Input::TokenReady { purpose: FetchPurpose::Handover, generation: 2, expires_at: t0 + Duration::from_secs(60) },
        ];
        let race = order.iter().zip(&delays).map(|(step, delay)| {
            let input = match step {
                0 => Input::Opened { conn: 2 },
                1 => Input::SnapshotReceived { conn: 2 },
                _ => Input::Closed { conn: 1, code: close_code, reason: String::new() },
            };
            (input, *delay)
        });
        let steps = skeleton.into_iter().map(|i| (i, 0)).chain(race).chain(noise);
        for (input, advance_ms) in steps {
            now += Duration::from_millis(advance_ms);
            if machine.poll_timeout().is_some_and(|t| t <= now) {
                machine.handle(Input::Tick, now);
            }
            machine.handle(input, now);
            while machine.poll_action().is_some() {}
            while machine.poll_event().is_some() {}
            if machine.primary_is_live() {
                prop_assert_eq!(machine.state(), &ConnectionState::Connected);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A handover never depends on a snapshot the server may not send: once the new
    /// socket is authenticated, whatever else happens (activity, refreshes, ticks, a late
    /// open of a stale socket), it is promoted within `snapshot_wait`, or it failed.
    #[test]
    fn a_handover_completes_within_the_snapshot_wait_without_a_snapshot(
        socketio in any::<bool>(),
        wait_ms in 1u64..5_000,
        opened_after_ms in 0u64..8_000,
        noise in prop::collection::vec((prop_oneof![
            Just(Input::Activity { conn: 1 }),
            Just(Input::Activity { conn: 2 }),
            (2u64..6).prop_map(|generation| Input::TokenRefreshed { generation }),
            Just(Input::Tick),
        ], 0u64..700), 0..12),
    ) {
        let mut cfg = if socketio { socketio_config() } else { config(false) };
        cfg.snapshot_wait = Duration::from_millis(wait_ms);
        let t0 = Instant::now();
        let mut machine = ConnectionMachine::new(cfg, 11);
        machine.handle(Input::Start, t0);
        machine.handle(token_ready(FetchPurpose::Connect, 1, t0), t0);
        machine.handle(Input::Opened { conn: 1 }, t0);
        machine.handle(Input::AuthSucceeded { conn: 1 }, t0);
        machine.handle(Input::TokenRefreshed { generation: 2 }, t0);
        machine.handle(token_ready(FetchPurpose::Handover, 2, t0), t0);
        let live_at = t0 + Duration::from_millis(opened_after_ms);
        machine.handle(Input::Opened { conn: 2 }, live_at);
        machine.handle(Input::AuthSucceeded { conn: 2 }, live_at);
        let connect_deadline = t0 + machine.config().connect_timeout;
        let mut now = live_at;
        for (input, advance_ms) in noise {
            now += Duration::from_millis(advance_ms);
            while let Some(due) = machine.poll_timeout().filter(|t| *t <= now) {
                machine.handle(Input::Tick, due);
            }
            machine.handle(input, now);
        }
        // Let time run to the bound, ticking as the driver would.
        let bound = (live_at + Duration::from_millis(wait_ms)).min(connect_deadline).max(live_at);
        while let Some(due) = machine.poll_timeout().filter(|t| *t <= bound) {
            machine.handle(Input::Tick, due);
        }
        prop_assert!(!machine.in_handover(), "still waiting for a snapshot at {:?}", bound - t0);
        if opened_after_ms < machine.config().connect_timeout.as_millis() as u64 {
            prop_assert_eq!(machine.primary(), Some(2));
        }
        prop_assert_eq!(machine.state(), &ConnectionState::Connected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A server that accepts and disconnects at once, every time, whatever the timing
    /// within the window: three accepted sockets, one forced refresh, then `gave_up`
    /// with `auth_rejected`, and nothing after.
    #[test]
    fn accept_then_disconnect_never_loops(
        seed in any::<u64>(),
        delays_ms in prop::collection::vec(0u64..QUICK_DISCONNECT_WINDOW.as_millis() as u64, 3),
    ) {
        let t0 = Instant::now();
        let mut machine = ConnectionMachine::new(socketio_config(), seed);
        let mut now = t0;
        let mut generation = 0;
        let (mut opens, mut forced) = (0usize, 0usize);
        machine.handle(Input::Start, now);
        for _ in 0..40 {
            let actions = drain(&mut machine);
            if actions.is_empty() {
                match machine.poll_timeout() {
                    Some(due) if machine.state() != &ConnectionState::GaveUp => {
                        now = now.max(due);
                        machine.handle(Input::Tick, now);
                        continue;
                    }
                    _ => break,
                }
            }
            for action in actions {
                match action {
                    Action::FetchToken { purpose, force } => {
                        forced += usize::from(force.is_some());
                        generation += 1;
                        machine.handle(token_ready(purpose, generation, now), now);
                    }
                    Action::Open { conn } => {
                        let delay = delays_ms[opens.min(delays_ms.len() - 1)];
                        opens += 1;
                        machine.handle(Input::Opened { conn }, now);
                        machine.handle(Input::AuthSucceeded { conn }, now);
                        now += Duration::from_millis(delay);
                        machine.handle(Input::ServerDisconnected { conn }, now);
                    }
                    _ => {}
                }
            }
        }
        prop_assert_eq!(machine.state(), &ConnectionState::GaveUp);
        let last = std::iter::from_fn(|| machine.poll_event()).last().unwrap();
        prop_assert_eq!(last.reason, Reason::AuthRejected);
        prop_assert_eq!(opens, 3);
        prop_assert_eq!(forced, 1);
        machine.handle(Input::Tick, now + Duration::from_secs(3600));
        prop_assert!(drain(&mut machine).is_empty());
    }
}

#[test]
fn a_web_page_instead_of_the_auth_api_is_a_typed_retried_reason() {
    let t0 = Instant::now();
    let mut machine = ConnectionMachine::new(config(false), 1);
    machine.handle(Input::Start, t0);
    while machine.poll_event().is_some() {}
    machine.handle(
        Input::TokenFailed {
            purpose: FetchPurpose::Connect,
            reason: "ignored for a web page".into(),
            ended: None,
            retry_after: None,
            certificate: None,
            web_page: true,
        },
        t0,
    );
    let change = machine.poll_event().expect("a state change");
    assert_eq!(change.reason, Reason::WebPage(WebPageAt::AuthApi));
    assert!(matches!(change.to, ConnectionState::Reconnecting { .. }));
    assert!(change.retry_at.is_some(), "retried");
    assert_eq!(change.reason.code(), "web_page");
}
