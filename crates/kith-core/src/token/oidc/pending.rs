//! A browser sign-in under way: [`PendingSignIn`] holds the loopback listener and
//! the sign-in's secrets until the browser comes back, then finishes it.

use std::fmt;
use std::future::Future;

use tokio::net::TcpListener;
use url::Url;

use super::{callback, OidcClient, OidcError, OidcGrant};
use crate::secret::Secret;

/// A browser sign-in under way: the loopback listener, the authorization URL, and the
/// secrets to check and finish it with. Dropping it ends the sign-in.
pub struct PendingSignIn {
    pub(super) client: OidcClient,
    pub(super) listener: TcpListener,
    pub(super) redirect_uri: String,
    pub(super) authorization_url: Url,
    pub(super) state: Secret,
    pub(super) nonce: Secret,
    pub(super) verifier: Secret,
}

impl fmt::Debug for PendingSignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingSignIn")
            .field("issuer", &self.client.inner.provider.issuer)
            .field("redirect_uri", &self.redirect_uri)
            .field("state", &self.state)
            .field("nonce", &self.nonce)
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

impl PendingSignIn {
    /// The URL to open in the system browser. It carries the `state`, the `nonce`
    /// and the PKCE challenge (never the verifier); don't log it.
    pub fn authorization_url(&self) -> &Url {
        &self.authorization_url
    }

    /// `http://127.0.0.1:<port>/callback`, where the browser comes back.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Waits for the browser's redirect, at most `browser_timeout`
    /// ([`OidcError::BrowserTimeout`]), or until `cancel` completes
    /// ([`OidcError::Cancelled`]; pass `std::future::pending()` for never, a
    /// `CancellationToken::cancelled_owned()`, or a oneshot receiver). Then exchanges
    /// the code and checks the ID token; the browser's tab is answered with the
    /// outcome.
    ///
    /// Other paths (a favicon) get a 404 and the wait goes on. The first request to
    /// `/callback` decides: without this sign-in's `state` it is refused and the
    /// sign-in fails with [`OidcError::StateMismatch`] (fail closed: the port closes,
    /// and a real redirect that comes later finds nobody listening); an `iss` other
    /// than the issuer is [`OidcError::CallbackIssuer`]; `error=access_denied` is
    /// [`OidcError::Denied`]. Once a code has arrived the port is closed, so a second
    /// code is refused.
    pub async fn finish(self, cancel: impl Future<Output = ()>) -> Result<OidcGrant, OidcError> {
        let PendingSignIn {
            client,
            listener,
            redirect_uri,
            state,
            nonce,
            verifier,
            ..
        } = self;
        let mut cancel = std::pin::pin!(cancel);
        let provider = &client.inner.provider;
        let expected = callback::Expected {
            state: &state,
            issuer: &provider.issuer,
            iss_required: provider.authorization_response_iss_parameter_supported,
        };
        let waited = client.inner.settings.browser_timeout;
        let waiting =
            tokio::time::timeout(waited, callback::wait_for_callback(&listener, &expected));
        let (code, mut browser) = tokio::select! {
            biased;
            () = &mut cancel => return Err(OidcError::Cancelled),
            outcome = waiting => match outcome {
                Ok(outcome) => outcome?,
                Err(_) => return Err(OidcError::BrowserTimeout { waited }),
            },
        };
        // One code per sign-in: from here on the port refuses connections.
        drop(listener);
        let outcome = tokio::select! {
            biased;
            () = &mut cancel => Err(OidcError::Cancelled),
            outcome = client.exchange_code(&code, &redirect_uri, &verifier, &nonce) => outcome,
        };
        if let Err(error) = &outcome {
            tracing::info!(%error, "browser sign-in failed");
        }
        callback::respond(&mut browser, &callback::outcome_page(&outcome)).await;
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::client;
    use super::super::OidcSettings;

    #[tokio::test]
    async fn a_pending_sign_in_shows_no_secret() {
        let pending = client(OidcSettings::new("https://id.example.com", "kith-desktop"))
            .begin_browser_sign_in()
            .await
            .unwrap();
        let debug = format!("{pending:?}");
        for secret in [&pending.state, &pending.nonce, &pending.verifier] {
            assert!(!debug.contains(secret.expose()), "{debug}");
        }
        assert!(debug.contains(pending.redirect_uri()), "{debug}");
        assert!(pending.redirect_uri().starts_with("http://127.0.0.1:"));
        // The URL carries the challenge, never the verifier.
        assert!(!pending
            .authorization_url()
            .as_str()
            .contains(pending.verifier.expose()));
    }
}
