//! Exports of a trace's callbacks for other tools, each in one streaming pass with bounded
//! memory, so traces larger than memory export too:
//!
//! - [`Format::Perfetto`]: Chrome / Perfetto trace-event JSON. One track per worker with a
//!   slice per callback (named by its handler; color, key, parent and waits as args); the
//!   wait for the callback's own color and for a worker as async slices on their own
//!   tracks; parent → child edges as flow events.
//! - [`Format::Folded`]: `color;handler nanoseconds` lines for inferno or flamegraph.pl.
//! - [`Format::Csv`]: one row per callback.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};

use hue_formats::trace::{CallbackRecord, NameKind, Origin, Record, TraceReader};
use hue_formats::{Color, Key};

use crate::error::{Error, ErrorKind, Result};

/// An export format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// Chrome / Perfetto trace-event JSON.
    Perfetto,
    /// Folded stacks, `color;handler nanoseconds`.
    Folded,
    /// Callbacks as CSV.
    Csv,
}

/// What an export wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Exported {
    /// Callbacks exported.
    pub callbacks: u64,
    /// Parent → child flows drawn (a parent too far from its child in the file has none).
    pub flows: u64,
}

/// Callbacks remembered to join parents and children into flows: the most recent ones in
/// the file. A child's record comes within a few thousand records of its parent's in a
/// runtime's trace (records are written as callbacks end); this bounds memory whatever the
/// trace's length.
const FLOW_WINDOW: usize = 1 << 16;

/// Distinct `color;handler` stacks kept apart in folded output; past that, a color's
/// callbacks fold into `other colors;handler` (per-connection colors can be millions).
const MAX_STACKS: usize = 1 << 16;

/// Exports the trace read from `input` (named `name` in errors) as `format` into `out`.
pub fn export(
    input: impl Read,
    name: &str,
    format: Format,
    out: &mut impl Write,
) -> Result<Exported> {
    let reader = TraceReader::with_name(input, name).map_err(trace_error)?;
    let program = reader.header().program.clone();
    let mut names: HashMap<u32, String> = HashMap::new();
    let mut sink: Box<dyn Sink + '_> = match format {
        Format::Perfetto => Box::new(Perfetto::new(out, &program)?),
        Format::Folded => Box::new(Folded {
            out,
            stacks: HashMap::new(),
        }),
        Format::Csv => Box::new(Csv::new(out)?),
    };
    let mut exported = Exported::default();
    for record in reader {
        match record.map_err(trace_error)? {
            Record::Name(n) if n.kind == NameKind::Handler => {
                names.insert(n.id, n.name);
            }
            Record::Callback(c) => {
                let handler = names
                    .get(&c.handler)
                    .map_or_else(|| format!("handler {}", c.handler), Clone::clone);
                exported.flows += sink.callback(&c, &handler).map_err(io_error)?;
                exported.callbacks += 1;
            }
            _ => {}
        }
    }
    if exported.callbacks == 0 {
        return Err(Error::new(
            ErrorKind::Input,
            format!("{name} holds no callbacks, so there is nothing to export"),
        ));
    }
    sink.finish().map_err(io_error)?;
    Ok(exported)
}

/// How a color is named in exports: `default`, `key 17` (a key's color), or its hex value.
pub fn color_name(c: &CallbackRecord) -> String {
    if c.color == Color::DEFAULT.raw() {
        "default".to_owned()
    } else if let Some(k) = c.key.filter(|&k| Key(k).color().raw() == c.color) {
        format!("key {k}")
    } else {
        format!("color {:#x}", c.color)
    }
}

fn trace_error(e: hue_formats::trace::TraceError) -> Error {
    Error::with_source(ErrorKind::Input, e.to_string(), e)
}

fn io_error(e: std::io::Error) -> Error {
    Error::with_source(
        ErrorKind::Write,
        format!("writing the export failed: {e}"),
        e,
    )
}

trait Sink {
    /// Takes one callback; returns the flows it drew.
    fn callback(&mut self, c: &CallbackRecord, handler: &str) -> std::io::Result<u64>;
    /// Writes what is left and flushes.
    fn finish(&mut self) -> std::io::Result<()>;
}

fn origin(o: Origin) -> &'static str {
    match o {
        Origin::Callback => "callback",
        Origin::Outside => "outside",
        Origin::Io => "io",
        Origin::Timer => "timer",
        _ => "other",
    }
}

/// Nanoseconds as the trace-event format's microseconds.
fn us(ns: u64) -> String {
    format!("{}.{:03}", ns / 1000, ns % 1000)
}

fn json(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"?\"".to_owned())
}

struct Perfetto<'a, W: Write> {
    out: &'a mut W,
    workers: Vec<bool>,
    /// Recent callbacks: id → (worker).
    seen: HashMap<u64, u16>,
    order: VecDeque<u64>,
    /// Children whose parent was not seen yet: parent id → (child id, queued, worker,
    /// started).
    waiting: HashMap<u64, Vec<(u64, u64, u16, u64)>>,
    waiting_order: VecDeque<u64>,
}

/// The process that holds the workers' tracks, and the one that holds the waits.
const PID: u32 = 1;
const WAIT_PID: u32 = 2;

impl<'a, W: Write> Perfetto<'a, W> {
    fn new(out: &'a mut W, program: &str) -> Result<Perfetto<'a, W>> {
        let name = if program.is_empty() {
            "hue".to_owned()
        } else {
            format!("hue: {program}")
        };
        write!(
            out,
            "{{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n\
             {{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":{PID},\"tid\":0,\"args\":{{\"name\":{}}}}},\n\
             {{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":{WAIT_PID},\"tid\":0,\"args\":{{\"name\":\"waiting (for the color, for a worker)\"}}}}",
            json(&name)
        )
        .map_err(io_error)?;
        Ok(Perfetto {
            out,
            workers: Vec::new(),
            seen: HashMap::new(),
            order: VecDeque::new(),
            waiting: HashMap::new(),
            waiting_order: VecDeque::new(),
        })
    }

    /// A flow from the parent's slice (on its worker, when it queued the child) to the
    /// child's slice start.
    fn flow(
        &mut self,
        child: u64,
        queued: u64,
        parent_worker: u16,
        child_worker: u16,
        started: u64,
    ) -> std::io::Result<()> {
        write!(
            self.out,
            ",\n{{\"ph\":\"s\",\"name\":\"queued\",\"cat\":\"parent\",\"id\":\"{child:#x}\",\"pid\":{PID},\"tid\":{},\"ts\":{}}}\
             ,\n{{\"ph\":\"f\",\"bp\":\"e\",\"name\":\"queued\",\"cat\":\"parent\",\"id\":\"{child:#x}\",\"pid\":{PID},\"tid\":{},\"ts\":{}}}",
            parent_worker,
            us(queued),
            child_worker,
            us(started)
        )
    }
}

impl<W: Write> Sink for Perfetto<'_, W> {
    fn callback(&mut self, c: &CallbackRecord, handler: &str) -> std::io::Result<u64> {
        let w = usize::from(c.worker);
        if self.workers.len() <= w {
            self.workers.resize(w + 1, false);
        }
        if !self.workers[w] {
            self.workers[w] = true;
            write!(
                self.out,
                ",\n{{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":{PID},\"tid\":{w},\"args\":{{\"name\":\"worker {w}\"}}}}"
            )?;
        }
        let color = color_name(c);
        let serial = c.runnable.saturating_sub(c.queued);
        let worker_wait = c.started.saturating_sub(c.runnable.max(c.queued));
        write!(
            self.out,
            ",\n{{\"ph\":\"X\",\"name\":{},\"cat\":\"callback\",\"pid\":{PID},\"tid\":{w},\"ts\":{},\"dur\":{},\"args\":{{\"id\":\"{}\",\"handler\":{},\"color\":{},\"key\":{},\"parent\":{},\"origin\":\"{}\",\"serial_wait_ns\":{serial},\"worker_wait_ns\":{worker_wait}}}}}",
            json(handler),
            us(c.started),
            us(c.ended.saturating_sub(c.started)),
            c.id,
            json(handler),
            json(&color),
            c.key.map_or("null".to_owned(), |k| format!("\"{k}\"")),
            c.parent.map_or("null".to_owned(), |p| format!("\"{p}\"")),
            origin(c.origin),
        )?;
        // Waits as async slices: they overlap freely, so they cannot share a thread track.
        for (name, from, to) in [
            ("waiting for its color", c.queued, c.runnable),
            ("waiting for a worker", c.runnable.max(c.queued), c.started),
        ] {
            if to > from {
                write!(
                    self.out,
                    ",\n{{\"ph\":\"b\",\"name\":\"{name}\",\"cat\":\"wait\",\"id\":\"{id:#x}\",\"pid\":{WAIT_PID},\"tid\":0,\"ts\":{},\"args\":{{\"handler\":{},\"color\":{}}}}}\
                     ,\n{{\"ph\":\"e\",\"name\":\"{name}\",\"cat\":\"wait\",\"id\":\"{id:#x}\",\"pid\":{WAIT_PID},\"tid\":0,\"ts\":{}}}",
                    us(from),
                    json(handler),
                    json(&color),
                    us(to),
                    id = c.id,
                )?;
            }
        }
        let mut flows = 0;
        if let Some(p) = c.parent {
            if let Some(&pw) = self.seen.get(&p) {
                self.flow(c.id, c.queued, pw, c.worker, c.started)?;
                flows += 1;
            } else {
                self.waiting
                    .entry(p)
                    .or_default()
                    .push((c.id, c.queued, c.worker, c.started));
                self.waiting_order.push_back(p);
                if self.waiting_order.len() > FLOW_WINDOW
                    && let Some(old) = self.waiting_order.pop_front()
                {
                    self.waiting.remove(&old);
                }
            }
        }
        // This callback may be the parent of children already seen: their records came first.
        if let Some(children) = self.waiting.remove(&c.id) {
            for (child, queued, worker, started) in children {
                self.flow(child, queued, c.worker, worker, started)?;
                flows += 1;
            }
        }
        self.seen.insert(c.id, c.worker);
        self.order.push_back(c.id);
        if self.order.len() > FLOW_WINDOW
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        Ok(flows)
    }

    fn finish(&mut self) -> std::io::Result<()> {
        writeln!(self.out, "\n]}}")?;
        self.out.flush()
    }
}

/// Folded stacks are sums, written at the end.
struct Folded<'a, W: Write> {
    out: &'a mut W,
    stacks: HashMap<(String, String), u64>,
}

impl<W: Write> Sink for Folded<'_, W> {
    fn callback(&mut self, c: &CallbackRecord, handler: &str) -> std::io::Result<u64> {
        let mut color = color_name(c);
        if self.stacks.len() >= MAX_STACKS
            && !self
                .stacks
                .contains_key(&(color.clone(), handler.to_owned()))
        {
            color = "other colors".to_owned();
        }
        *self.stacks.entry((color, handler.to_owned())).or_default() +=
            c.ended.saturating_sub(c.started);
        Ok(0)
    }

    fn finish(&mut self) -> std::io::Result<()> {
        let mut lines: Vec<(String, u64)> = self
            .stacks
            .drain()
            .map(|((color, handler), ns)| {
                (format!("{};{}", fold_name(&color), fold_name(&handler)), ns)
            })
            .collect();
        lines.sort();
        for (stack, ns) in lines {
            writeln!(self.out, "{stack} {ns}")?;
        }
        self.out.flush()
    }
}

/// Folded stacks split frames on `;` and the count on the last space.
fn fold_name(s: &str) -> String {
    s.replace(';', ":").replace(' ', "_")
}

struct Csv<'a, W: Write> {
    out: &'a mut W,
}

impl<'a, W: Write> Csv<'a, W> {
    fn new(out: &'a mut W) -> Result<Csv<'a, W>> {
        writeln!(
            out,
            "id,parent,origin,handler,color,key,worker,queued_ns,runnable_ns,started_ns,ended_ns,cpu_ns"
        )
        .map_err(io_error)?;
        Ok(Csv { out })
    }
}

impl<W: Write> Sink for Csv<'_, W> {
    fn callback(&mut self, c: &CallbackRecord, handler: &str) -> std::io::Result<u64> {
        let opt = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
        writeln!(
            self.out,
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            c.id,
            opt(c.parent),
            origin(c.origin),
            crate::speedup::csv_field(handler),
            crate::speedup::csv_field(&color_name(c)),
            opt(c.key),
            c.worker,
            c.queued,
            c.runnable,
            c.started,
            c.ended,
            opt(c.cpu)
        )?;
        Ok(0)
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
