//! File ▸ Open from PACS and File ▸ Export DICOM driven through the app's
//! systems (headless, the messages the dialog's buttons send) against a
//! real Orthanc started by the test: test the node, search, retrieve and
//! open the series, segment it, write a DICOM SEG and Encapsulated STL and
//! send them back; what Orthanc then holds is what we wrote.

use std::path::Path;
use std::time::Duration;

use stratum::app::features::dicom_export::{DicomExport, DicomExportRequest, DicomKind};
use stratum::app::features::pacs::{PacsEcho, PacsFind, PacsRetrieve, PacsState, Transport};
use stratum::app::features::segmentation::SegmentCommand;
use stratum::app::state::study::{Study, StudySource};
use stratum_core::dicom::synth::{FAKE_PATIENT_ID, SynthOptions, write_series};
use stratum_core::pacs::{FindQuery, Node, PacsConfig, find, store_files};
use stratum_core::{base::progress::Progress, read::open::OpenOptions, read::open::open_volume};

use crate::orthanc::{Orthanc, free_port};
use crate::pipeline::{errors, headless, run_until_idle};

const LIMIT: Duration = Duration::from_secs(120);

fn dicom_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| stratum_core::dicom::header::looks_like_dicom(p))
        .collect();
    v.sort();
    v
}

fn settings(dir: &Path, orthanc: &Orthanc, scp_port: u16) -> PacsState {
    let mut state = PacsState::load(dir.join("pacs.json"));
    state.config = PacsConfig {
        ae_title: "STRATUM".into(),
        incoming_port: scp_port,
        timeout_s: 20,
        cache: Some(dir.join("cache")),
        nodes: vec![Node {
            name: "test pacs".into(),
            dicomweb: Some(orthanc.dicomweb_url()),
            ..Node::parse_inline(&orthanc.address()).unwrap()
        }],
        tls: Default::default(),
    };
    state.node = "test pacs".into();
    state
}

#[test]
fn open_from_pacs_retrieves_and_opens_a_series_and_export_dicom_sends_seg_and_stl_back() {
    let scp_port = free_port();
    let Some(orthanc) = Orthanc::start(&[("STRATUM", scp_port)]) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let series_dir = work.path().join("series");
    write_series(
        &series_dir,
        &SynthOptions {
            slices: 12,
            ..SynthOptions::default()
        },
    )
    .unwrap();
    let state = settings(work.path(), &orthanc, scp_port);
    let node = state.resolve().unwrap();
    store_files(
        &state.config,
        &node,
        &dicom_files(&series_dir),
        &Progress::new(),
    )
    .unwrap();

    let mut app = headless();
    app.insert_resource(state);

    // Test: the node answers C-ECHO.
    app.world_mut().write_message(PacsEcho);
    run_until_idle(&mut app, LIMIT);
    let echo = app.world().resource::<PacsState>().echo.clone();
    assert!(matches!(echo, Some(Ok(_))), "{echo:?}");

    // Search by patient ID, with C-FIND and with QIDO-RS: one study, one
    // series of 12 images.
    for transport in [Transport::Web, Transport::Get] {
        {
            let mut s = app.world_mut().resource_mut::<PacsState>();
            s.transport = transport;
            s.query = FindQuery {
                patient_id: Some(FAKE_PATIENT_ID.into()),
                ..Default::default()
            };
            s.results.clear();
        }
        app.world_mut().write_message(PacsFind);
        run_until_idle(&mut app, LIMIT);
        let s = app.world().resource::<PacsState>();
        assert!(!s.busy);
        assert_eq!(s.results.len(), 1, "{transport:?}: {:?}", errors(&app));
        assert_eq!(s.results[0].series.len(), 1);
        assert_eq!(s.results[0].series[0].instances, Some(12), "{transport:?}");
    }

    // Retrieve and open: the study is the series we sent, from the cache.
    {
        let mut s = app.world_mut().resource_mut::<PacsState>();
        s.selected = Some(s.results[0].series[0].series_uid.clone());
        s.open = true;
    }
    app.world_mut().write_message(PacsRetrieve);
    run_until_idle(&mut app, LIMIT);
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    assert!(!app.world().resource::<PacsState>().open);
    let source = app.world().resource::<StudySource>().clone();
    assert!(
        source.path.starts_with(work.path().join("cache")),
        "{source:?}"
    );
    let original = open_volume(&series_dir, &OpenOptions::new(), &Progress::new())
        .unwrap()
        .volume;
    let (lo, hi) = {
        let study = app.world().resource::<Study>();
        assert_eq!(study.volume.dim(), original.dim());
        assert!(study.volume.voxels == original.voxels, "the voxels differ");
        study.volume.voxels.min_max()
    };

    // A segment (the upper half of the ramp), its surface built.
    app.world_mut().write_message(SegmentCommand::Threshold {
        name: "Liver".into(),
        lo: (lo + hi) / 2.0,
        hi,
    });
    run_until_idle(&mut app, LIMIT);

    // Export ▸ DICOM SEG, sent to the node; then Encapsulated STL, sent too.
    let exports = work.path().join("exports");
    for kind in [DicomKind::Seg, DicomKind::Stl] {
        *app.world_mut().resource_mut::<DicomExport>() = DicomExport {
            kind,
            folder: exports.to_string_lossy().into_owned(),
            name: "result".into(),
            send: true,
            ..Default::default()
        };
        app.world_mut().write_message(DicomExportRequest);
        run_until_idle(&mut app, LIMIT);
        assert!(errors(&app).is_empty(), "{kind:?}: {:?}", errors(&app));
    }
    let seg_path = exports.join("result.seg.dcm");
    let stl_path = exports.join("result.stl.dcm");
    assert!(seg_path.exists() && stl_path.exists());

    // The SEG holds the document's label map, voxel for voxel.
    let read = stratum_core::derived::read_seg(&seg_path).unwrap();
    let study = app.world().resource::<Study>();
    let doc_labels = study.doc.labels();
    let liver = study.doc.segment_named("Liver").unwrap().id;
    let read_id = read.segments.iter().find(|s| s.name == "Liver").unwrap().id;
    assert_eq!(read.mask(read_id), doc_labels.mask(liver));

    // Orthanc now files a SEG and an M3D series in the scan's study.
    let cfg = app.world().resource::<PacsState>().config.clone();
    let hits = find(&cfg, &node, &FindQuery::default(), &Progress::new()).unwrap();
    assert_eq!(hits.len(), 1, "one study: the objects went into the scan's");
    let mut modalities: Vec<&str> = hits[0].series.iter().map(|s| s.modality.as_str()).collect();
    modalities.sort();
    assert_eq!(modalities, ["CT", "M3D", "SEG"], "{}", orthanc.log());
}

#[test]
fn a_node_that_is_down_says_so_in_the_dialog() {
    let work = tempfile::tempdir().unwrap();
    let mut state = PacsState::load(work.path().join("pacs.json"));
    state.config.timeout_s = 5;
    // Nobody listens on a port just freed.
    state.node = format!("NOBODY@127.0.0.1:{}", free_port());
    let mut app = headless();
    app.insert_resource(state);
    app.world_mut().write_message(PacsEcho);
    run_until_idle(&mut app, LIMIT);
    let echo = app.world().resource::<PacsState>().echo.clone();
    match echo {
        Some(Err(e)) => assert!(e.contains("cannot reach"), "{e}"),
        other => panic!("a node that is down answered: {other:?}"),
    }
    app.world_mut().write_message(PacsFind);
    run_until_idle(&mut app, LIMIT);
    let errs = errors(&app);
    assert!(errs.iter().any(|e| e.contains("cannot reach")), "{errs:?}");
    assert!(!app.world().resource::<PacsState>().busy);
}
