//! Profiling built in: every pipeline stage is a `tracing` span, and with
//! `STRATUM_TRACE=FILE` set, [`ChromeTrace`] writes each span as it closes
//! to a Chrome trace-event file (open it in `chrome://tracing` or
//! <https://ui.perfetto.dev>) to see where a slow study spends its time.
//!
//! The file is written as it goes (a span per line, flushed whenever a
//! top-level span closes), not through a temp file and a rename: it is a
//! log, and after a crash the part written is what tells where it stopped.
//! The trace-event format's array form allows the closing `]` to be
//! missing for exactly that reason, so the file is valid at any moment.

use std::cell::Cell;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The environment variable naming the trace file.
pub const TRACE_ENV: &str = "STRATUM_TRACE";

/// A [`tracing_subscriber::Layer`] writing spans (as complete "X" events,
/// with their fields as arguments) and events (as instants) to a Chrome
/// trace-event file.
pub struct ChromeTrace {
    out: Mutex<Sink>,
    start: Instant,
}

struct Sink {
    file: BufWriter<File>,
    /// Threads whose name was written (by trace thread id).
    named: Vec<u64>,
    last_flush: Instant,
}

/// Per-span state kept in the span's extensions.
struct Timing {
    start: Instant,
    tid: u64,
    args: String,
}

static NEXT_TID: AtomicU64 = AtomicU64::new(1);
thread_local! {
    static TID: Cell<u64> = const { Cell::new(0) };
}

/// A small, stable number for the calling thread (Chrome shows one row per thread).
fn thread_id() -> u64 {
    TID.with(|t| {
        if t.get() == 0 {
            t.set(NEXT_TID.fetch_add(1, Ordering::Relaxed));
        }
        t.get()
    })
}

impl ChromeTrace {
    /// Starts a trace file at `path` (created or truncated).
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let mut file = BufWriter::with_capacity(1 << 16, File::create(path)?);
        file.write_all(b"[\n")?;
        file.flush()?;
        Ok(ChromeTrace {
            out: Mutex::new(Sink {
                file,
                named: Vec::new(),
                last_flush: Instant::now(),
            }),
            start: Instant::now(),
        })
    }

    /// The trace asked for by `STRATUM_TRACE`, if any. A file that cannot
    /// be created is reported on stderr and tracing stays off: profiling
    /// must never stop the work it profiles.
    pub fn from_env() -> Option<Self> {
        let path = std::env::var_os(TRACE_ENV).filter(|p| !p.is_empty())?;
        match Self::create(Path::new(&path)) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!(
                    "warning: {TRACE_ENV}={}: the trace file cannot be written ({e}); running without it",
                    Path::new(&path).display()
                );
                None
            }
        }
    }

    fn micros(&self, t: Instant) -> f64 {
        t.saturating_duration_since(self.start).as_nanos() as f64 / 1000.0
    }

    /// Appends one event line; flushes when `flush` or 100 ms have passed.
    fn write(&self, tid: u64, line: &str, flush: bool) {
        let Ok(mut sink) = self.out.lock() else {
            return;
        };
        // A thread is named by itself (a span may close on another thread).
        if tid == thread_id() && !sink.named.contains(&tid) {
            sink.named.push(tid);
            let name = std::thread::current()
                .name()
                .map(str::to_string)
                .unwrap_or_else(|| format!("thread {tid}"));
            let meta = format!(
                "{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":{tid},\"args\":{{\"name\":{}}}}},\n",
                json_string(&name)
            );
            let _ = sink.file.write_all(meta.as_bytes());
        }
        let _ = sink.file.write_all(line.as_bytes());
        if flush || sink.last_flush.elapsed().as_millis() >= 100 {
            let _ = sink.file.flush();
            sink.last_flush = Instant::now();
        }
    }
}

impl Drop for ChromeTrace {
    fn drop(&mut self) {
        if let Ok(mut sink) = self.out.lock() {
            let _ = sink.file.flush();
        }
    }
}

/// Span and event fields as the members of a JSON object (without braces).
struct Args<'a>(&'a mut String);

impl Visit for Args<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.push(field, &json_string(&format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, &json_string(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, &value.to_string());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, &value.to_string());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        let v = if value.is_finite() {
            value.to_string()
        } else {
            json_string(&value.to_string())
        };
        self.push(field, &v);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, if value { "true" } else { "false" });
    }
}

impl Args<'_> {
    fn push(&mut self, field: &Field, value: &str) {
        if !self.0.is_empty() {
            self.0.push(',');
        }
        let _ = write!(self.0, "{}:{value}", json_string(field.name()));
    }
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

impl<S> tracing_subscriber::Layer<S> for ChromeTrace
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut args = String::new();
        attrs.record(&mut Args(&mut args));
        span.extensions_mut().insert(Timing {
            start: Instant::now(),
            tid: thread_id(),
            args,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(t) = span.extensions_mut().get_mut::<Timing>()
        {
            values.record(&mut Args(&mut t.args));
        }
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut args = String::new();
        event.record(&mut Args(&mut args));
        let tid = thread_id();
        let line = format!(
            "{{\"name\":{},\"cat\":{},\"ph\":\"i\",\"s\":\"t\",\"ts\":{:.1},\"pid\":1,\"tid\":{tid},\"args\":{{{args}}}}},\n",
            json_string(&event.metadata().level().to_string()),
            json_string(event.metadata().target()),
            self.micros(Instant::now()),
        );
        self.write(tid, &line, false);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let end = Instant::now();
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let root = span.parent().is_none();
        let ext = span.extensions();
        let Some(t) = ext.get::<Timing>() else {
            return;
        };
        let line = format!(
            "{{\"name\":{},\"cat\":{},\"ph\":\"X\",\"ts\":{:.1},\"dur\":{:.1},\"pid\":1,\"tid\":{},\"args\":{{{}}}}},\n",
            json_string(span.metadata().name()),
            json_string(span.metadata().target()),
            self.micros(t.start),
            end.saturating_duration_since(t.start).as_nanos() as f64 / 1000.0,
            t.tid,
            t.args,
        );
        self.write(t.tid, &line, root);
    }
}
