//! How the Secret Service's failures are told apart (Linux).
//!
//! keyring-core says only "no storage access" or "platform failure", and the Secret
//! Service store puts a missing default keyring and a locked one under the same "no
//! storage access". Each asks something different of the user, so the wrapped
//! `secret_service::Error` is read by type, and a D-Bus error by its well-known name
//! (through `zbus::fdo::Error`), never by its message text:
//!
//! - **no keyring**: no session bus (`Unavailable`, an address or connection failure),
//!   nobody providing `org.freedesktop.secrets` and nothing to start it
//!   (`ServiceUnknown`, `NameHasNoOwner`, a failed activation), or a Secret Service
//!   with no default keyring to keep anything in (`NoResult`: gnome-keyring started by
//!   D-Bus activation without a login keyring);
//! - **locked**: a locked collection or item (`Locked`, `…Secret.Error.IsLocked`), or an
//!   unlock prompt that closed without an answer (`PromptDisconnected`);
//! - **refused**: an unlock prompt the user dismissed (`Prompt`), or the bus or the
//!   service denying access (`AccessDenied`, `AuthFailed`).

use secret_service::Error as SsError;
use zbus::fdo;

use super::store::StoreError;

/// The D-Bus error the Secret Service specification names for a locked object.
const SECRET_IS_LOCKED: &str = "org.freedesktop.Secret.Error.IsLocked";

const NO_SERVICE: &str =
    "nothing provides the Secret Service (org.freedesktop.secrets) on the D-Bus session bus";

/// The [`StoreError`] for a platform error keyring-core wrapped, when it is the Secret
/// Service's; `None` for anything else.
pub(super) fn classify(
    error: &(dyn std::error::Error + Send + Sync + 'static),
) -> Option<StoreError> {
    error.downcast_ref::<SsError>().map(classify_secret_service)
}

fn classify_secret_service(error: &SsError) -> StoreError {
    match error {
        SsError::Unavailable => StoreError::NoKeyring(
            "there is no D-Bus session bus to find a Secret Service on".into(),
        ),
        SsError::NoResult => StoreError::NoKeyring(
            "the Secret Service has no default keyring (collection) to keep the sign-in in".into(),
        ),
        SsError::Locked => StoreError::Locked("its collection is locked".into()),
        SsError::PromptDisconnected => {
            StoreError::Locked("the unlock prompt closed before anyone answered it".into())
        }
        SsError::Prompt => StoreError::Refused("the unlock prompt was dismissed".into()),
        SsError::Zbus(error) => classify_zbus(error),
        SsError::ZbusFdo(error) => classify_fdo(error),
        other => StoreError::Backend(other.to_string()),
    }
}

fn classify_zbus(error: &zbus::Error) -> StoreError {
    match error {
        zbus::Error::FDO(error) => classify_fdo(error),
        zbus::Error::MethodError(name, _, _) if name.as_str() == SECRET_IS_LOCKED => {
            StoreError::Locked("the Secret Service says the item is locked".into())
        }
        // A well-known D-Bus error name becomes its `fdo::Error` variant; any other
        // stays wrapped as `fdo::Error::ZBus`.
        zbus::Error::MethodError(..) => match fdo::Error::from(error.clone()) {
            fdo::Error::ZBus(_) => StoreError::Backend(error.to_string()),
            known => classify_fdo(&known),
        },
        other => classify_transport(other),
    }
}

fn classify_fdo(error: &fdo::Error) -> StoreError {
    use fdo::Error as E;
    match error {
        E::ServiceUnknown(_) | E::NameHasNoOwner(_) => StoreError::NoKeyring(NO_SERVICE.into()),
        E::SpawnExecFailed(_)
        | E::SpawnForkFailed(_)
        | E::SpawnChildExited(_)
        | E::SpawnChildSignaled(_)
        | E::SpawnFailed(_)
        | E::SpawnFailedToSetup(_)
        | E::SpawnConfigInvalid(_)
        | E::SpawnServiceNotValid(_)
        | E::SpawnServiceNotFound(_)
        | E::SpawnPermissionsInvalid(_)
        | E::SpawnFileInvalid(_)
        | E::SpawnNoMemory(_) => StoreError::NoKeyring(format!(
            "the Secret Service could not be started on the D-Bus session bus ({error})"
        )),
        E::NoServer(_) | E::BadAddress(_) | E::Disconnected(_) => {
            StoreError::NoKeyring(format!("cannot reach the D-Bus session bus ({error})"))
        }
        E::AccessDenied(_) | E::AuthFailed(_) => StoreError::Refused(error.to_string()),
        E::ZBus(inner) => match inner {
            zbus::Error::MethodError(..) | zbus::Error::FDO(_) => {
                StoreError::Backend(inner.to_string())
            }
            transport => classify_transport(transport),
        },
        other => StoreError::Backend(other.to_string()),
    }
}

/// Failures to reach the bus at all: there is no session bus to ask.
fn classify_transport(error: &zbus::Error) -> StoreError {
    match error {
        zbus::Error::Address(_)
        | zbus::Error::InterfaceNotFound
        | zbus::Error::InputOutput(_)
        | zbus::Error::Connection(..)
        | zbus::Error::Handshake(_) => {
            StoreError::NoKeyring(format!("cannot reach the D-Bus session bus ({error})"))
        }
        other => StoreError::Backend(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn wrapped(error: SsError) -> StoreError {
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(error);
        classify(boxed.as_ref()).expect("a Secret Service error")
    }

    #[test]
    fn no_bus_no_service_and_no_default_keyring_are_no_keyring() {
        let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "no socket");
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        for error in [
            SsError::Unavailable,
            SsError::NoResult,
            SsError::Zbus(zbus::Error::InputOutput(Arc::new(missing))),
            SsError::Zbus(zbus::Error::InputOutput(Arc::new(refused))),
            SsError::Zbus(zbus::Error::Address("unix:path=/nowhere".into())),
            SsError::ZbusFdo(fdo::Error::ServiceUnknown("not provided".into())),
            SsError::ZbusFdo(fdo::Error::NameHasNoOwner("no owner".into())),
            SsError::Zbus(zbus::Error::FDO(Box::new(fdo::Error::ServiceUnknown(
                "not provided".into(),
            )))),
            SsError::ZbusFdo(fdo::Error::SpawnChildExited("exit 1".into())),
        ] {
            let shown = format!("{error:?}");
            assert!(
                matches!(wrapped(error), StoreError::NoKeyring(_)),
                "{shown} is not NoKeyring"
            );
        }
        assert_eq!(
            wrapped(SsError::ZbusFdo(fdo::Error::ServiceUnknown("x".into()))).to_string(),
            format!("no keyring is running: {NO_SERVICE}")
        );
    }

    #[test]
    fn locked_and_refused_are_told_apart_from_no_keyring_and_each_other() {
        assert!(matches!(wrapped(SsError::Locked), StoreError::Locked(_)));
        assert!(matches!(
            wrapped(SsError::PromptDisconnected),
            StoreError::Locked(_)
        ));
        assert!(matches!(wrapped(SsError::Prompt), StoreError::Refused(_)));
        assert!(matches!(
            wrapped(SsError::ZbusFdo(fdo::Error::AccessDenied("no".into()))),
            StoreError::Refused(_)
        ));
        assert_eq!(
            wrapped(SsError::Prompt).to_string(),
            "the keyring refused access: the unlock prompt was dismissed"
        );
        assert_eq!(
            wrapped(SsError::Locked).to_string(),
            "the keyring is locked: its collection is locked"
        );
    }

    #[test]
    fn other_failures_stay_backend_errors_and_foreign_errors_are_not_read() {
        assert!(matches!(
            wrapped(SsError::Crypto("bad padding")),
            StoreError::Backend(_)
        ));
        assert!(matches!(
            wrapped(SsError::ZbusFdo(fdo::Error::Failed("boom".into()))),
            StoreError::Backend(_)
        ));
        let foreign: Box<dyn std::error::Error + Send + Sync> = "not a Secret Service error".into();
        assert_eq!(classify(foreign.as_ref()), None);
    }
}
