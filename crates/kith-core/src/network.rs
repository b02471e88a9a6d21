//! How Kith reaches a backend: the TLS client configuration and the proxy rules, built
//! once per profile and shared by the auth API's HTTP client and every socket, so the
//! two can never trust different authorities or take different routes.

use std::sync::Arc;

use rustls::ClientConfig;

use crate::protocol::ServerProfile;
use crate::proxy::ProxyRules;
use crate::tls::{self, TlsSetupError};

/// The TLS configuration and proxy rules for one profile. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Network {
    tls: Option<Arc<ClientConfig>>,
    proxies: Arc<ProxyRules>,
}

impl Network {
    /// The OS trust store plus the profile's `tls.ca_file`; the profile's `proxy`, else
    /// the environment's proxy variables.
    pub fn for_profile(profile: &ServerProfile) -> Result<Self, TlsSetupError> {
        Ok(Network {
            tls: tls::client_config(profile.tls.ca_file.as_deref())?,
            proxies: Arc::new(ProxyRules::from_env(profile.proxy.as_ref())),
        })
    }

    /// The client configuration; `None` when nothing at all is trusted (see
    /// [`tls::client_config`]).
    pub fn tls(&self) -> Option<&Arc<ClientConfig>> {
        self.tls.as_ref()
    }

    /// Which proxy, if any, each URL goes through.
    pub fn proxies(&self) -> &ProxyRules {
        &self.proxies
    }

    /// A reqwest builder that uses this TLS configuration and these proxy rules (and
    /// ignores reqwest's own reading of the environment).
    pub fn http_client_builder(&self) -> reqwest::ClientBuilder {
        let mut builder = reqwest::Client::builder().no_proxy();
        if let Some(config) = &self.tls {
            builder = builder.use_preconfigured_tls((**config).clone());
        }
        let proxies = self.proxies.clone();
        builder.proxy(reqwest::Proxy::custom(move |url| {
            proxies.for_url(url).map(|proxy| proxy.expose().to_owned())
        }))
    }
}
