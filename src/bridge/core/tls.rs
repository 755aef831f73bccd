//! TLS for listeners: a rustls server configuration from the PEM files of a `<listener>`.

use super::config::TlsFiles;
use super::BridgeError;
use std::sync::Arc;
use tokio_rustls::rustls;

/// Loads the certificate chain and private key of `files` into a rustls server configuration
/// (no client authentication; TLS 1.2 and 1.3 with the ring provider).
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, BridgeError> {
    let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| BridgeError::Tls(format!("{}: {e}", p.display())));
    let cert_pem = read(&files.cert)?;
    let key_pem = read(&files.key)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| BridgeError::Tls(format!("{}: {e}", files.cert.display())))?;
    if certs.is_empty() {
        return Err(BridgeError::Tls(format!("{}: no certificate in the file", files.cert.display())));
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| BridgeError::Tls(format!("{}: {e}", files.key.display())))?
        .ok_or_else(|| BridgeError::Tls(format!("{}: no private key in the file", files.key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BridgeError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| BridgeError::Tls(format!("{}: {e}", files.key.display())))?;
    Ok(Arc::new(cfg))
}
