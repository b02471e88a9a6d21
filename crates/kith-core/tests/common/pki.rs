//! A throwaway certificate authority and server certificates, made at test time with
//! rcgen and written to a temporary directory; no key is ever committed.

use std::path::{Path, PathBuf};

use kith_server::ServerTls;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

/// A CA: its certificate (PEM on disk) and key.
pub struct Ca {
    pub cert: rcgen::Certificate,
    pub key: KeyPair,
    pub pem_file: PathBuf,
}

impl Ca {
    pub fn new(dir: &Path, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params
            .distinguished_name
            .push(DnType::CommonName, format!("Kith test CA {name}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("ca key");
        let cert = params.self_signed(&key).expect("ca cert");
        let pem_file = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&pem_file, cert.pem()).expect("write ca");
        Ca {
            cert,
            key,
            pem_file,
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses), valid from
    /// `not_before` to `not_after`, written as `{file}.pem` / `{file}.key`.
    pub fn server_cert(
        &self,
        dir: &Path,
        file: &str,
        names: &[&str],
        not_before: time::OffsetDateTime,
        not_after: time::OffsetDateTime,
    ) -> ServerTls {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, "kith-server");
        params.not_before = not_before;
        params.not_after = not_after;
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("sign leaf");
        let tls = ServerTls {
            cert_file: dir.join(format!("{file}.pem")),
            key_file: dir.join(format!("{file}.key")),
        };
        std::fs::write(&tls.cert_file, cert.pem()).expect("write cert");
        std::fs::write(&tls.key_file, key.serialize_pem()).expect("write key");
        tls
    }

    /// Valid now, for `localhost` and 127.0.0.1.
    pub fn good_cert(&self, dir: &Path, file: &str) -> ServerTls {
        let now = time::OffsetDateTime::now_utc();
        self.server_cert(
            dir,
            file,
            &["localhost", "127.0.0.1"],
            now - time::Duration::days(1),
            now + time::Duration::days(30),
        )
    }
}

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}
