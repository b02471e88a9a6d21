//! Watching the network, so that a lost or changed network is acted on at once rather
//! than at the next keepalive.
//!
//! The OS says *that* something changed; the kernel's routing table says *what it
//! means* for Kith. Any change is only a trigger: on Linux any route netlink message
//! (links, addresses, routes), elsewhere if-watch's address events. After a short
//! quiet period ([`DEBOUNCE_QUIET`]), Kith asks the kernel for a route to the host the
//! socket's TCP connection goes to (the server, or its proxy): a UDP socket's
//! `connect()` picks a route and a source address and sends no packet, and fails with
//! `ENETUNREACH`/`EHOSTUNREACH` when there is none. On Linux, taking a link down keeps
//! its IPv4 address but removes its routes, which is why routes decide and addresses
//! alone do not. A loopback server always has a route.
//!
//! The decisions ([`RouteLookup::from_result`], [`NetworkView::from_lookups`],
//! [`NetworkTracker`], [`Debounce`]) are pure and unit-tested; [`watch`] does the IO
//! and reports [`NetworkEvent`]s to the driver, which feeds them to the machine.

use std::collections::BTreeSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::network::Network;
use crate::protocol::ServerProfile;
use crate::proxy::ProxyRules;

/// A burst of change messages (a link going down sends several) is one change: the
/// route is looked up once this long after the last message…
pub const DEBOUNCE_QUIET: Duration = Duration::from_millis(150);
/// …or this long after the first, if the messages never stop.
pub const DEBOUNCE_MAX: Duration = Duration::from_secs(1);
/// How long a name lookup of the server may take before the last known addresses
/// are used instead.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);
/// Where the change source misses some changes (if-watch reports addresses only) or
/// could not be opened, the route is also looked up this often. The lookup sends
/// nothing on the network.
const RECHECK_INTERVAL: Duration = Duration::from_secs(30);

/// What the driver hears from the watcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkEvent {
    /// No route to the server any more.
    Down,
    /// A route to the server again, after `Down`.
    Up,
    /// Still a route, but another source address: a new network, a VPN.
    Changed,
}

/// The host the socket's TCP connection goes to: the server, or the proxy that
/// tunnels to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkTarget {
    /// Its host name or IP address.
    pub host: String,
    /// Its TCP port.
    pub port: u16,
}

impl NetworkTarget {
    /// The socket's first hop for `profile`, as the socket itself would choose it;
    /// `None` when the profile has no usable socket URL.
    pub fn for_profile(profile: &ServerProfile, network: &Network) -> Option<NetworkTarget> {
        Self::for_url(&profile.socket_url().ok()?, network.proxies())
    }

    /// The first hop for a socket URL under these proxy rules.
    pub fn for_url(url: &url::Url, proxies: &ProxyRules) -> Option<NetworkTarget> {
        if let Some(proxy) = proxies.for_url(url) {
            let (host, port) = proxy.authority();
            return Some(NetworkTarget { host, port });
        }
        let host = match url.host()? {
            url::Host::Domain(name) => name.to_owned(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        Some(NetworkTarget {
            host,
            port: url.port_or_known_default()?,
        })
    }
}

/// What the kernel said about one of the target's addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteLookup {
    /// A route, leaving from this local address.
    Route {
        /// The local address the route leaves from.
        source: IpAddr,
    },
    /// No route: the network (or this address family) is unusable.
    NoRoute,
    /// Some other failure, which says nothing about the network.
    Unknown,
}

impl RouteLookup {
    /// Reads the result of "connect a UDP socket, then ask for its local address".
    pub fn from_result(result: io::Result<SocketAddr>) -> RouteLookup {
        match result {
            Ok(local) => RouteLookup::Route { source: local.ip() },
            Err(error) => match error.kind() {
                io::ErrorKind::NetworkUnreachable
                | io::ErrorKind::HostUnreachable
                | io::ErrorKind::NetworkDown
                | io::ErrorKind::AddrNotAvailable => RouteLookup::NoRoute,
                _ => RouteLookup::Unknown,
            },
        }
    }
}

/// The network as it matters to Kith: can the target be reached, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkView {
    /// At least one of the target's addresses has a route.
    Usable {
        /// The local addresses those routes leave from.
        sources: BTreeSet<IpAddr>,
    },
    /// No address has a route, and at least one was refused for want of one.
    Unusable,
    /// Nothing to judge by (no address known, only odd errors).
    Unknown,
}

impl NetworkView {
    /// Usable when any address has a route (the socket tries them all), unusable when
    /// none has and at least one was refused for want of a route.
    pub fn from_lookups(lookups: impl IntoIterator<Item = RouteLookup>) -> NetworkView {
        let mut sources = BTreeSet::new();
        let mut no_route = false;
        for lookup in lookups {
            match lookup {
                RouteLookup::Route { source } => {
                    sources.insert(source);
                }
                RouteLookup::NoRoute => no_route = true,
                RouteLookup::Unknown => {}
            }
        }
        if !sources.is_empty() {
            NetworkView::Usable { sources }
        } else if no_route {
            NetworkView::Unusable
        } else {
            NetworkView::Unknown
        }
    }
}

/// Turns successive views into events: only transitions are reported.
#[derive(Debug, Default)]
pub struct NetworkTracker {
    last: Option<NetworkView>,
}

impl NetworkTracker {
    /// Takes the latest view; the event, when it differs from the last one that
    /// counted. `Unknown` views are ignored, and the first usable one is the baseline.
    pub fn observe(&mut self, view: NetworkView) -> Option<NetworkEvent> {
        if view == NetworkView::Unknown {
            // No evidence either way: keep the last word.
            return None;
        }
        let event = match (&self.last, &view) {
            // The first look is the baseline: the machine assumes a usable network.
            (None, NetworkView::Usable { .. }) => None,
            (Some(NetworkView::Usable { sources: before }), NetworkView::Usable { sources }) => {
                (before != sources).then_some(NetworkEvent::Changed)
            }
            (Some(NetworkView::Unusable), NetworkView::Usable { .. }) => Some(NetworkEvent::Up),
            (Some(NetworkView::Unusable), NetworkView::Unusable) => None,
            (_, NetworkView::Unusable) => Some(NetworkEvent::Down),
            (_, NetworkView::Usable { .. }) => Some(NetworkEvent::Up),
            (_, NetworkView::Unknown) => None,
        };
        self.last = Some(view);
        event
    }
}

/// When to look at the network after a burst of change messages.
#[derive(Debug, Clone, Copy)]
pub struct Debounce {
    first: Instant,
    last: Instant,
}

impl Debounce {
    /// A burst whose first message came at `now`.
    pub fn new(now: Instant) -> Self {
        Debounce {
            first: now,
            last: now,
        }
    }

    /// Another message of the same burst.
    pub fn again(&mut self, now: Instant) {
        self.last = now;
    }

    /// [`DEBOUNCE_QUIET`] after the last message, at most [`DEBOUNCE_MAX`] after the first.
    pub fn due(&self) -> Instant {
        (self.last + DEBOUNCE_QUIET).min(self.first + DEBOUNCE_MAX)
    }
}

/// Asks the kernel for a route to `addr`. A UDP `connect()` only picks the route and
/// the source address: no packet is sent.
pub fn look_up_route(addr: SocketAddr) -> RouteLookup {
    let unspecified = match addr {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let socket = match UdpSocket::bind(unspecified) {
        Ok(socket) => socket,
        // This address family cannot be used at all here.
        Err(error) if error.kind() == io::ErrorKind::AddrNotAvailable => {
            return RouteLookup::NoRoute
        }
        Err(_) => return RouteLookup::Unknown,
    };
    RouteLookup::from_result(socket.connect(addr).and_then(|()| socket.local_addr()))
}

/// The target's addresses; empty when the name cannot be resolved in time.
async fn resolve(target: &NetworkTarget) -> Vec<SocketAddr> {
    let lookup = tokio::net::lookup_host((target.host.as_str(), target.port));
    match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(error)) => {
            tracing::debug!(%error, "network watch: cannot resolve the server's name");
            Vec::new()
        }
        Err(_) => {
            tracing::debug!("network watch: resolving the server's name timed out");
            Vec::new()
        }
    }
}

/// The route lookups for the target. After a change, the name is resolved again when
/// the network is usable (another network may give other addresses); otherwise, and
/// when that fails, the last known addresses are used.
async fn current_view(
    target: &NetworkTarget,
    addresses: &mut Vec<SocketAddr>,
    after_change: bool,
) -> NetworkView {
    if addresses.is_empty() {
        *addresses = resolve(target).await;
    }
    let view = NetworkView::from_lookups(addresses.iter().map(|a| look_up_route(*a)));
    if after_change && matches!(view, NetworkView::Usable { .. }) {
        let fresh = resolve(target).await;
        if !fresh.is_empty() && fresh != *addresses {
            *addresses = fresh;
            return NetworkView::from_lookups(addresses.iter().map(|a| look_up_route(*a)));
        }
    }
    view
}

/// Watches the network until `events` is closed, sending only transitions. Without a
/// change source (it could not be opened, or broke), the route is looked up every
/// 30 s instead; the keepalive remains the backstop either way.
pub async fn watch(target: NetworkTarget, events: mpsc::UnboundedSender<NetworkEvent>) {
    let mut changes = match ChangeSource::open() {
        Ok(source) => Some(source),
        Err(error) => {
            tracing::warn!(%error, "cannot watch the network for changes; relying on route checks and keepalives");
            None
        }
    };
    let mut addresses = Vec::new();
    let mut tracker = NetworkTracker::default();
    let send = |event: Option<NetworkEvent>| {
        if let Some(event) = event {
            tracing::info!(?event, "network change");
            let _ = events.send(event);
        }
    };
    send(tracker.observe(current_view(&target, &mut addresses, false).await));
    let mut recheck = tokio::time::interval(RECHECK_INTERVAL);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    recheck.reset();
    loop {
        let periodic = changes.as_ref().is_none_or(|c| c.misses_route_changes());
        tokio::select! {
            _ = events.closed() => return,
            changed = next_change(&mut changes) => {
                if let Err(error) = changed {
                    tracing::warn!(%error, "the network change source failed; relying on route checks");
                    changes = None;
                    continue;
                }
                let mut burst = Debounce::new(tokio_now());
                loop {
                    let due = tokio::time::Instant::from_std(burst.due());
                    tokio::select! {
                        _ = tokio::time::sleep_until(due) => break,
                        more = next_change(&mut changes) => match more {
                            Ok(()) => burst.again(tokio_now()),
                            Err(_) => break,
                        },
                    }
                }
                send(tracker.observe(current_view(&target, &mut addresses, true).await));
            }
            _ = recheck.tick(), if periodic => {
                send(tracker.observe(current_view(&target, &mut addresses, false).await));
            }
        }
    }
}

/// Now on tokio's clock (which tests may pause), as the driver reads it.
fn tokio_now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// The next change, or never when there is no change source.
async fn next_change(changes: &mut Option<ChangeSource>) -> io::Result<()> {
    match changes {
        Some(source) => source.next().await,
        None => std::future::pending().await,
    }
}

/// Linux: a route netlink socket in the link, address and route multicast groups.
/// netlink-sys (rust-netlink, the socket under rtnetlink and if-watch) gives the tokio
/// socket; the messages are not parsed, since any of them only triggers a lookup.
#[cfg(target_os = "linux")]
struct ChangeSource {
    socket: netlink_sys::TokioSocket,
    buffer: Vec<u8>,
}

#[cfg(target_os = "linux")]
impl ChangeSource {
    fn open() -> io::Result<Self> {
        use netlink_sys::{protocols::NETLINK_ROUTE, AsyncSocket, SocketAddr};
        let groups = libc::RTMGRP_LINK
            | libc::RTMGRP_IPV4_IFADDR
            | libc::RTMGRP_IPV6_IFADDR
            | libc::RTMGRP_IPV4_ROUTE
            | libc::RTMGRP_IPV6_ROUTE;
        let mut socket = netlink_sys::TokioSocket::new(NETLINK_ROUTE)?;
        socket
            .socket_mut()
            .bind(&SocketAddr::new(0, groups as u32))?;
        Ok(ChangeSource {
            socket,
            buffer: Vec::with_capacity(8192),
        })
    }

    /// Netlink reports every route change.
    fn misses_route_changes(&self) -> bool {
        false
    }

    async fn next(&mut self) -> io::Result<()> {
        use netlink_sys::AsyncSocketExt;
        self.buffer.clear();
        match self.socket.recv(&mut self.buffer).await {
            Ok(()) => Ok(()),
            // The kernel dropped messages because they came faster than they were
            // read: something changed all the same.
            Err(error) if error.raw_os_error() == Some(libc::ENOBUFS) => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// macOS and Windows: if-watch's address events (SystemConfiguration, IP Helper).
/// Written against if-watch 3.2's documented API and not built on the Linux machine
/// the tests run on; CI's macOS and Windows jobs (`.github/workflows/ci.yml`) check it.
#[cfg(not(target_os = "linux"))]
struct ChangeSource {
    watcher: if_watch::tokio::IfWatcher,
}

#[cfg(not(target_os = "linux"))]
impl ChangeSource {
    fn open() -> io::Result<Self> {
        Ok(ChangeSource {
            watcher: if_watch::tokio::IfWatcher::new()?,
        })
    }

    /// Address events only: a route that changes alone is found by the periodic check.
    fn misses_route_changes(&self) -> bool {
        true
    }

    async fn next(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.watcher.poll_if_event(cx))
            .await
            .map(|_event| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usable(sources: &[&str]) -> NetworkView {
        NetworkView::Usable {
            sources: sources.iter().map(|s| s.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn a_missing_route_is_told_apart_from_other_errors() {
        let error = |kind| Err(io::Error::from(kind));
        assert_eq!(
            RouteLookup::from_result(error(io::ErrorKind::NetworkUnreachable)),
            RouteLookup::NoRoute
        );
        assert_eq!(
            RouteLookup::from_result(error(io::ErrorKind::HostUnreachable)),
            RouteLookup::NoRoute
        );
        assert_eq!(
            RouteLookup::from_result(error(io::ErrorKind::PermissionDenied)),
            RouteLookup::Unknown
        );
        assert_eq!(
            RouteLookup::from_result(Ok("10.0.0.2:40000".parse().unwrap())),
            RouteLookup::Route {
                source: "10.0.0.2".parse().unwrap()
            }
        );
    }

    #[test]
    fn any_routed_address_makes_the_network_usable() {
        let v4 = RouteLookup::Route {
            source: "10.0.0.2".parse().unwrap(),
        };
        assert_eq!(
            NetworkView::from_lookups([RouteLookup::NoRoute, v4]),
            usable(&["10.0.0.2"])
        );
        assert_eq!(
            NetworkView::from_lookups([RouteLookup::NoRoute, RouteLookup::Unknown]),
            NetworkView::Unusable
        );
        assert_eq!(
            NetworkView::from_lookups([RouteLookup::Unknown]),
            NetworkView::Unknown
        );
        assert_eq!(NetworkView::from_lookups([]), NetworkView::Unknown);
    }

    #[test]
    fn only_transitions_are_reported() {
        let mut tracker = NetworkTracker::default();
        assert_eq!(tracker.observe(usable(&["10.0.0.2"])), None, "baseline");
        assert_eq!(tracker.observe(usable(&["10.0.0.2"])), None);
        assert_eq!(
            tracker.observe(NetworkView::Unusable),
            Some(NetworkEvent::Down)
        );
        assert_eq!(tracker.observe(NetworkView::Unusable), None);
        assert_eq!(tracker.observe(NetworkView::Unknown), None, "no evidence");
        assert_eq!(
            tracker.observe(usable(&["10.0.0.2"])),
            Some(NetworkEvent::Up)
        );
        assert_eq!(
            tracker.observe(usable(&["192.168.1.5"])),
            Some(NetworkEvent::Changed)
        );
        assert_eq!(tracker.observe(NetworkView::Unknown), None);
        assert_eq!(tracker.observe(usable(&["192.168.1.5"])), None);
    }

    #[test]
    fn starting_without_a_network_is_reported() {
        let mut tracker = NetworkTracker::default();
        assert_eq!(
            tracker.observe(NetworkView::Unusable),
            Some(NetworkEvent::Down)
        );
    }

    #[test]
    fn a_burst_is_looked_at_once_after_a_quiet_spell_but_never_waits_past_the_cap() {
        let t0 = Instant::now();
        let mut burst = Debounce::new(t0);
        assert_eq!(burst.due(), t0 + DEBOUNCE_QUIET);
        burst.again(t0 + Duration::from_millis(100));
        assert_eq!(
            burst.due(),
            t0 + Duration::from_millis(100) + DEBOUNCE_QUIET
        );
        burst.again(t0 + Duration::from_millis(990));
        assert_eq!(burst.due(), t0 + DEBOUNCE_MAX);
    }

    #[test]
    fn loopback_always_has_a_route_from_loopback() {
        assert_eq!(
            look_up_route("127.0.0.1:9".parse().unwrap()),
            RouteLookup::Route {
                source: "127.0.0.1".parse().unwrap()
            }
        );
    }

    #[test]
    fn the_target_is_the_server_or_its_proxy() {
        let url = url::Url::parse("wss://[2001:db8::7]/ws/presence/").unwrap();
        assert_eq!(
            NetworkTarget::for_url(&url, &ProxyRules::direct()),
            Some(NetworkTarget {
                host: "2001:db8::7".into(),
                port: 443
            })
        );
        let proxy = crate::ProxyUrl::parse("http://10.9.9.9:3128").unwrap();
        let proxied = ProxyRules::from_vars(Some(&proxy), |_| None);
        assert_eq!(
            NetworkTarget::for_url(&url, &proxied),
            Some(NetworkTarget {
                host: "10.9.9.9".into(),
                port: 3128
            })
        );
    }
}
