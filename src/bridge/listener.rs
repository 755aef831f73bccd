//! What the MQTT, STOMP and AMQP servers share about listeners: the listener description
//! ([`ListenerSpec`]), binding, and the TLS handshake of an accepted connection
//! ([`tls_handshake`]).
//!
//! A TLS listener accepts TCP connections as usual; each connection's own task then runs the
//! handshake (bounded by [`HANDSHAKE_TIMEOUT`]) before the protocol starts, so a slow or failing
//! handshake (a plaintext client on a TLS port, an unknown certificate authority on the client)
//! only ends that connection, is logged, and never holds up the accept loop or other clients.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;

/// The longest a client may take to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One listener: an address, WebSocket or plain framing, and TLS.
#[derive(Clone)]
pub struct ListenerSpec {
    /// Address to bind.
    pub addr: SocketAddr,
    /// The protocol over WebSocket rather than over the byte stream (ignored where the protocol
    /// has no WebSocket binding).
    pub websocket: bool,
    /// TLS server configuration (rustls, see [`crate::bridge::core::tls::server_config`]);
    /// `None` for plain TCP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl ListenerSpec {
    /// A plain (no TLS) listener.
    #[must_use]
    pub fn plain(addr: SocketAddr, websocket: bool) -> Self {
        Self { addr, websocket, tls: None }
    }

    /// The URL scheme a client uses for this listener, given the protocol's plain and TLS
    /// schemes (e.g. `("stomp", "stomp+ssl")`).
    #[must_use]
    pub fn scheme(&self, plain: &'static str, secure: &'static str) -> &'static str {
        match (self.websocket, self.tls.is_some()) {
            (false, false) => plain,
            (false, true) => secure,
            (true, false) => "ws",
            (true, true) => "wss",
        }
    }
}

impl std::fmt::Debug for ListenerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerSpec")
            .field("addr", &self.addr)
            .field("websocket", &self.websocket)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// A bound listener with its TLS acceptor.
pub struct Bound {
    /// The socket.
    pub listener: TcpListener,
    /// What was asked for.
    pub spec: ListenerSpec,
}

impl std::fmt::Debug for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound").field("addr", &self.local_addr()).field("spec", &self.spec).finish()
    }
}

impl Bound {
    /// Binds `spec.addr`.
    pub async fn bind(spec: ListenerSpec) -> std::io::Result<Self> {
        let listener = TcpListener::bind(spec.addr).await?;
        Ok(Self { listener, spec })
    }

    /// The bound address.
    #[must_use]
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// The TLS acceptor, for a TLS listener.
    #[must_use]
    pub fn acceptor(&self) -> Option<tokio_rustls::TlsAcceptor> {
        self.spec.tls.clone().map(tokio_rustls::TlsAcceptor::from)
    }
}

/// Runs the server side of the TLS handshake on an accepted connection, within
/// [`HANDSHAKE_TIMEOUT`]. On failure (not TLS, a protocol error, a client that rejects the
/// certificate, a timeout) the failure is logged with the peer's address and `protocol`, the
/// connection is dropped (closed) and `None` is returned; nothing else is affected.
pub async fn tls_handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    protocol: &'static str,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::info!(%peer, "{protocol}: TLS handshake failed, connection closed: {e}");
            None
        }
        Err(_) => {
            tracing::info!(%peer, "{protocol}: TLS handshake timed out, connection closed");
            None
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! A self-signed certificate for TLS tests, and a client configuration that trusts it.

    use super::rustls;
    use std::sync::Arc;

    /// A self-signed certificate for `localhost` and 127.0.0.1 (PEM), made by `openssl`, and
    /// its key; None if `openssl` is not available.
    pub(crate) fn self_signed(dir: &std::path::Path) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let ok = std::process::Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            // An end-entity certificate (webpki refuses a CA certificate as a server's).
            .args(["-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?
            .success();
        ok.then_some((cert, key))
    }

    /// Listeners for a TLS test: `protocol` in plain on one free port and with TLS (a fresh self-signed
    /// certificate in a temporary directory named by `tag`) on another.
    pub(crate) struct TlsFixture {
        pub listeners: Vec<crate::bridge::core::config::ListenerConfig>,
        pub dir: std::path::PathBuf,
        pub cert: std::path::PathBuf,
        pub tls_port: u16,
        pub plain_port: u16,
    }

    pub(crate) fn tls_and_plain(protocol: &str, tag: &str) -> TlsFixture {
        let free_port = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("starling-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = self_signed(&dir).expect("openssl makes a self-signed certificate");
        let (tls_port, plain_port) = (free_port(), free_port());
        let xml = format!(
            r#"<starling_bridge>
            <listener protocol="{protocol}" address="127.0.0.1:{plain_port}"/>
            <listener protocol="{protocol}" address="127.0.0.1:{tls_port}" tls="true" cert="{}" key="{}"/>
            </starling_bridge>"#,
            cert.display(),
            key.display()
        );
        let listeners =
            crate::bridge::core::BridgeConfig::parse(std::path::Path::new("b.xml"), &xml).unwrap().listeners;
        TlsFixture { listeners, dir, cert, tls_port, plain_port }
    }

    /// A rustls client configuration trusting the certificate in `cert`.
    pub(crate) fn client_config(cert: &std::path::Path) -> Arc<rustls::ClientConfig> {
        let pem = std::fs::read(cert).expect("read the certificate");
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots.add(c.expect("a PEM certificate")).expect("a usable certificate");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(cfg)
    }

    /// Connects to `addr` over TLS, trusting `cert` and checking the name `localhost`.
    pub(crate) async fn connect(
        addr: std::net::SocketAddr,
        cert: &std::path::Path,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("a DNS name");
        tokio_rustls::TlsConnector::from(client_config(cert)).connect(name, tcp).await
    }
}
