//! A throwaway Orthanc PACS for the PACS tests: started on 127.0.0.1 with
//! free ports, its own config and storage folder (DICOMweb plugin on),
//! waited for by polling its ports, killed and removed on drop. Our AE
//! title (and dcmtk's tools') is registered with every right, and C-MOVE
//! destinations point at the ports the caller chose.
//!
//! Shared by both test binaries (`#[path]`-included, like checks.rs).

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ORTHANC_AET: &str = "ORTHANC";

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

pub struct Orthanc {
    child: Child,
    pub dir: tempfile::TempDir,
    pub dicom_port: u16,
    pub http_port: u16,
}

/// Where the Debian package puts the DICOMweb plugin.
const DICOMWEB_PLUGIN: &str = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";

impl Orthanc {
    /// Starts Orthanc knowing `peers` (AE title, port on 127.0.0.1) as
    /// modalities with every right; `None` after `checks::skip` when the
    /// Orthanc program is not installed.
    pub fn start(peers: &[(&str, u16)]) -> Option<Orthanc> {
        Self::start_with(peers, serde_json::json!({}))
    }

    /// [`Orthanc::start`] with more configuration (`extra`'s keys replace
    /// the defaults'), e.g. DICOM TLS.
    pub fn start_with(peers: &[(&str, u16)], extra: serde_json::Value) -> Option<Orthanc> {
        let program = super::checks::program(
            "Orthanc",
            "the PACS connection against a real PACS",
            "apt-get install orthanc orthanc-dicomweb (scripts/setup.sh)",
        )?;
        let dir = tempfile::tempdir().expect("a temporary folder");
        let dicom_port = free_port();
        let http_port = free_port();
        let modalities: serde_json::Map<String, serde_json::Value> = peers
            .iter()
            .map(|(ae, port)| {
                (
                    ae.to_ascii_lowercase(),
                    serde_json::json!({
                        "AET": ae, "Host": "127.0.0.1", "Port": port,
                        "AllowEcho": true, "AllowFind": true, "AllowGet": true,
                        "AllowMove": true, "AllowStore": true,
                    }),
                )
            })
            .collect();
        let plugins: Vec<&str> = if Path::new(DICOMWEB_PLUGIN).exists() {
            vec![DICOMWEB_PLUGIN]
        } else {
            Vec::new()
        };
        let storage = dir.path().join("db");
        let mut config = serde_json::json!({
            "Name": "stratum-test",
            "StorageDirectory": storage,
            "IndexDirectory": storage,
            "DicomAet": ORTHANC_AET,
            "DicomPort": dicom_port,
            "HttpPort": http_port,
            "RemoteAccessAllowed": false,
            "AuthenticationEnabled": false,
            "DicomCheckCalledAet": true,
            "DicomCheckModalityHost": false,
            "DicomAlwaysAllowEcho": true,
            "DicomAlwaysAllowStore": true,
            "DicomAssociationCloseDelay": 0,
            "DicomScpTimeout": 30,
            "DicomModalities": modalities,
            "StorageCompression": false,
            "SaveJobs": false,
            "Plugins": plugins,
            "DicomWeb": {"Enable": true, "Root": "/dicom-web/", "EnableWado": true},
        });
        if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        let config_path = dir.path().join("orthanc.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        let log = std::fs::File::create(dir.path().join("orthanc.log")).unwrap();
        let child = Command::new(program)
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start Orthanc");
        let o = Orthanc {
            child,
            dir,
            dicom_port,
            http_port,
        };
        o.wait_ready();
        Some(o)
    }

    /// Polls both ports until they accept (Orthanc opens them once its
    /// database is ready), failing with Orthanc's log after 60 s.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        for port in [self.dicom_port, self.http_port] {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "Orthanc did not open port {port} within 60 s; its log:\n{}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("orthanc.log")).unwrap_or_default()
    }

    /// `ORTHANC@127.0.0.1:PORT`
    pub fn address(&self) -> String {
        format!("{ORTHANC_AET}@127.0.0.1:{}", self.dicom_port)
    }

    pub fn dicomweb_url(&self) -> String {
        format!("http://127.0.0.1:{}/dicom-web", self.http_port)
    }

    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("db")
    }
}

impl Drop for Orthanc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
