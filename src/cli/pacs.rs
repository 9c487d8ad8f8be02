//! `stratum pacs`: talk to a PACS. `echo` tests a node, `find` lists
//! studies and series, `get` retrieves a series (C-GET or C-MOVE) into the
//! cache or a folder, `send` stores files (our SEG and 3D model objects, or
//! any DICOM) on a node; `nodes`, `add` and `remove` edit the nodes in
//! `pacs.json`. A node is a configured name or `AET@HOST:PORT`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use stratum_core::pacs::{self, FindQuery, Node, PacsConfig, RetrieveMethod};

use super::with_progress;

#[derive(clap::Args, Debug)]
pub struct PacsArgs {
    #[command(subcommand)]
    command: PacsCommand,
    /// The PACS settings file (default: pacs.json in Stratum's config folder)
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Seconds to wait for a connection or an answer (default: the settings', 30)
    #[arg(long, global = true, value_name = "S")]
    timeout: Option<u64>,
    /// Our AE title for this call (default: the settings', STRATUM)
    #[arg(long, global = true, value_name = "AET")]
    ae_title: Option<String>,
}

#[derive(Subcommand, Debug)]
enum PacsCommand {
    /// Test a node with C-ECHO
    Echo {
        /// A node from the settings, AET@HOST:PORT, or (with --web) a DICOMweb URL
        node: String,
    },
    /// Find studies (and their series) with C-FIND
    Find {
        node: String,
        /// Patient name (wildcards * and ? allowed)
        #[arg(long)]
        patient_name: Option<String>,
        #[arg(long)]
        patient_id: Option<String>,
        /// Study date or range: YYYYMMDD, YYYYMMDD-YYYYMMDD, -YYYYMMDD, YYYYMMDD-
        #[arg(long, value_name = "RANGE")]
        date: Option<String>,
        /// Modality (CT, MR, ...): studies with such a series, and only those series
        #[arg(long)]
        modality: Option<String>,
        #[arg(long)]
        accession: Option<String>,
        /// Study description (wildcards allowed)
        #[arg(long)]
        description: Option<String>,
        /// One study by its Study Instance UID
        #[arg(long, value_name = "UID")]
        study: Option<String>,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
        /// Use the node's DICOMweb service (QIDO-RS) instead of C-FIND
        #[arg(long)]
        web: bool,
    },
    /// Retrieve one series into the cache (or into a folder with -o)
    Get {
        node: String,
        /// The Series Instance UID (from `stratum pacs find`)
        #[arg(long, value_name = "UID")]
        series: String,
        /// Use C-MOVE to our storage SCP instead of C-GET (the PACS must
        /// know our AE title, host and incoming port)
        #[arg(long = "move")]
        use_move: bool,
        /// The folder to put the series in (created; replaced when it exists)
        #[arg(short, long, value_name = "DIR")]
        output: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Use the node's DICOMweb service (WADO-RS) instead of C-GET
        #[arg(long, conflicts_with = "use_move")]
        web: bool,
    },
    /// Store DICOM files (or every DICOM file under folders) on a node
    Send {
        node: String,
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Use the node's DICOMweb service (STOW-RS) instead of C-STORE
        #[arg(long)]
        web: bool,
    },
    /// List the configured nodes and our identity
    Nodes,
    /// Add (or replace) a node in the settings
    Add {
        /// The name to call it by
        name: String,
        /// AET@HOST:PORT
        address: String,
        /// Its DICOMweb base URL (e.g. http://pacs:8042/dicom-web)
        #[arg(long, value_name = "URL")]
        dicomweb: Option<String>,
    },
    /// Remove a node from the settings
    Remove { name: String },
}

pub fn pacs_cmd(a: PacsArgs) -> anyhow::Result<ExitCode> {
    let path = a.config.clone().unwrap_or_else(pacs::config_path);
    let mut config = PacsConfig::load(&path)?;
    if let Some(t) = a.timeout {
        config.timeout_s = t.max(1);
    }
    if let Some(ae) = &a.ae_title {
        config.ae_title = ae.clone();
    }
    match a.command {
        PacsCommand::Echo { node } => {
            let node = resolve(&config, &node)?;
            let t = pacs::echo(&config, &node)?;
            println!(
                "{} ({}@{}) answered C-ECHO in {:.0} ms",
                node.name,
                node.ae_title,
                node.address(),
                t.as_secs_f64() * 1000.0
            );
        }
        PacsCommand::Find {
            node,
            patient_name,
            patient_id,
            date,
            modality,
            accession,
            description,
            study,
            json,
            web,
        } => {
            let node = resolve(&config, &node)?;
            let (date_from, date_to) = parse_dates(date.as_deref())?;
            let q = FindQuery {
                patient_name,
                patient_id,
                date_from,
                date_to,
                modality,
                accession,
                description,
                study_uid: study,
                series_uid: None,
            };
            let hits = with_progress(json, |p| {
                if web {
                    pacs::web::find_web(&config, &node, &q, p)
                } else {
                    pacs::find(&config, &node, &q, p)
                }
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&hits)?);
            } else {
                print_hits(&hits);
            }
        }
        PacsCommand::Get {
            node,
            series,
            use_move,
            output,
            json,
            web,
        } => {
            let node = resolve(&config, &node)?;
            let method = if use_move {
                RetrieveMethod::Move
            } else {
                RetrieveMethod::Get
            };
            let r = with_progress(json, |p| {
                if web {
                    pacs::web::retrieve_web(&config, &node, &series, output.as_deref(), p)
                } else {
                    pacs::retrieve_series_to(&config, &node, &series, method, output.as_deref(), p)
                }
            })?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "folder": r.folder,
                        "study_uid": r.study_uid,
                        "series_uid": r.series_uid,
                        "instances": r.instances,
                        "seconds": r.seconds,
                    }))?
                );
            } else {
                println!(
                    "{} images in {:.1} s into {}",
                    r.instances,
                    r.seconds,
                    r.folder.display()
                );
            }
        }
        PacsCommand::Send {
            node,
            files,
            json,
            web,
        } => {
            let node = resolve(&config, &node)?;
            let files = expand(&files)?;
            let r = with_progress(json, |p| {
                if web {
                    pacs::web::store_web(&config, &node, &files, p).map(|stored| {
                        pacs::StoreReport {
                            stored,
                            warnings: Vec::new(),
                        }
                    })
                } else {
                    pacs::store_files(&config, &node, &files, p)
                }
            })?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"stored": r.stored, "warnings": r.warnings.iter().map(|(f, w)| serde_json::json!({"file": f, "warning": w})).collect::<Vec<_>>()})
                );
            } else {
                println!("{} files stored on {}", r.stored, node.name);
                for (f, w) in &r.warnings {
                    println!("  warning: {}: {w}", f.display());
                }
            }
        }
        PacsCommand::Nodes => {
            println!(
                "our AE title {}, incoming port {}, timeout {} s, cache {}",
                config.ae_title,
                config.incoming_port,
                config.timeout_s,
                config.cache_dir().display()
            );
            if config.nodes.is_empty() {
                println!(
                    "no nodes in {} (add one: stratum pacs add NAME AET@HOST:PORT)",
                    path.display()
                );
            }
            for n in &config.nodes {
                println!(
                    "{:<20} {}@{}{}",
                    n.name,
                    n.ae_title,
                    n.address(),
                    n.dicomweb
                        .as_ref()
                        .map(|u| format!("  DICOMweb {u}"))
                        .unwrap_or_default()
                );
            }
        }
        PacsCommand::Add {
            name,
            address,
            dicomweb,
        } => {
            let mut node = Node::parse_inline(&address)
                .ok_or_else(|| anyhow::anyhow!("{address:?} is not AET@HOST:PORT"))?;
            node.name = name.clone();
            node.dicomweb = dicomweb;
            config.nodes.retain(|n| !n.name.eq_ignore_ascii_case(&name));
            config.nodes.push(node);
            config.save(&path)?;
            println!("saved {name} in {}", path.display());
        }
        PacsCommand::Remove { name } => {
            let before = config.nodes.len();
            config.nodes.retain(|n| !n.name.eq_ignore_ascii_case(&name));
            if config.nodes.len() == before {
                anyhow::bail!("no node named {name:?} in {}", path.display());
            }
            config.save(&path)?;
            println!("removed {name} from {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A configured node, `AET@HOST:PORT`, or a DICOMweb base URL.
fn resolve(config: &PacsConfig, spec: &str) -> anyhow::Result<Node> {
    if let Some(node) = Node::parse_web(spec) {
        return Ok(node);
    }
    Ok(config.resolve(spec)?)
}

fn parse_dates(s: Option<&str>) -> anyhow::Result<(Option<String>, Option<String>)> {
    let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok((None, None));
    };
    let check = |d: &str| -> anyhow::Result<Option<String>> {
        if d.is_empty() {
            return Ok(None);
        }
        if d.len() != 8 || !d.bytes().all(|b| b.is_ascii_digit()) {
            anyhow::bail!("{d:?} is not a date YYYYMMDD");
        }
        Ok(Some(d.to_string()))
    };
    match s.split_once('-') {
        Some((a, b)) => Ok((check(a)?, check(b)?)),
        None => {
            let d = check(s)?;
            Ok((d.clone(), d))
        }
    }
}

fn print_hits(hits: &[pacs::StudyHit]) {
    if hits.is_empty() {
        println!("no study matches");
        return;
    }
    for s in hits {
        println!(
            "{}  {}  {}  acc {}  {}  [{}]",
            if s.study_date.is_empty() {
                "--------"
            } else {
                &s.study_date
            },
            if s.patient_name.is_empty() {
                "(no name)"
            } else {
                &s.patient_name
            },
            s.patient_id,
            s.accession,
            s.description,
            s.modalities.join(",")
        );
        println!("    study {}", s.study_uid);
        for se in &s.series {
            println!(
                "    #{:<4} {:<4} {:>5} images  {:<32} {}",
                se.number.map(|n| n.to_string()).unwrap_or_default(),
                se.modality,
                se.instances
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "?".into()),
                se.description,
                se.series_uid
            );
        }
    }
}

/// Files as given, and every file under the folders given.
fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    fn walk(p: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        if p.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(p)?.flatten().map(|e| e.path()).collect();
            entries.sort();
            for e in entries {
                walk(&e, out)?;
            }
        } else if stratum_core::dicom::header::looks_like_dicom(p) {
            out.push(p.to_path_buf());
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if !p.exists() {
            anyhow::bail!("{} does not exist", p.display());
        }
        if p.is_file() {
            out.push(p.clone());
        } else {
            walk(p, &mut out)?;
        }
    }
    if out.is_empty() {
        anyhow::bail!("no DICOM file found in what was given");
    }
    Ok(out)
}
