//! The one rustls `ClientConfig` Kith uses, for the auth API and the socket alike, and
//! the typed reasons a server's certificate is refused.
//!
//! Trust is the OS trust store plus, optionally, the profile's `tls.ca_file` (a PEM
//! bundle for a private CA). The OS store comes from `rustls-native-certs` rather than
//! `rustls-platform-verifier`: with native certs every platform verifies the same way
//! (webpki), so a refusal is always one of rustls's typed [`CertificateError`]s that
//! [`CertProblem`] can name (unknown issuer, expired, wrong host), a private CA is an
//! ordinary trust anchor next to the OS ones, and `SSL_CERT_FILE` / `SSL_CERT_DIR` are
//! honoured (when either is set, only they are read, as OpenSSL does). The price is
//! that OS-only policy (macOS/Windows revocation checks, enterprise pinning) is not
//! applied; Kith's backends are named in a profile, not browsed to.
//!
//! The crypto provider is always `ring`, the workspace's rustls provider, passed
//! explicitly so no process-wide default is needed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::{CertificateError, ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde::Serialize;

/// Why the client configuration could not be built.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TlsSetupError {
    /// `tls.ca_file` could not be read, or is not PEM.
    #[error("cannot read tls.ca_file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// `tls.ca_file` holds no certificate.
    #[error("tls.ca_file {path} holds no PEM certificate")]
    CaFileEmpty {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the configuration (or a certificate in it), in its words.
    #[error("cannot set up TLS: {0}")]
    Rustls(String),
}

/// Why a server's certificate was refused. Retrying does not fix any of these: the
/// trust, the clock or the server's certificate has to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertProblem {
    /// Not signed by any trusted authority (a private CA or a self-signed certificate).
    UnknownIssuer,
    /// Past its validity period (or the local clock is ahead).
    Expired,
    /// Not valid yet (or the local clock is behind).
    NotYetValid,
    /// Valid, but for another host name.
    WrongHost,
    /// Revoked by its issuer.
    Revoked,
    /// Anything else the verifier refused (bad encoding, wrong key usage, ...).
    Invalid(String),
}

impl CertProblem {
    /// A short, stable code for machine-readable output.
    pub fn code(&self) -> &'static str {
        match self {
            CertProblem::UnknownIssuer => "tls_unknown_issuer",
            CertProblem::Expired => "tls_expired",
            CertProblem::NotYetValid => "tls_not_yet_valid",
            CertProblem::WrongHost => "tls_wrong_host",
            CertProblem::Revoked => "tls_revoked",
            CertProblem::Invalid(_) => "tls_invalid_certificate",
        }
    }

    fn from_rustls(error: &rustls::Error) -> Option<Self> {
        let rustls::Error::InvalidCertificate(cert) = error else {
            return None;
        };
        Some(match cert {
            CertificateError::UnknownIssuer => CertProblem::UnknownIssuer,
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                CertProblem::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                CertProblem::NotYetValid
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                CertProblem::WrongHost
            }
            CertificateError::Revoked => CertProblem::Revoked,
            other => CertProblem::Invalid(format!("{other:?}").chars().take(80).collect()),
        })
    }
}

impl std::fmt::Display for CertProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertProblem::UnknownIssuer => f.write_str(
                "the server's certificate is signed by an unknown authority; \
                 if it is a private CA, add its CA with tls.ca_file",
            ),
            CertProblem::Expired => f.write_str(
                "the server's certificate has expired (or this computer's clock is wrong)",
            ),
            CertProblem::NotYetValid => f.write_str(
                "the server's certificate is not valid yet (or this computer's clock is wrong)",
            ),
            CertProblem::WrongHost => f.write_str(
                "the server's certificate is for another host name than the one in the profile",
            ),
            CertProblem::Revoked => f.write_str("the server's certificate has been revoked"),
            CertProblem::Invalid(what) => write!(f, "the server's certificate is invalid: {what}"),
        }
    }
}

/// The certificate problem somewhere in `error`'s source chain, if there is one. Looks
/// through `io::Error`s, which is how tokio-rustls and hyper carry rustls errors.
pub fn cert_problem(error: &(dyn std::error::Error + 'static)) -> Option<CertProblem> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return CertProblem::from_rustls(tls);
        }
        // An `io::Error`'s `source` skips the error it wraps; step into it instead
        // (hyper-rustls wraps rustls's error in two of them).
        current = match error.downcast_ref::<std::io::Error>() {
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
                None => std::error::Error::source(io),
            },
            None => error.source(),
        };
    }
    None
}

/// The ring provider, the one the whole workspace uses.
pub fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the client configuration: the OS trust store (or `SSL_CERT_FILE` /
/// `SSL_CERT_DIR`) plus every certificate in `ca_file`. No ALPN: HTTP/1.1 for the auth
/// API, and the WebSocket upgrade needs HTTP/1.1 too.
///
/// `None` when there is no trust anchor at all (an empty OS store and no `ca_file`):
/// rustls cannot verify anything then, and every `https://`/`wss://` connection is
/// refused with [`CertProblem::UnknownIssuer`], which names `tls.ca_file`.
pub fn client_config(ca_file: Option<&Path>) -> Result<Option<Arc<ClientConfig>>, TlsSetupError> {
    let mut roots = native_roots().clone();
    if let Some(path) = ca_file {
        let certs = read_pem_certs(path)?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(TlsSetupError::CaFileEmpty {
                path: path.to_owned(),
            });
        }
    }
    if roots.is_empty() {
        tracing::warn!("no trusted certificate authority: the OS trust store is empty and no tls.ca_file is set");
        return Ok(None);
    }
    let provider = crypto_provider();
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|error| TlsSetupError::Rustls(error.to_string()))?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsSetupError::Rustls(error.to_string()))?
        .with_webpki_verifier(verifier)
        .with_no_client_auth();
    Ok(Some(Arc::new(config)))
}

/// The OS trust store (or `SSL_CERT_FILE` / `SSL_CERT_DIR`), read once per process:
/// every profile and every benchmark client shares it, and it does not change while
/// Kith runs often enough to be worth re-reading a few hundred files each time.
fn native_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let native = rustls_native_certs::load_native_certs();
        if !native.errors.is_empty() {
            tracing::debug!(
                errors = native.errors.len(),
                "some OS trust store entries could not be read"
            );
        }
        let mut roots = RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(native.certs);
        tracing::debug!(added, ignored, "OS trust store loaded");
        roots
    })
}

/// Every certificate in a PEM file (other PEM sections are skipped).
pub fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let bytes = std::fs::read(path).map_err(|error| TlsSetupError::CaFile {
        path: path.to_owned(),
        reason: error.kind().to_string(),
    })?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|error| TlsSetupError::CaFile {
            path: path.to_owned(),
            reason: format!("not a PEM bundle: {error}"),
        })?;
    if certs.is_empty() {
        return Err(TlsSetupError::CaFileEmpty {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_ca_file_for_an_unknown_issuer() {
        let text = CertProblem::UnknownIssuer.to_string();
        assert!(text.contains("tls.ca_file"), "{text}");
    }

    #[test]
    fn finds_a_rustls_error_inside_an_io_error() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::Expired),
        );
        assert_eq!(cert_problem(&io), Some(CertProblem::Expired));
        let nested = std::io::Error::other(io);
        assert_eq!(cert_problem(&nested), Some(CertProblem::Expired));
        let other = std::io::Error::other("nope");
        assert_eq!(cert_problem(&other), None);
    }

    #[test]
    fn a_missing_ca_file_is_a_typed_error() {
        let error = client_config(Some(Path::new("/nonexistent/kith-ca.pem"))).unwrap_err();
        assert!(matches!(error, TlsSetupError::CaFile { .. }), "{error}");
    }
}
