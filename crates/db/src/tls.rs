//! TLS to PostgreSQL, through rustls (no OpenSSL). The database URL says what is wanted, as
//! libpq reads it: `sslmode=disable` or `prefer` (the default; both connect without TLS
//! here), `require` (encrypted, the server's certificate not checked), `verify-ca` (signed by
//! a trusted CA) or `verify-full` (that, and issued for the host connected to); `sslrootcert=`
//! names a PEM file of trusted CA certificates (the system's roots when absent). The driver
//! itself knows neither `verify-*` nor `sslrootcert`, so both are taken out of the URL here.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};
use postgres::Socket;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How much the connection checks of the server (`sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS (`disable`, and `prefer`, the default).
    Off,
    /// Encrypted; any certificate accepted.
    Require,
    /// Encrypted; the certificate must chain to a trusted CA.
    VerifyCa,
    /// Encrypted; a trusted chain, and the certificate names the host.
    VerifyFull,
}

/// The URL with `sslmode` and `sslrootcert` taken out (for the driver), what they said, and
/// the root file's path.
pub(crate) fn split_url(url: &str) -> Result<(String, SslMode, Option<PathBuf>), String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), SslMode::Off, None));
    };
    let (mut mode, mut root, mut kept) = (SslMode::Off, None, Vec::new());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match key {
            "sslmode" => {
                mode = match value.as_str() {
                    "disable" | "prefer" => SslMode::Off,
                    "require" => SslMode::Require,
                    "verify-ca" => SslMode::VerifyCa,
                    "verify-full" => SslMode::VerifyFull,
                    other => return Err(format!("unknown sslmode {other:?}")),
                }
            }
            "sslrootcert" => root = Some(PathBuf::from(value)),
            _ => kept.push(pair),
        }
    }
    let url = match kept.is_empty() {
        true => base.to_string(),
        false => format!("{base}?{}", kept.join("&")),
    };
    Ok((url, mode, root))
}

/// `%XX` escapes decoded (a path in a URL may carry them).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The rustls configuration for `mode` (`None` for no TLS), its trusted roots read now, so a
/// missing or unreadable file stops start-up with its name.
pub(crate) fn client_config(
    mode: SslMode,
    root: Option<&Path>,
) -> Result<Option<Arc<ClientConfig>>, String> {
    // ring, as for the blob store's HTTP client (decision 0019: aws-lc-rs's C build is much
    // heavier); rustls deprecates it for lacking post-quantum key exchange, which PostgreSQL
    // connections on a private network do not need yet.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::Off => return Ok(None),
        SslMode::Require => Arc::new(AnyCertificate(provider.clone())),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let roots = Arc::new(trusted_roots(root)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| format!("trusted roots: {e}"))?;
            match mode {
                SslMode::VerifyCa => Arc::new(AnyName(webpki)),
                _ => webpki,
            }
        }
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Some(Arc::new(config)))
}

/// The CA certificates in the PEM file `root`, or the system's when none is named.
fn trusted_roots(root: Option<&Path>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = match root {
        Some(path) => CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<_, _>>())
            .map_err(|e| format!("reading sslrootcert {}: {e}", path.display()))?,
        None => rustls_native_certs::load_native_certs().certs,
    };
    for cert in certs {
        store
            .add(cert)
            .map_err(|e| format!("a certificate in sslrootcert: {e}"))?;
    }
    if store.is_empty() {
        return Err("no trusted CA certificate (give sslrootcert=<PEM file>)".into());
    }
    Ok(store)
}

/// `sslmode=require`: the certificate is not checked (the handshake's signatures still are).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `sslmode=verify-ca`: a trusted chain, whatever host the certificate names.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError, Error};
        match self
            .0
            .verify_server_cert(end_entity, intermediates, name, ocsp, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Connects with TLS when `tls` is set, in the clear otherwise.
pub(crate) fn connect(
    config: &postgres::Config,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<postgres::Client, postgres::Error> {
    match tls {
        Some(tls) => config.connect(Rustls(tls.clone())),
        None => config.connect(postgres::NoTls),
    }
}

/// The driver's TLS hook, over tokio-rustls.
#[derive(Clone)]
struct Rustls(Arc<ClientConfig>);

/// One connection's handshake, to the host the driver names.
struct Handshake {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl MakeTlsConnect<Socket> for Rustls {
    type Stream = TlsStream;
    type TlsConnect = Handshake;
    type Error = io::Error;

    fn make_tls_connect(&mut self, host: &str) -> io::Result<Handshake> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(Handshake {
            config: self.0.clone(),
            name,
        })
    }
}

impl TlsConnect<Socket> for Handshake {
    type Stream = TlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TlsStream>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        Box::pin(async move {
            let connector = tokio_rustls::TlsConnector::from(self.config);
            Ok(TlsStream(connector.connect(self.name, stream).await?))
        })
    }
}

/// An encrypted connection. No channel binding is offered (SCRAM works without it).
pub struct TlsStream(tokio_rustls::client::TlsStream<Socket>);

impl postgres::tls::TlsStream for TlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_options_are_taken_out_of_the_url() {
        let (url, mode, root) = split_url(
            "postgres://u@h/db?application_name=x&sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem",
        )
        .unwrap();
        assert_eq!(url, "postgres://u@h/db?application_name=x");
        assert_eq!(mode, SslMode::VerifyFull);
        assert_eq!(root, Some(PathBuf::from("/tmp/ca.pem")));
        assert_eq!(
            split_url("postgres://u@h/db?sslmode=prefer").unwrap(),
            ("postgres://u@h/db".into(), SslMode::Off, None)
        );
        assert!(split_url("postgres://u@h/db?sslmode=sometimes").is_err());
    }

    #[test]
    fn a_missing_root_file_is_named() {
        let e =
            client_config(SslMode::VerifyCa, Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        assert!(client_config(SslMode::Off, None).unwrap().is_none());
        assert!(client_config(SslMode::Require, None).unwrap().is_some());
    }
}
