//! The PACS connection against real peers: Orthanc (started by the test on
//! 127.0.0.1, free ports, a throwaway folder) and dcmtk's storescp and
//! storescu; and the bad cases: a server that is down or silent, a wrong AE
//! title, a retrieve cancelled midway, a peer that answers garbage.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use stratum_core::dicom::synth::{FAKE_PATIENT_ID, SynthOptions, write_series};
use stratum_core::pacs::{
    Cache, FindQuery, Node, PacsConfig, PacsError, RetrieveMethod, StorageScp, echo, find,
    retrieve_series, store_files,
};
use stratum_core::{base::progress::Progress, read::open::OpenOptions, read::open::open_volume};

use crate::orthanc::{Orthanc, free_port};

fn config(cache: &Path, incoming_port: u16) -> PacsConfig {
    PacsConfig {
        ae_title: "STRATUM".into(),
        incoming_port,
        timeout_s: 20,
        cache: Some(cache.to_path_buf()),
        nodes: Vec::new(),
        tls: Default::default(),
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walk(dir);
    v.sort();
    v
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if stratum_core::dicom::header::looks_like_dicom(&p) {
            out.push(p);
        }
    }
    out
}

fn voxels(path: &Path) -> stratum_core::image::volume::Volume {
    open_volume(path, &OpenOptions::new(), &Progress::new())
        .unwrap()
        .volume
}

fn series_uid_of(dir: &Path) -> String {
    let scan = stratum_core::dicom::scan(dir, &Progress::new()).unwrap();
    scan.series[0].series_uid.clone()
}

fn synth(dir: &Path, slices: usize, series: u32) {
    write_series(
        dir,
        &SynthOptions {
            slices,
            series,
            ..SynthOptions::default()
        },
    )
    .unwrap();
}

#[test]
fn series_sent_found_and_retrieved_by_c_get_and_c_move_match_the_originals() {
    let scp_port = free_port();
    let Some(orthanc) = Orthanc::start(&[("STRATUM", scp_port)]) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let cfg = config(&work.path().join("cache"), scp_port);
    let node = Node::parse_inline(&orthanc.address()).unwrap();
    echo(&cfg, &node).unwrap();

    // A real CT from ../shared/data and a synthetic one.
    let real = crate::shared_data().join("ct_philips_phantom_5mm");
    let synth_dir = work.path().join("synth");
    synth(&synth_dir, 30, 1);
    for dir in [&real, &synth_dir] {
        let files = files_in(dir);
        let r = store_files(&cfg, &node, &files, &Progress::new()).unwrap();
        assert_eq!(r.stored, files.len(), "{}", orthanc.log());
    }

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
    assert_eq!(hits.len(), 1, "{hits:?}");
    let synth_uid = series_uid_of(&synth_dir);
    let s = &hits[0].series;
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0].series_uid, synth_uid);
    assert_eq!(s[0].instances, Some(30));
    assert_eq!(s[0].modality, "CT");
    let all = find(
        &cfg,
        &node,
        &FindQuery {
            modality: Some("CT".into()),
            ..Default::default()
        },
        &Progress::new(),
    )
    .unwrap();
    assert_eq!(
        all.iter().map(|h| h.series.len()).sum::<usize>(),
        2,
        "{all:?}"
    );

    // C-GET the real CT, C-MOVE the synthetic one: same images, same volume.
    let real_uid = series_uid_of(&real);
    let p = Progress::new();
    let got = retrieve_series(&cfg, &node, &real_uid, RetrieveMethod::Get, &p).unwrap();
    assert_eq!(got.instances, files_in(&real).len());
    assert_eq!(p.done(), got.instances as u64);
    assert_eq!(voxels(&got.folder), voxels(&real));
    assert_eq!(
        Cache::new(cfg.cache_dir()).find(&real_uid).as_deref(),
        Some(got.folder.as_path())
    );
    let moved = retrieve_series(
        &cfg,
        &node,
        &synth_uid,
        RetrieveMethod::Move,
        &Progress::new(),
    )
    .unwrap();
    assert_eq!(moved.instances, 30);
    assert_eq!(voxels(&moved.folder), voxels(&synth_dir));
    // Every image's pixels as sent, by SOP Instance UID.
    for f in files_in(&synth_dir) {
        let a = dicom_object::open_file(&f).unwrap();
        let uid = a
            .meta()
            .media_storage_sop_instance_uid
            .trim_end_matches('\0')
            .to_string();
        let b = dicom_object::open_file(moved.folder.join(format!("{uid}.dcm"))).unwrap();
        let px = |o: &dicom_object::DefaultDicomObject| {
            o.element(dicom_dictionary_std::tags::PIXEL_DATA)
                .unwrap()
                .to_bytes()
                .unwrap()
                .to_vec()
        };
        assert_eq!(px(&a), px(&b), "{uid}");
    }
}

#[test]
fn a_cancelled_retrieve_leaves_no_series_in_the_cache() {
    let scp_port = free_port();
    let Some(orthanc) = Orthanc::start(&[("STRATUM", scp_port)]) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let cfg = config(&work.path().join("cache"), scp_port);
    let node = Node::parse_inline(&orthanc.address()).unwrap();
    let dir = work.path().join("synth");
    synth(&dir, 60, 2);
    store_files(&cfg, &node, &files_in(&dir), &Progress::new()).unwrap();
    let uid = series_uid_of(&dir);
    for method in [RetrieveMethod::Get, RetrieveMethod::Move] {
        let p = Progress::new();
        let result = std::thread::scope(|s| {
            // Cancel once a few images are in: the retrieve is midway.
            s.spawn(|| {
                while p.done() < 5 && !p.is_cancelled() {
                    std::thread::yield_now();
                }
                p.cancel();
            });
            retrieve_series(&cfg, &node, &uid, method, &p)
        });
        assert!(
            matches!(result, Err(PacsError::Cancelled)),
            "{method:?}: {result:?}"
        );
        assert_eq!(Cache::new(cfg.cache_dir()).find(&uid), None, "{method:?}");
        let incoming = cfg.cache_dir().join(".incoming");
        let left: Vec<_> = std::fs::read_dir(&incoming)
            .map(|d| d.flatten().count())
            .into_iter()
            .collect();
        assert!(
            left.iter().all(|n| *n == 0),
            "{method:?}: staging left behind"
        );
    }
    // The same series retrieves whole afterwards.
    let r = retrieve_series(&cfg, &node, &uid, RetrieveMethod::Get, &Progress::new()).unwrap();
    assert_eq!(r.instances, 60);
}

#[test]
fn a_wrong_ae_title_is_said_to_be_the_reason() {
    let Some(orthanc) = Orthanc::start(&[("STRATUM", free_port())]) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let cfg = config(work.path(), 0);
    let node = Node::parse_inline(&format!("WRONG@127.0.0.1:{}", orthanc.dicom_port)).unwrap();
    let e = echo(&cfg, &node).unwrap_err();
    assert!(matches!(e, PacsError::Rejected { .. }), "{e:?}");
    assert!(e.to_string().contains("AE title"), "{e}");
}

#[test]
fn a_server_that_is_down_or_silent_gives_a_clear_error() {
    let work = tempfile::tempdir().unwrap();
    let mut cfg = config(work.path(), 0);
    cfg.timeout_s = 1;
    // Nothing listens.
    let down = Node::parse_inline(&format!("PACS@127.0.0.1:{}", free_port())).unwrap();
    let e = echo(&cfg, &down).unwrap_err();
    assert!(matches!(e, PacsError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains("cannot reach"), "{e}");
    // Something accepts the connection and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::thread::spawn(move || listener.accept().map(|(s, _)| s));
    let silent = Node::parse_inline(&format!("PACS@127.0.0.1:{port}")).unwrap();
    let e = echo(&cfg, &silent).unwrap_err();
    assert!(matches!(e, PacsError::Timeout { .. }), "{e:?}");
    assert!(e.to_string().contains("did not answer within 1 s"), "{e}");
    drop(held.join());
}

/// A peer that accepts the association, then answers every request with
/// `reply` as its command set.
fn garbage_peer(reply: Vec<u8>) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut assoc = dicom_ul::ServerAssociationOptions::new()
            .accept_any()
            .promiscuous(true)
            .with_abstract_syntax("1.2.840.10008.1.1")
            .establish(stream)
            .unwrap();
        if let Ok(dicom_ul::Pdu::PData { data }) = assoc.receive() {
            let pc = data[0].presentation_context_id;
            let _ = assoc.send(&dicom_ul::Pdu::PData {
                data: vec![dicom_ul::pdu::PDataValue {
                    presentation_context_id: pc,
                    value_type: dicom_ul::pdu::PDataValueType::Command,
                    is_last: true,
                    data: reply,
                }],
            });
        }
        let _ = assoc.receive();
    });
    (port, h)
}

#[test]
fn a_peer_that_sends_a_malformed_response_is_reported_not_trusted() {
    let work = tempfile::tempdir().unwrap();
    let mut cfg = config(work.path(), 0);
    cfg.timeout_s = 5;
    // Bytes that are no command set; then a command set for another request.
    let other =
        stratum_core::pacs::dimse::response(0x8030, 999, "1.2.840.10008.1.1", None, 0, None);
    let mut other_bytes = Vec::new();
    other
        .write_dataset_with_ts(
            &mut other_bytes,
            &dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased(),
        )
        .unwrap();
    for reply in [
        vec![0x08, 0x00, 0x00, 0x01, 0xff, 0xff, 0xff, 0x7f, 1, 2],
        other_bytes,
    ] {
        let (port, h) = garbage_peer(reply);
        let node = Node::parse_inline(&format!("PACS@127.0.0.1:{port}")).unwrap();
        let e = echo(&cfg, &node).unwrap_err();
        assert!(matches!(e, PacsError::Malformed { .. }), "{e:?}");
        assert!(e.to_string().contains("malformed response"), "{e}");
        drop(h.join());
    }
}

#[test]
fn dcmtk_storescp_receives_what_we_send_and_our_scp_what_storescu_sends() {
    let Some(storescp) =
        crate::checks::program("storescp", "C-STORE to dcmtk", "apt-get install dcmtk")
    else {
        return;
    };
    let Some(storescu) = crate::checks::program(
        "storescu",
        "our storage SCP from dcmtk",
        "apt-get install dcmtk",
    ) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("synth");
    synth(&src, 12, 3);
    let files = files_in(&src);

    // Our C-STORE to dcmtk's storescp.
    let out = work.path().join("dcmtk");
    std::fs::create_dir_all(&out).unwrap();
    let port = free_port();
    let mut child = std::process::Command::new(storescp)
        .args(["-aet", "DCMTK", "-od"])
        .arg(&out)
        .arg(port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "storescp did not start"
        );
        std::thread::yield_now();
    }
    let cfg = config(work.path(), 0);
    let node = Node::parse_inline(&format!("DCMTK@127.0.0.1:{port}")).unwrap();
    let r = store_files(&cfg, &node, &files, &Progress::new());
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(r.unwrap().stored, files.len());
    assert_eq!(voxels(&out), voxels(&src));

    // dcmtk's storescu to our storage SCP.
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink_got = got.clone();
    let scp = StorageScp::start(
        "STRATUM",
        0,
        std::time::Duration::from_secs(20),
        std::sync::Arc::new(
            move |incoming: stratum_core::pacs::dimse::Incoming, _ts: &str| {
                sink_got.lock().unwrap().push(incoming.sop_instance);
                Ok(())
            },
        ),
    )
    .unwrap();
    let status = std::process::Command::new(storescu)
        .args(["-aec", "STRATUM", "127.0.0.1"])
        .arg(scp.port().to_string())
        .args(&files)
        .output()
        .unwrap();
    scp.stop();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let mut got = got.lock().unwrap().clone();
    got.sort();
    let mut want: Vec<String> = files
        .iter()
        .map(|f| {
            dicom_object::open_file(f)
                .unwrap()
                .meta()
                .media_storage_sop_instance_uid
                .trim_end_matches('\0')
                .to_string()
        })
        .collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn nodes_resolve_by_name_or_inline_and_settings_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pacs.json");
    let mut c = PacsConfig::load(&path).unwrap();
    assert!(c.nodes.is_empty());
    let mut n = Node::parse_inline("RADIOLOGY@pacs.example:104").unwrap();
    n.name = "radiology".into();
    c.nodes.push(n.clone());
    c.save(&path).unwrap();
    let c = PacsConfig::load(&path).unwrap();
    assert_eq!(c.resolve("Radiology").unwrap(), n);
    let inline = c.resolve("OTHER@10.0.0.9:11112").unwrap();
    assert_eq!((inline.ae_title.as_str(), inline.port), ("OTHER", 11112));
    let e = c.resolve("nowhere").unwrap_err().to_string();
    assert!(e.contains("radiology"), "{e}");
    assert!(Node::parse_inline("A@host:0").is_none());
    assert!(Node::parse_inline("THIS-AE-TITLE-IS-TOO-LONG@h:1").is_none());
}

#[test]
fn dicomweb_stow_qido_and_wado_round_trip_through_orthanc() {
    let Some(orthanc) = Orthanc::start(&[("STRATUM", free_port())]) else {
        return;
    };
    if !std::path::Path::new("/usr/share/orthanc/plugins/libOrthancDicomWeb.so").exists() {
        crate::checks::skip(
            "Orthanc's DICOMweb plugin is not installed, so DICOMweb is not checked",
            "apt-get install orthanc-dicomweb",
        );
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let cfg = config(&work.path().join("cache"), 0);
    let mut node = Node::parse_inline(&orthanc.address()).unwrap();
    node.dicomweb = Some(orthanc.dicomweb_url());
    let dir = work.path().join("synth");
    synth(&dir, 14, 4);
    let files = files_in(&dir);
    let stored = stratum_core::pacs::web::store_web(&cfg, &node, &files, &Progress::new()).unwrap();
    assert_eq!(stored, files.len(), "{}", orthanc.log());
    let hits = stratum_core::pacs::web::find_web(
        &cfg,
        &node,
        &FindQuery {
            patient_id: Some(FAKE_PATIENT_ID.into()),
            ..Default::default()
        },
        &Progress::new(),
    )
    .unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    let uid = series_uid_of(&dir);
    assert_eq!(
        hits[0]
            .series
            .iter()
            .map(|s| s.series_uid.clone())
            .collect::<Vec<_>>(),
        vec![uid.clone()]
    );
    let p = Progress::new();
    let r = stratum_core::pacs::web::retrieve_web(&cfg, &node, &uid, None, &p).unwrap();
    assert_eq!(r.instances, 14);
    assert_eq!(p.done(), 14);
    assert_eq!(voxels(&r.folder), voxels(&dir));
}

/// The fuzz target's seeds (fuzz/corpus/pacs_network), every truncation and
/// many byte flips of them: the network parsers answer, never panic. The
/// seeds themselves parse into the messages they hold.
#[test]
fn network_parsers_take_any_bytes_without_panicking() {
    use stratum_core::pacs::web::parse_qido;
    use stratum_core::pacs::wire::parse_wire;
    let dir = crate::repo().join("fuzz/corpus/pacs_network");
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    seeds.sort();
    assert!(seeds.len() >= 5, "{}", dir.display());
    for (name, seed) in &seeds {
        let rest = &seed[1..];
        if name == "qido_json" {
            assert_eq!(parse_qido(rest).unwrap().len(), 1);
        } else {
            let msgs = parse_wire(rest, "1.2.840.10008.1.2").unwrap();
            assert!(!msgs.is_empty(), "{name}");
        }
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for cut in 0..rest.len() {
            let _ = parse_wire(&rest[..cut], "1.2.840.10008.1.2.1");
            let _ = parse_qido(&rest[..cut]);
        }
        for _ in 0..400 {
            let mut m = rest.to_vec();
            for _ in 0..3 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let i = (state as usize) % m.len();
                m[i] = (state >> 32) as u8;
            }
            let _ = parse_wire(&m, "1.2.840.10008.1.2");
            let _ = parse_qido(&m);
        }
    }
}
