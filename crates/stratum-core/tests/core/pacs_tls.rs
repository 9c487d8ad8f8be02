//! DICOM TLS against Orthanc's (dcmtk's) TLS: certificates made by openssl
//! for the test (a CA, Orthanc's certificate for 127.0.0.1, ours), then
//! echo, store, find and C-GET over TLS give back the very voxels; a node
//! whose certificate we do not trust, and a plain association to the TLS
//! port, fail with a message instead of hanging.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stratum_core::dicom::synth::{FAKE_PATIENT_ID, SynthOptions, write_series};
use stratum_core::pacs::{
    FindQuery, Node, PacsConfig, PacsError, RetrieveMethod, TlsSettings, echo, find,
    retrieve_series, store_files,
};
use stratum_core::{base::progress::Progress, read::open::OpenOptions, read::open::open_volume};

use crate::orthanc::{Orthanc, free_port};

/// Runs openssl in `dir`, failing the test after 60 s instead of hanging.
pub(crate) fn openssl(program: &Path, dir: &Path, args: &[&str]) {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child.stderr.take().unwrap().read_to_string(&mut err).ok();
            assert!(status.success(), "openssl {args:?} failed: {err}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("openssl {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A CA (`NAME-ca.crt`) and two certificates it signs: the server's for
/// 127.0.0.1 (`NAME-server.*`) and a client's (`NAME-client.*`).
pub(crate) fn make_pki(program: &Path, dir: &Path, name: &str) {
    let ca = format!("{name}-ca");
    openssl(
        program,
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN=Stratum test {ca}"),
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.crt"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    for (k, role, usage) in [
        (2, "server", "serverAuth,clientAuth"),
        (3, "client", "clientAuth"),
    ] {
        let base = format!("{name}-{role}");
        std::fs::write(
            dir.join(format!("{base}.ext")),
            format!(
                "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage={usage}\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
            ),
        )
        .unwrap();
        openssl(
            program,
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={role}"),
                "-keyout",
                &format!("{base}.key"),
                "-out",
                &format!("{base}.csr"),
            ],
        );
        openssl(
            program,
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{base}.csr"),
                "-CA",
                &format!("{ca}.crt"),
                "-CAkey",
                &format!("{ca}.key"),
                "-set_serial",
                &k.to_string(),
                "-days",
                "2",
                "-extfile",
                &format!("{base}.ext"),
                "-out",
                &format!("{base}.crt"),
            ],
        );
    }
}

fn tls_settings(dir: &Path, name: &str) -> TlsSettings {
    TlsSettings {
        trusted: Some(dir.join(format!("{name}-ca.crt"))),
        certificate: Some(dir.join(format!("{name}-client.crt"))),
        private_key: Some(dir.join(format!("{name}-client.key"))),
    }
}

fn dicom_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| stratum_core::dicom::header::looks_like_dicom(p))
        .collect();
    v.sort();
    v
}

#[test]
fn echo_store_find_and_c_get_over_dicom_tls_match_the_originals() {
    let Some(program) = crate::checks::program(
        "openssl",
        "DICOM TLS (certificates for the test's Orthanc)",
        "apt-get install openssl (scripts/setup.sh)",
    ) else {
        return;
    };
    let pki = tempfile::tempdir().unwrap();
    make_pki(&program, pki.path(), "good");
    make_pki(&program, pki.path(), "other");
    let p = |f: &str| pki.path().join(f);
    let Some(orthanc) = Orthanc::start_with(
        &[("STRATUM", free_port())],
        serde_json::json!({
            "DicomTlsEnabled": true,
            "DicomTlsCertificate": p("good-server.crt"),
            "DicomTlsPrivateKey": p("good-server.key"),
            "DicomTlsTrustedCertificates": p("good-ca.crt"),
            "DicomTlsRemoteCertificateRequired": true,
        }),
    ) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let cfg = PacsConfig {
        ae_title: "STRATUM".into(),
        timeout_s: 10,
        cache: Some(work.path().join("cache")),
        tls: tls_settings(pki.path(), "good"),
        ..PacsConfig::default()
    };
    let node = Node {
        tls: true,
        ..Node::parse_inline(&orthanc.address()).unwrap()
    };
    echo(&cfg, &node).unwrap_or_else(|e| panic!("{e}\n{}", orthanc.log()));

    let series = work.path().join("series");
    write_series(
        &series,
        &SynthOptions {
            slices: 8,
            ..SynthOptions::default()
        },
    )
    .unwrap();
    let sent = store_files(&cfg, &node, &dicom_files(&series), &Progress::new()).unwrap();
    assert_eq!(sent.stored, 8);
    let hits = find(
        &cfg,
        &node,
        &FindQuery {
            patient_id: Some(FAKE_PATIENT_ID.into()),
            ..Default::default()
        },
        &Progress::new(),
    )
    .unwrap();
    assert_eq!(hits.len(), 1);
    let uid = hits[0].series[0].series_uid.clone();
    let got = retrieve_series(&cfg, &node, &uid, RetrieveMethod::Get, &Progress::new()).unwrap();
    assert_eq!(got.instances, 8);
    let open = |d: &Path| {
        open_volume(d, &OpenOptions::new(), &Progress::new())
            .unwrap()
            .volume
    };
    assert!(open(&got.folder).voxels == open(&series).voxels);

    // A node whose certificate is not signed by what we trust.
    let untrusting = PacsConfig {
        tls: TlsSettings {
            trusted: Some(p("other-ca.crt")),
            ..tls_settings(pki.path(), "good")
        },
        ..cfg.clone()
    };
    let e = echo(&untrusting, &node).unwrap_err();
    assert!(matches!(e, PacsError::Tls { .. }), "{e:?}");
    assert!(e.to_string().contains("certificate"), "{e}");
    // Orthanc does not know our certificate (signed by another CA).
    let stranger = PacsConfig {
        tls: TlsSettings {
            trusted: Some(p("good-ca.crt")),
            ..tls_settings(pki.path(), "other")
        },
        ..cfg.clone()
    };
    assert!(echo(&stranger, &node).is_err());
    // No trusted certificates at all: said before connecting.
    let unset = PacsConfig {
        tls: TlsSettings::default(),
        ..cfg.clone()
    };
    let e = echo(&unset, &node).unwrap_err();
    assert!(e.to_string().contains("trust"), "{e}");
    // A plain association to the TLS port fails (within the timeout).
    let plain = Node {
        tls: false,
        ..node.clone()
    };
    let e = echo(&cfg, &plain).unwrap_err();
    assert!(e.to_string().contains("TLS"), "{e}");
}
