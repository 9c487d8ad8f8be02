//! The PACS benchmark's Stratum side (bench/pacs.sh): upload a folder,
//! retrieve a series by C-GET or C-MOVE into a folder, write the DICOM SEG
//! of a label map; each prints one JSON line with the wall time.
//!   pacs_bench send AET@HOST:PORT DIR
//!   pacs_bench get AET@HOST:PORT SERIES_UID get|move INCOMING_PORT OUT_DIR
//!   pacs_bench seg SCAN LABELS NAMES OUT.seg.dcm

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use stratum_core::base::progress::Progress;
use stratum_core::pacs::{Node, PacsConfig, RetrieveMethod, retrieve_series_to, store_files};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let node = |s: &str| Node::parse_inline(s).context("a node AET@HOST:PORT");
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["send", n, dir] => {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
                .flatten()
                .map(|e| e.path())
                .collect();
            files.sort();
            let t = Instant::now();
            let r = store_files(&PacsConfig::default(), &node(n)?, &files, &Progress::new())?;
            println!(
                "{{\"step\": \"send\", \"images\": {}, \"seconds\": {:.3}}}",
                r.stored,
                t.elapsed().as_secs_f64()
            );
        }
        ["get", n, series, method, port, out] => {
            let config = PacsConfig {
                incoming_port: port.parse()?,
                ..PacsConfig::default()
            };
            let m = match *method {
                "get" => RetrieveMethod::Get,
                "move" => RetrieveMethod::Move,
                _ => bail!("method get or move"),
            };
            let t = Instant::now();
            let r = retrieve_series_to(
                &config,
                &node(n)?,
                series,
                m,
                Some(out.as_ref()),
                &Progress::new(),
            )?;
            println!(
                "{{\"step\": \"{method}\", \"images\": {}, \"seconds\": {:.3}}}",
                r.instances,
                t.elapsed().as_secs_f64()
            );
        }
        ["seg", scan, labels, names, out] => {
            use stratum_core::derived::{SegAlgorithm, SegSegment, Source, write_seg};
            let p = Progress::new();
            let opts = stratum_core::read::open::OpenOptions::new();
            let volume = stratum_core::read::open::open_volume(scan.as_ref(), &opts, &p)?.volume;
            let map = stratum_core::convert::load_labels_for(
                &volume,
                labels.as_ref(),
                Some(names.as_ref()),
                &p,
            )?;
            let source = Source::of_scan(scan.as_ref(), &opts, &p)?;
            // The write alone: masks from the label map, frames, encoding, file.
            let t = Instant::now();
            let masks: Vec<_> = map
                .segments
                .iter()
                .map(|s| (s, map.mask(s.id)))
                .filter(|(_, m)| m.count() > 0)
                .collect();
            let parts: Vec<SegSegment<'_>> = masks
                .iter()
                .map(|(s, m)| SegSegment {
                    name: &s.name,
                    colour: s.colour,
                    mask: m,
                    algorithm: SegAlgorithm::Manual,
                })
                .collect();
            let summary = write_seg(out.as_ref(), &parts, &source, &p)?;
            let seconds = t.elapsed().as_secs_f64();
            println!(
                "{{\"step\": \"seg\", \"segments\": {}, \"frames\": {}, \"seconds\": {seconds:.3}, \"bytes\": {}}}",
                summary.segments, summary.frames, summary.bytes
            );
        }
        _ => bail!(
            "usage: pacs_bench send NODE DIR | get NODE SERIES get|move PORT OUT | seg SCAN LABELS NAMES OUT"
        ),
    }
    Ok(())
}
