//! PACS nodes and our own identity (AE title, incoming port for C-MOVE),
//! kept in `pacs.json` in the user's config folder; a node can also be
//! given inline as `AET@HOST:PORT`, as dicom-rs' tools take it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{PacsError, Result};

/// One remote DICOM node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// What the user calls it ("radiology", "research PACS").
    pub name: String,
    /// Its AE title (the "called" AE title).
    pub ae_title: String,
    pub host: String,
    pub port: u16,
    /// DICOM over TLS (the secure transport profile): the node's
    /// certificate must chain to [`TlsSettings::trusted`].
    #[serde(default)]
    pub tls: bool,
    /// Base URL of its DICOMweb service, when it offers one
    /// (e.g. `http://pacs:8042/dicom-web`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dicomweb: Option<String>,
}

impl Node {
    /// `AET@HOST:PORT` (a bare `HOST:PORT` calls the AE title `ANY-SCP`).
    pub fn parse_inline(spec: &str) -> Option<Node> {
        let (ae, addr) = match spec.split_once('@') {
            Some((ae, addr)) => (ae.trim(), addr),
            None => ("ANY-SCP", spec),
        };
        let (host, port) = addr.rsplit_once(':')?;
        let port: u16 = port.trim().parse().ok()?;
        let host = host.trim().trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 || !valid_ae_title(ae) {
            return None;
        }
        Some(Node {
            name: format!("{ae}@{host}:{port}"),
            ae_title: ae.to_string(),
            host: host.to_string(),
            port,
            tls: false,
            dicomweb: None,
        })
    }

    /// A DICOMweb-only node from its base URL (`http://…/dicom-web`).
    pub fn parse_web(spec: &str) -> Option<Node> {
        let spec = spec.trim();
        if !(spec.starts_with("http://") || spec.starts_with("https://")) {
            return None;
        }
        Some(Node {
            name: spec.to_string(),
            ae_title: "ANY-SCP".into(),
            host: String::new(),
            port: 0,
            tls: false,
            dicomweb: Some(spec.to_string()),
        })
    }

    /// `HOST:PORT` for the socket.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// An AE title: 1 to 16 characters of the default repertoire, no backslash,
/// not only spaces.
pub fn valid_ae_title(ae: &str) -> bool {
    !ae.trim().is_empty()
        && ae.len() <= 16
        && ae
            .chars()
            .all(|c| c.is_ascii() && !c.is_ascii_control() && c != '\\')
}

/// The PACS settings: our identity and the nodes we know.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacsConfig {
    /// Our AE title (the "calling" AE title, and C-MOVE's destination).
    #[serde(default = "default_ae_title")]
    pub ae_title: String,
    /// The port our storage SCP listens on during a C-MOVE; the PACS must
    /// know our AE title at this host and port.
    #[serde(default = "default_port")]
    pub incoming_port: u16,
    /// Seconds to wait for a connection or an answer.
    #[serde(default = "default_timeout")]
    pub timeout_s: u64,
    /// Where retrieved series are kept (default: the user's cache folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<PathBuf>,
    #[serde(default)]
    pub nodes: Vec<Node>,
    /// Certificates for the nodes that use TLS.
    #[serde(default, skip_serializing_if = "TlsSettings::is_empty")]
    pub tls: TlsSettings,
}

/// What DICOM TLS needs on our side: the certificates we trust for the
/// nodes (PEM, one or several: a hospital's own CA as a rule), and our own
/// certificate and key (PEM) for nodes that ask who we are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<PathBuf>,
}

impl TlsSettings {
    pub fn is_empty(&self) -> bool {
        self == &TlsSettings::default()
    }
}

fn default_ae_title() -> String {
    "STRATUM".into()
}
fn default_port() -> u16 {
    11112
}
fn default_timeout() -> u64 {
    30
}

impl Default for PacsConfig {
    fn default() -> Self {
        PacsConfig {
            ae_title: default_ae_title(),
            incoming_port: default_port(),
            timeout_s: default_timeout(),
            cache: None,
            nodes: Vec::new(),
            tls: TlsSettings::default(),
        }
    }
}

/// `pacs.json` in Stratum's config folder: `$STRATUM_CONFIG_DIR`, else
/// `$XDG_CONFIG_HOME/stratum`, else `~/.config/stratum`.
pub fn config_path() -> PathBuf {
    config_dir().join("pacs.json")
}

fn config_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("STRATUM_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("stratum");
    }
    home().join(".config").join("stratum")
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

impl PacsConfig {
    /// Reads the settings; a missing file gives the defaults (no nodes).
    pub fn load(path: &Path) -> Result<PacsConfig> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(PacsError::Config(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
        };
        let config: PacsConfig = serde_json::from_str(&text)
            .map_err(|e| PacsError::Config(format!("{} is not valid: {e}", path.display())))?;
        config.validate()?;
        Ok(config)
    }

    /// Writes the settings atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.validate()?;
        let text =
            serde_json::to_string_pretty(self).map_err(|e| PacsError::Config(e.to_string()))?;
        crate::base::atomic::write_bytes_atomic(path, text.as_bytes())?;
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        if !valid_ae_title(&self.ae_title) {
            return Err(PacsError::Config(format!(
                "our AE title {:?} is not valid: 1 to 16 plain characters",
                self.ae_title
            )));
        }
        for n in &self.nodes {
            if !valid_ae_title(&n.ae_title) || n.host.trim().is_empty() || n.port == 0 {
                return Err(PacsError::Config(format!(
                    "node {:?} needs an AE title (1 to 16 plain characters), a host and a port",
                    n.name
                )));
            }
        }
        Ok(())
    }

    /// The node `spec` names: a configured node's name (any case), or an
    /// inline `AET@HOST:PORT`.
    pub fn resolve(&self, spec: &str) -> Result<Node> {
        if let Some(n) = self
            .nodes
            .iter()
            .find(|n| n.name.eq_ignore_ascii_case(spec.trim()))
        {
            return Ok(n.clone());
        }
        Node::parse_inline(spec).ok_or_else(|| {
            let known: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
            PacsError::Config(format!(
                "no node named {spec:?} ({}); give one as AET@HOST:PORT or add it to {}",
                if known.is_empty() {
                    "none is configured".to_string()
                } else {
                    format!("known: {}", known.join(", "))
                },
                config_path().display()
            ))
        })
    }

    /// The folder retrieved series are kept in.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache.clone().unwrap_or_else(|| {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| home().join(".cache"));
            base.join("stratum").join("pacs")
        })
    }

    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_s.max(1))
    }
}
