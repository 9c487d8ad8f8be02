//! File ▸ Open from PACS: test a node (C-ECHO), find studies and series
//! (C-FIND or QIDO-RS), retrieve one series (C-GET, C-MOVE or WADO-RS) into
//! the cache as background jobs with per-image progress and Cancel, then
//! open it like any folder. The core does the work (`stratum_core::pacs`);
//! this plugin keeps the dialog's state, starts the jobs and hands their
//! results on.

use std::path::PathBuf;
use std::time::Duration;

use bevy::prelude::*;
use stratum_core::base::error::CoreError;
use stratum_core::pacs::{
    self, FindQuery, Node, PacsConfig, PacsError, RetrieveMethod, Retrieved, StudyHit,
};

use crate::app::features::loading::OpenRequest;
use crate::app::state::jobs::{JobDone, JobPlugin, Notices, spawn_job};

/// How images travel from (and to) the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Transport {
    /// C-GET on our own association (no incoming port needed).
    #[default]
    Get,
    /// C-MOVE to our storage SCP (the PACS must know our AE title and port).
    Move,
    /// DICOMweb (QIDO-RS, WADO-RS, STOW-RS) at the node's URL.
    Web,
}

/// The Open from PACS dialog's state, the PACS settings and the last results.
#[derive(Resource, Debug)]
pub struct PacsState {
    pub open: bool,
    /// Where the settings live (`pacs.json` in the user's config folder).
    pub config_path: PathBuf,
    pub config: PacsConfig,
    /// A settings file that could not be read, said when the dialog opens.
    pub config_error: Option<String>,
    /// The node picked: a configured name, `AET@HOST:PORT` or a DICOMweb URL.
    pub node: String,
    pub query: FindQuery,
    pub transport: Transport,
    pub results: Vec<StudyHit>,
    /// The series picked in the results (its UID).
    pub selected: Option<String>,
    /// A search or retrieve is running (one at a time).
    pub busy: bool,
    /// What the last C-ECHO said, shown beside the node.
    pub echo: Option<Result<Duration, String>>,
}

impl PacsState {
    /// The state for the settings at `config_path` (an unreadable file
    /// leaves empty settings and its error to show).
    pub fn load(config_path: PathBuf) -> PacsState {
        let (config, config_error) = match PacsConfig::load(&config_path) {
            Ok(c) => (c, None),
            Err(e) => (PacsConfig::default(), Some(e.to_string())),
        };
        let node = config
            .nodes
            .first()
            .map(|n| n.name.clone())
            .unwrap_or_default();
        PacsState {
            open: false,
            config_path,
            config,
            config_error,
            node,
            query: FindQuery::default(),
            transport: Transport::Get,
            results: Vec::new(),
            selected: None,
            busy: false,
            echo: None,
        }
    }

    /// The node the dialog names: a DICOMweb URL, a configured node or
    /// `AET@HOST:PORT`.
    pub fn resolve(&self) -> Result<Node, PacsError> {
        match Node::parse_web(&self.node) {
            Some(n) => Ok(n),
            None => self.config.resolve(&self.node),
        }
    }
}

impl Default for PacsState {
    fn default() -> Self {
        PacsState::load(pacs::config_path())
    }
}

/// Test the node now (C-ECHO).
#[derive(Message, Clone, Debug)]
pub struct PacsEcho;

/// Run the query in the form now.
#[derive(Message, Clone, Debug)]
pub struct PacsFind;

/// Retrieve the selected series now, then open it.
#[derive(Message, Clone, Debug)]
pub struct PacsRetrieve;

/// A finished query.
pub struct Found(pub Vec<StudyHit>);
/// A node that answered C-ECHO, and how fast.
pub struct Echoed(pub Duration);

pub struct PacsPlugin;

impl Plugin for PacsPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins((
            JobPlugin::<Found>::default(),
            JobPlugin::<Retrieved>::default(),
            JobPlugin::<Echoed>::default(),
        ))
        .init_resource::<PacsState>()
        .add_message::<PacsEcho>()
        .add_message::<PacsFind>()
        .add_message::<PacsRetrieve>()
        .add_systems(
            Update,
            (
                start_echo,
                finish_echo,
                start_find,
                finish_find,
                start_retrieve,
                finish_retrieve,
            ),
        );
    }
}

/// The core's PACS errors in the job machinery's terms (cancel stays cancel).
pub fn core_error(e: PacsError) -> CoreError {
    match e {
        PacsError::Cancelled => CoreError::Cancelled,
        PacsError::Core(e) => e,
        other => CoreError::Pacs(Box::new(other)),
    }
}

fn start_echo(
    mut commands: Commands,
    mut requests: MessageReader<PacsEcho>,
    mut state: ResMut<PacsState>,
) {
    if requests.read().last().is_none() {
        return;
    }
    let node = match state.resolve() {
        Ok(n) => n,
        Err(e) => {
            state.echo = Some(Err(e.to_string()));
            return;
        }
    };
    if node.port == 0 {
        state.echo = Some(Err(
            "a DICOMweb-only node has no DICOM port to test; search it instead".into(),
        ));
        return;
    }
    state.echo = None;
    let config = state.config.clone();
    spawn_job(&mut commands, format!("Testing {}", node.name), move |_| {
        pacs::echo(&config, &node).map(Echoed).map_err(core_error)
    });
}

fn finish_echo(mut done: MessageMutator<JobDone<Echoed>>, mut state: ResMut<PacsState>) {
    for d in done.read() {
        state.echo = Some(match d.take() {
            crate::app::state::jobs::Outcome::Done(Echoed(t)) => Ok(t),
            crate::app::state::jobs::Outcome::Failed(e) => Err(e.to_string()),
            crate::app::state::jobs::Outcome::Cancelled => Err("cancelled".into()),
        });
    }
}

fn start_find(
    mut commands: Commands,
    mut requests: MessageReader<PacsFind>,
    mut state: ResMut<PacsState>,
    mut notices: ResMut<Notices>,
) {
    if requests.read().last().is_none() || state.busy {
        return;
    }
    let node = match state.resolve() {
        Ok(n) => n,
        Err(e) => return notices.error(e.to_string()),
    };
    let web = state.transport == Transport::Web || node.port == 0;
    let (config, query) = (state.config.clone(), state.query.clone());
    state.busy = true;
    spawn_job(
        &mut commands,
        format!("Searching {}", node.name),
        move |p| {
            let hits = if web {
                pacs::web::find_web(&config, &node, &query, p)
            } else {
                pacs::find(&config, &node, &query, p)
            };
            hits.map(Found).map_err(core_error)
        },
    );
}

fn finish_find(
    mut done: MessageMutator<JobDone<Found>>,
    mut state: ResMut<PacsState>,
    mut notices: ResMut<Notices>,
) {
    for d in done.read() {
        state.busy = false;
        let title = d.title.clone();
        if let Some(Found(hits)) = notices.take(&title, d.take()) {
            if hits.is_empty() {
                notices.info("No study matches the search.");
            }
            state.results = hits;
            state.selected = None;
        }
    }
}

fn start_retrieve(
    mut commands: Commands,
    mut requests: MessageReader<PacsRetrieve>,
    mut state: ResMut<PacsState>,
    mut notices: ResMut<Notices>,
) {
    if requests.read().last().is_none() || state.busy {
        return;
    }
    let Some(series) = state.selected.clone() else {
        return notices.error("Pick a series in the results first.");
    };
    let node = match state.resolve() {
        Ok(n) => n,
        Err(e) => return notices.error(e.to_string()),
    };
    let transport = if node.port == 0 {
        Transport::Web
    } else {
        state.transport
    };
    let config = state.config.clone();
    state.busy = true;
    spawn_job(
        &mut commands,
        format!("Retrieving from {}", node.name),
        move |p| {
            let method = match transport {
                Transport::Get => RetrieveMethod::Get,
                Transport::Move => RetrieveMethod::Move,
                Transport::Web => {
                    return pacs::web::retrieve_web(&config, &node, &series, None, p)
                        .map_err(core_error);
                }
            };
            pacs::retrieve_series(&config, &node, &series, method, p).map_err(core_error)
        },
    );
}

fn finish_retrieve(
    mut done: MessageMutator<JobDone<Retrieved>>,
    mut state: ResMut<PacsState>,
    mut notices: ResMut<Notices>,
    mut open: MessageWriter<OpenRequest>,
) {
    for d in done.read() {
        state.busy = false;
        let title = d.title.clone();
        if let Some(r) = notices.take(&title, d.take()) {
            notices.info(format!(
                "{} images retrieved in {:.1} s; opening the series.",
                r.instances, r.seconds
            ));
            state.open = false;
            open.write(OpenRequest {
                path: r.folder,
                series: None,
                labels: None,
                subset: Default::default(),
            });
        }
    }
}
