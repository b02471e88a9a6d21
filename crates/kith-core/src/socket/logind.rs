//! Hearing about a resume from sleep from logind, the moment it happens.
//!
//! The driver's clock check ([`SleepDetector`](super::wake::SleepDetector)) only runs
//! every 15 s, so after a suspend a dead socket could go unnoticed that long. On Linux,
//! systemd-logind announces every suspend on the system bus: `PrepareForSleep(true)`
//! before it, `PrepareForSleep(false)` after the resume. This watcher subscribes to that
//! signal and tells the driver at once, which then probes and refreshes just as when the
//! clock check sees a sleep. Where there is no system bus, it logs that once at debug
//! and ends; where logind is not on it, it says so once and keeps listening in case
//! logind starts. The clock check still covers those machines. It honours
//! `DBUS_SYSTEM_BUS_ADDRESS`, as every D-Bus client does.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;

const SERVICE: &str = "org.freedesktop.login1";
const PATH: &str = "/org/freedesktop/login1";
const INTERFACE: &str = "org.freedesktop.login1.Manager";
const SIGNAL: &str = "PrepareForSleep";

/// Deadline for connecting to the system bus and subscribing.
const SUBSCRIBE_DEADLINE: Duration = Duration::from_secs(2);

/// Sends `()` on `resumed` each time logind says the machine resumed from sleep. Ends
/// when `resumed`'s receiver is dropped, or when the bus goes away. Never fails: run
/// it on its own task.
pub(crate) async fn watch(resumed: mpsc::UnboundedSender<()>) {
    let subscribe = tokio::time::timeout(SUBSCRIBE_DEADLINE, subscribe());
    let (_connection, mut signals) = tokio::select! {
        subscribed = subscribe => match subscribed {
            Ok(Ok(subscribed)) => subscribed,
            Ok(Err(error)) => {
                tracing::debug!(%error, "no logind sleep signals; the clock check alone detects a resume");
                return;
            }
            Err(_) => {
                tracing::debug!(
                    deadline_s = SUBSCRIBE_DEADLINE.as_secs(),
                    "the system bus did not answer in time; the clock check alone detects a resume"
                );
                return;
            }
        },
        () = resumed.closed() => return,
    };
    loop {
        let message = tokio::select! {
            message = signals.next() => message,
            () = resumed.closed() => return,
        };
        let Some(message) = message else {
            tracing::debug!("the system bus closed; the clock check alone detects a resume");
            return;
        };
        match message.body().deserialize::<bool>() {
            Ok(true) => tracing::debug!("logind: going to sleep"),
            Ok(false) => {
                tracing::debug!("logind: resumed from sleep");
                if resumed.send(()).is_err() {
                    return;
                }
            }
            Err(error) => tracing::debug!(%error, "logind: unreadable PrepareForSleep signal"),
        }
    }
}

/// Connects to the system bus and subscribes to `PrepareForSleep`. The stream follows
/// logind's owner, so a logind that starts (or restarts) later is heard too.
async fn subscribe() -> zbus::Result<(zbus::Connection, zbus::proxy::SignalStream<'static>)> {
    let connection = zbus::Connection::system().await?;
    let proxy = zbus::proxy::Builder::<zbus::Proxy<'static>>::new(&connection)
        .destination(SERVICE)?
        .path(PATH)?
        .interface(INTERFACE)?
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await?;
    let signals = proxy.receive_signal(SIGNAL).await?;
    let dbus = zbus::fdo::DBusProxy::new(&connection).await?;
    match dbus.name_has_owner(SERVICE.try_into()?).await {
        Ok(true) => tracing::debug!("listening for logind's sleep signals"),
        Ok(false) => tracing::debug!(
            "logind is not on the system bus (yet); the clock check detects a resume until it is"
        ),
        Err(error) => tracing::debug!(%error, "could not ask the system bus for logind"),
    }
    Ok((connection, signals))
}
