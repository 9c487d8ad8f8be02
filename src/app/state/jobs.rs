//! Background work as Bevy tasks: each long step (load, segment, mesh,
//! export) runs on the `AsyncComputeTaskPool` with a core `Progress` handle;
//! a system polls the task each frame and hands the outcome over as a
//! message. The frame loop never waits on pipeline work.

use std::marker::PhantomData;

use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task, block_on, poll_once};
use stratum_core::{base::error::CoreError, base::progress::Progress};

/// A running job whose result is a `T`.
#[derive(Component)]
pub struct Job<T: Send + 'static> {
    task: Task<Result<T, CoreError>>,
}

/// What the UI shows of any running job: its title and its progress.
#[derive(Component, Clone, Debug)]
pub struct JobInfo {
    pub title: String,
    pub progress: Progress,
}

/// How a job ended. A failure keeps the core's typed error until the
/// panel or notice that shows it, so a consumer can tell one from another.
#[derive(Debug)]
pub enum Outcome<T> {
    Done(T),
    Failed(CoreError),
    Cancelled,
}

/// Sent once when a job of type `T` ends. Its one consumer takes the
/// outcome by value with a `MessageMutator` and [`JobDone::take`].
#[derive(Message, Debug)]
pub struct JobDone<T: Send + Sync + 'static> {
    pub title: String,
    outcome: Option<Outcome<T>>,
}

impl<T: Send + Sync + 'static> JobDone<T> {
    pub fn take(&mut self) -> Outcome<T> {
        self.outcome.take().unwrap_or(Outcome::Cancelled)
    }
}

/// Starts `work` in the background; returns the job's entity.
pub fn spawn_job<T: Send + Sync + 'static>(
    commands: &mut Commands,
    title: impl Into<String>,
    work: impl FnOnce(&Progress) -> Result<T, CoreError> + Send + 'static,
) -> Entity {
    spawn_job_with(commands, title, Progress::new(), work)
}

/// [`spawn_job`] with a progress handle the caller keeps, to cancel the job
/// when a newer request makes its result stale.
pub fn spawn_job_with<T: Send + Sync + 'static>(
    commands: &mut Commands,
    title: impl Into<String>,
    progress: Progress,
    work: impl FnOnce(&Progress) -> Result<T, CoreError> + Send + 'static,
) -> Entity {
    let handle = progress.clone();
    let task = AsyncComputeTaskPool::get().spawn(async move {
        // A panic (a bug, or a third-party codec's) ends this job with a
        // message instead of killing the task pool's thread and leaving the
        // job spinning; the study the job read from stays as it was.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&handle)))
            .unwrap_or_else(|payload| Err(panic_error(payload.as_ref())))
    });
    commands
        .spawn((
            Job { task },
            JobInfo {
                title: title.into(),
                progress,
            },
        ))
        .id()
}

/// The error a panicked job ends with: what broke, in the panic's own words,
/// and that nothing else was lost.
pub fn panic_error(payload: &(dyn std::any::Any + Send)) -> CoreError {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no details".into());
    CoreError::JobPanicked { what }
}

/// Registers the polling of jobs that produce a `T`.
pub struct JobPlugin<T>(PhantomData<fn() -> T>);

impl<T> Default for JobPlugin<T> {
    fn default() -> Self {
        JobPlugin(PhantomData)
    }
}

impl<T: Send + Sync + 'static> Plugin for JobPlugin<T> {
    fn build(&self, app: &mut App) {
        app.add_message::<JobDone<T>>()
            .add_systems(PreUpdate, poll_jobs::<T>);
    }
}

fn poll_jobs<T: Send + Sync + 'static>(
    mut commands: Commands,
    mut jobs: Query<(Entity, &mut Job<T>, &JobInfo)>,
    mut done: MessageWriter<JobDone<T>>,
) {
    for (entity, mut job, info) in &mut jobs {
        let Some(result) = block_on(poll_once(&mut job.task)) else {
            continue;
        };
        commands.entity(entity).despawn();
        let outcome = match result {
            Ok(v) => Outcome::Done(v),
            Err(CoreError::Cancelled) => Outcome::Cancelled,
            Err(e) => Outcome::Failed(e),
        };
        if let Outcome::Failed(e) = &outcome {
            warn!("{} failed: {e}", info.title);
        }
        done.write(JobDone {
            title: info.title.clone(),
            outcome: Some(outcome),
        });
    }
}

/// Messages for the user: errors from the core, results of exports.
#[derive(Resource, Default, Debug)]
pub struct Notices {
    pub items: Vec<Notice>,
}

#[derive(Clone, Debug)]
pub struct Notice {
    pub error: bool,
    pub text: String,
}

impl Notices {
    pub fn error(&mut self, text: impl Into<String>) {
        self.items.push(Notice {
            error: true,
            text: text.into(),
        });
    }
    pub fn info(&mut self, text: impl Into<String>) {
        self.items.push(Notice {
            error: false,
            text: text.into(),
        });
    }

    /// Reports a job that did not finish; returns its value when it did.
    pub fn take<T>(&mut self, title: &str, outcome: Outcome<T>) -> Option<T> {
        match outcome {
            Outcome::Done(v) => Some(v),
            Outcome::Failed(e) => {
                self.error(format!("{title} failed: {e}"));
                None
            }
            Outcome::Cancelled => {
                self.info(format!("{title}: cancelled"));
                None
            }
        }
    }
}

/// Core job machinery shared by every capability.
pub struct JobsPlugin;

impl Plugin for JobsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Notices>()
            .add_systems(Last, release_freed_memory);
    }
}

/// Once the last running job has ended and its result was taken in, gives
/// the pages its buffers freed back to the system (`memory::trim_heap`):
/// one trim per burst of background work, on a pool thread (it takes
/// milliseconds: not the frame's, which a headset would drop).
fn release_freed_memory(jobs: Query<(), With<JobInfo>>, mut busy: Local<bool>) {
    let now = !jobs.is_empty();
    if *busy && !now {
        AsyncComputeTaskPool::get()
            .spawn(async { stratum_core::base::memory::trim_heap() })
            .detach();
    }
    *busy = now;
}
