//! With no Secret Service reachable, opening the keyring is a clear `NoKeyring` error
//! (never a panic, never a silent fallback to a file). Its own test binary, because
//! it points this process's D-Bus address at nothing.

use kith_core::token::{KeyringStore, StoreError};

#[test]
fn no_secret_service_is_a_clear_error() {
    std::env::set_var(
        "DBUS_SESSION_BUS_ADDRESS",
        "unix:path=/nonexistent/kith-no-bus",
    );
    match KeyringStore::open() {
        Err(StoreError::NoKeyring(message)) => {
            assert!(message.contains("Secret Service"), "{message}")
        }
        Err(other) => panic!("expected NoKeyring, got {other:?}"),
        Ok(_) => panic!("opened a keyring with no D-Bus"),
    }
}
