//! TLS for the S3 listener: rustls on the `ring` provider, certificate and key from PEM files,
//! HTTP/2 or HTTP/1.1 chosen by ALPN, and a certificate that can be swapped while the gateway
//! runs (SIGHUP): the resolver hands each new handshake the current certificate, and
//! established connections keep the session they negotiated.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{Context, bail};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The certificate currently served, replaceable at run time.
#[derive(Debug)]
pub(crate) struct ReloadableCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadableCert {
    /// Loads the pair once; fails (naming the file) if either is unreadable or they do not match.
    pub(crate) fn load(cert_path: &Path, key_path: &Path) -> anyhow::Result<Arc<Self>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = read_pair(cert_path, key_path, &provider)?;
        Ok(Arc::new(ReloadableCert {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            provider,
            current: RwLock::new(Arc::new(key)),
        }))
    }

    /// Reads the files again and serves the new pair to new handshakes; on any error the old
    /// pair stays in service.
    pub(crate) fn reload(&self) -> anyhow::Result<()> {
        let key = read_pair(&self.cert_path, &self.key_path, &self.provider)?;
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(key);
        Ok(())
    }

    /// The rustls server configuration using this resolver, advertising `h2` then `http/1.1`.
    pub(crate) fn server_config(self: &Arc<Self>) -> anyhow::Result<rustls::ServerConfig> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner)))
    }
}

fn read_pair(cert: &Path, key: &Path, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("tls_cert: reading {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("tls_cert: parsing {}", cert.display()))?;
    if chain.is_empty() {
        bail!("tls_cert: {} holds no PEM certificate", cert.display());
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("tls_key: reading a PEM private key from {}", key.display()))?;
    CertifiedKey::from_der(chain, private, provider).with_context(|| {
        format!("tls_key: {} does not fit the certificate {}", key.display(), cert.display())
    })
}
