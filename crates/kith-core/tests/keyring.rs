//! The OS keyring against a real Secret Service (gnome-keyring on D-Bus).
//!
//! Needs a D-Bus session with an unlocked keyring, so it is `#[ignore]`d in a plain
//! `cargo test` and run by `cargo xtask test` as:
//! `dbus-run-session -- bash -c 'echo "" | gnome-keyring-daemon --unlock --components=secrets; cargo test … -- --ignored'`.

use kith_core::token::{CredentialStore, KeyringStore, StoredCredentials};
use kith_core::Secret;

#[test]
#[ignore = "needs a D-Bus session with an unlocked Secret Service; run by `cargo xtask test`"]
fn refresh_token_round_trips_through_the_secret_service() {
    let store = KeyringStore::open_with_service("kith-test").expect("a Secret Service is running");
    let account = format!("http://127.0.0.1:{}", std::process::id());
    store.clear(&account).unwrap();
    assert_eq!(store.load(&account).unwrap(), None);
    let credentials = StoredCredentials {
        username: "me".into(),
        refresh: Secret::new("refresh.token.value"),
    };
    store.save(&account, &credentials).unwrap();
    assert_eq!(store.load(&account).unwrap(), Some(credentials));
    let rotated = StoredCredentials {
        username: "me".into(),
        refresh: Secret::new("rotated.token.value"),
    };
    store.save(&account, &rotated).unwrap();
    assert_eq!(store.load(&account).unwrap(), Some(rotated));
    store.clear(&account).unwrap();
    assert_eq!(store.load(&account).unwrap(), None);
}
