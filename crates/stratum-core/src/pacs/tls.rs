//! DICOM TLS (PS3.15 B.1, the secure transport connection profile): the
//! rustls client configuration for a node, from the certificates named in
//! the settings. The TLS itself is rustls' (through dicom-ul's `sync-tls`).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use super::node::TlsSettings;
use super::{PacsError, Result};
use crate::base::tls::{client_builder, pem_certificates};

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        PacsError::Config(format!(
            "cannot read the {what} {} for DICOM TLS: {e}",
            path.display()
        ))
    })
}

fn certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = pem_certificates(&read(path, what)?).map_err(|e| {
        PacsError::Config(format!(
            "the {what} {} is not PEM certificates: {e}",
            path.display()
        ))
    })?;
    if certs.is_empty() {
        return Err(PacsError::Config(format!(
            "the {what} {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// The client configuration for TLS nodes: the trusted certificates, and
/// our certificate and key when both are given (most PACS ask for them).
pub(crate) fn client_config(node: &str, tls: &TlsSettings) -> Result<Arc<ClientConfig>> {
    let Some(trusted) = &tls.trusted else {
        return Err(PacsError::Config(format!(
            "node {node:?} uses TLS: name the certificates to trust for it (its CA, PEM) in the PACS settings (\"tls\": {{\"trusted\": ...}})"
        )));
    };
    let mut roots = RootCertStore::empty();
    let (_, bad) = roots.add_parsable_certificates(certificates(trusted, "trusted certificates")?);
    if roots.is_empty() {
        return Err(PacsError::Config(format!(
            "none of the {bad} trusted certificates in {} could be used",
            trusted.display()
        )));
    }
    let builder = client_builder(roots).map_err(|e| PacsError::Config(format!("TLS: {e}")))?;
    let config = match (&tls.certificate, &tls.private_key) {
        (Some(cert), Some(key)) => {
            let chain = certificates(cert, "certificate")?;
            let key = PrivateKeyDer::from_pem_slice(&read(key, "private key")?).map_err(|e| {
                PacsError::Config(format!(
                    "the private key {} is not a PEM key: {e}",
                    key.display()
                ))
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                PacsError::Config(format!(
                    "our certificate and private key do not go together: {e}"
                ))
            })?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(PacsError::Config(
                "DICOM TLS: give both our certificate and its private key, or neither".into(),
            ));
        }
    };
    Ok(Arc::new(config))
}
