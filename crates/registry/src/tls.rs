//! rustls client configurations, built only when an HTTPS request is made: the web PKI roots,
//! the system bundle, and a host's own `ca` and `client` files from hosts.toml.

use crate::hosts::TlsSettings;
use crate::RegistryError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// Debian's bundle of the system's trusted CAs.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the client configuration for one host's settings.
pub fn config(host: &str, s: &TlsSettings) -> Result<Arc<ClientConfig>, RegistryError> {
    let err = |reason: String| RegistryError::Tls { host: host.to_string(), reason };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| err(e.to_string()))?;
    let builder = if s.skip_verify {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
    } else {
        builder.with_root_certificates(roots(s).map_err(err)?)
    };
    let config = match s.client.first() {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .map_err(|e| err(format!("client certificate {}: {e:?}", cert.display())))?
                .collect::<Result<_, _>>()
                .map_err(|e| err(format!("client certificate {}: {e:?}", cert.display())))?;
            let key_path = key.as_ref().unwrap_or(cert);
            let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| err(format!("client key {}: {e:?}", key_path.display())))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| err(format!("client certificate: {e}")))?
        }
    };
    Ok(Arc::new(config))
}

fn roots(s: &TlsSettings) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Ok(iter) = CertificateDer::pem_file_iter(SYSTEM_BUNDLE) {
        // Entries of the system bundle that do not parse are skipped, as other TLS clients do.
        let certs: Vec<_> = iter.filter_map(Result::ok).collect();
        roots.add_parsable_certificates(certs);
    }
    for ca in &s.ca {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
            .map_err(|e| format!("ca {}: {e:?}", ca.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("ca {}: {e:?}", ca.display()))?;
        if certs.is_empty() {
            return Err(format!("ca {} holds no certificate", ca.display()));
        }
        for c in certs {
            roots.add(c).map_err(|e| format!("ca {}: {e}", ca.display()))?;
        }
    }
    Ok(roots)
}

/// `skip_verify = true`: the operator chose to trust any server certificate for this host.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
