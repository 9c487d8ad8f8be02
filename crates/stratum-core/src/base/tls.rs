//! What our TLS clients share (the PACS's DICOM TLS, a live session joined
//! over `https://`): certificates read from PEM, and rustls on ring.

use rustls::client::WantsClientCert;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, ConfigBuilder, RootCertStore};

/// The certificates in PEM `bytes`, in order (an empty list when it holds
/// none); the parser's complaint otherwise.
pub(crate) fn pem_certificates(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())
}

/// A client configuration trusting `roots`, with rustls' safe default
/// protocol versions, left to choose its client authentication.
pub(crate) fn client_builder(
    roots: RootCertStore,
) -> Result<ConfigBuilder<ClientConfig, WantsClientCert>, rustls::Error> {
    // ring, as ureq uses already: rustls deprecates it for lacking
    // post-quantum key exchange, which needs aws-lc (a C build we keep out),
    // and which no DICOM TLS peer (dcmtk, Orthanc) offers yet.
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots))
}
