//! A loopback HTTPS origin with a self-signed certificate, and the TLS
//! client settings that trust it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::client::TlsStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::find;
use crate::origin::RawOrigin;

/// The body the TLS origin answers every request with.
pub const TLS_BODY: &str = "hello over TLS through burrow\n";

/// A self-signed certificate for `localhost` and `127.0.0.1`.
pub struct TestCert {
    /// The certificate, DER.
    pub der: CertificateDer<'static>,
    /// The certificate, PEM (for curl's `--cacert`).
    pub pem: String,
    key: Vec<u8>,
}

impl TestCert {
    /// Generates a fresh one.
    pub fn new() -> TestCert {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("rcgen makes a certificate");
        TestCert {
            der: made.cert.der().clone(),
            pem: made.cert.pem(),
            key: made.signing_key.serialize_der(),
        }
    }

    /// Writes the PEM to a fresh temporary file, removed when the guard drops.
    pub fn pem_file(&self) -> TempFile {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "burrow-tests-{}-{}.pem",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::write(&path, &self.pem).expect("write the PEM file");
        TempFile(path)
    }

    /// Client settings trusting only this certificate.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots
            .add(self.der.clone())
            .expect("the certificate is usable");
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }

    fn server_config(&self) -> Arc<ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()));
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.der.clone()], key)
            .expect("the key matches the certificate");
        Arc::new(config)
    }
}

impl Default for TestCert {
    fn default() -> Self {
        TestCert::new()
    }
}

/// A file deleted on drop.
pub struct TempFile(pub PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// An HTTPS origin: reads one request head per connection and answers
/// `200` with [`TLS_BODY`], then closes. Records the SNI of each handshake
/// and every request head.
pub struct TlsOrigin {
    server: RawOrigin,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// What the TLS origin saw on one connection.
#[derive(Clone, Debug)]
pub struct Seen {
    /// The SNI the client sent.
    pub sni: Option<String>,
    /// The decrypted request head.
    pub head: String,
}

impl TlsOrigin {
    /// Starts one on loopback with `cert`.
    pub async fn start(cert: &TestCert) -> TlsOrigin {
        let acceptor = TlsAcceptor::from(cert.server_config());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let server = RawOrigin::start(move |stream, _| {
            let acceptor = acceptor.clone();
            let log = log.clone();
            async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let sni = tls.get_ref().1.server_name().map(str::to_string);
                let head = read_head(&mut tls).await;
                log.lock().expect("lock").push(Seen {
                    sni,
                    head: String::from_utf8_lossy(&head).into_owned(),
                });
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{TLS_BODY}",
                    TLS_BODY.len()
                );
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            }
        })
        .await;
        TlsOrigin { server, seen }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// One entry per completed request.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

/// Runs a TLS handshake for `name` over `stream` (e.g. an open tunnel).
pub async fn handshake<S>(config: Arc<ClientConfig>, name: &str, stream: S) -> TlsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let name = ServerName::try_from(name.to_string()).expect("a valid server name");
    TlsConnector::from(config)
        .connect(name, stream)
        .await
        .expect("TLS handshake through the tunnel")
}

/// Reads up to and including the blank line ending a request head (or to EOF).
pub async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while find(&head, b"\r\n\r\n").is_none() && head.len() < 64 * 1024 {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    head
}
