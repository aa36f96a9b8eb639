//! Text output: the aligned tables of `hue stats` and the report of `hue suggest`.
//!
//! Everything here is a pure function from the model to a `String`, so tests compare text.

use std::fmt::Write as _;

use hue_formats::Rule;

use hue_profiler::{Class, ColorStats, MachineUse, Profile, Report};

/// Cell alignment.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

/// One table: a header row and rows of cells, printed with columns aligned.
struct Table {
    header: Vec<&'static str>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table whose first column is left-aligned and the others right-aligned.
    fn new(header: &[&'static str]) -> Table {
        let align = (0..header.len())
            .map(|i| if i == 0 { Align::Left } else { Align::Right })
            .collect();
        Table {
            header: header.to_vec(),
            align,
            rows: Vec::new(),
        }
    }

    fn left(mut self, col: usize) -> Table {
        self.align[col] = Align::Left;
        self
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self, out: &mut String) {
        let n = self.header.len();
        let mut width: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let line = |cells: &mut dyn Iterator<Item = &str>, out: &mut String| {
            let mut s = String::new();
            for (i, c) in cells.enumerate().take(n) {
                if i > 0 {
                    s.push_str("  ");
                }
                let pad = width[i] - c.chars().count();
                match self.align[i] {
                    Align::Left => {
                        s.push_str(c);
                        if i + 1 < n {
                            s.extend(std::iter::repeat_n(' ', pad));
                        }
                    }
                    Align::Right => {
                        s.extend(std::iter::repeat_n(' ', pad));
                        s.push_str(c);
                    }
                }
            }
            out.push_str(s.trim_end());
            out.push('\n');
        };
        line(&mut self.header.iter().copied(), out);
        for r in &self.rows {
            line(&mut r.iter().map(String::as_str), out);
        }
    }
}

/// A duration: `850 ns`, `12.3 µs`, `4.56 ms`, `1.23 s`.
pub use hue_profiler::duration;

pub(crate) fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".to_owned()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

pub(crate) fn count(n: u64) -> String {
    n.to_string()
}

pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// How a color is shown: `default`, `key 17`, `group "db"`, or its hex value.
fn color_label(c: &ColorStats, groups: &[(String, u64)]) -> String {
    if c.color == 0 {
        return "default".to_owned();
    }
    if let Some(k) = c.key {
        return format!("key {k}");
    }
    if let Some((g, _)) = groups.iter().find(|(_, raw)| *raw == c.color) {
        return format!("group {g:?}");
    }
    format!("{:#x}", c.color)
}

/// The header lines every output starts with.
fn heading(p: &Profile, out: &mut String) {
    let program = if p.program.is_empty() {
        String::new()
    } else {
        format!(": {}", p.program)
    };
    let _ = writeln!(
        out,
        "{}{program} ({}), {}, {}",
        p.trace,
        plural(u64::from(p.workers), "worker", "workers"),
        duration(p.totals.duration()),
        plural(p.totals.callbacks, "callback", "callbacks"),
    );
    let r = &p.reading;
    let state = match &r.stopped {
        None if r.complete => "complete".to_owned(),
        None => "not read to the end".to_owned(),
        Some(why) => format!("stopped early: {why}; the records before were analysed"),
    };
    let _ = writeln!(
        out,
        "read {} in {}, {} bytes; {state}",
        plural(r.records, "record", "records"),
        plural(r.chunks, "chunk", "chunks"),
        r.bytes
    );
}

/// `hue stats`: tables per handler, color (the `top` busiest), worker and state, the
/// timeline, the runtime's costs, and notes.
pub fn stats(p: &Profile, top: usize) -> String {
    let mut out = String::new();
    heading(p, &mut out);
    if p.policy_unreadable.is_some() {
        out.push_str("policy: (unreadable)\n");
    } else if p.policy.is_empty() {
        out.push_str("policy: none\n");
    } else {
        let rules: Vec<String> = p
            .policy
            .rules()
            .map(|(h, r)| format!("{h} = {}", r.to_toml()))
            .collect();
        let _ = writeln!(out, "policy: {}", rules.join(", "));
    }
    if let Some(m) = &p.machine {
        machine_line(m, &mut out);
    }
    if p.totals.callbacks == 0 {
        out.push_str("\nThe trace holds no callbacks: nothing to show.\n");
        notes(p, &mut out);
        return out;
    }
    let total = p.totals.busy;

    out.push_str("\nHandlers\n");
    let mut t = Table::new(&[
        "handler",
        "calls",
        "busy",
        "share",
        "mean",
        "p50",
        "p99",
        "max",
        "serial wait",
        "worker wait",
        "cpu/wall",
        "coloring",
        "conflicts",
        "blocking",
        "panics",
    ])
    .left(11);
    for h in &p.handlers {
        t.row(vec![
            h.name.clone(),
            count(h.callbacks),
            duration(h.busy),
            pct(h.busy, total),
            duration(h.mean()),
            duration(h.durations.p50),
            duration(h.durations.p99),
            duration(h.durations.max),
            duration(h.serial_wait),
            duration(h.worker_wait),
            h.cpu_ratio()
                .map_or_else(|| "-".to_owned(), |r| format!("{:.2}", r)),
            class_label(Class::recorded(h)),
            count(h.conflicts),
            count(h.blocking),
            count(h.panics),
        ]);
    }
    t.render(&mut out);

    let groups: Vec<(String, u64)> = p
        .policy
        .rules()
        .filter_map(|(_, r)| match r {
            Rule::Group(g) => Some((g.clone(), Rule::group_color(g).raw())),
            _ => None,
        })
        .collect();
    let tracked = p.colors.len() as u64 + p.other_colors.colors;
    let _ = writeln!(
        out,
        "\nColors (the {} busiest of {})",
        top.min(p.colors.len()),
        tracked
    );
    let mut t = Table::new(&[
        "color",
        "calls",
        "busy",
        "share",
        "serial wait",
        "worker wait",
        "handlers",
    ])
    .left(6);
    for c in p.colors.iter().take(top) {
        let mut hs = c.handlers.join(", ");
        if c.more_handlers {
            hs.push_str(", ...");
        }
        t.row(vec![
            color_label(c, &groups),
            count(c.callbacks),
            duration(c.busy),
            pct(c.busy, total),
            duration(c.serial_wait),
            duration(c.worker_wait),
            hs,
        ]);
    }
    let rest: Vec<&ColorStats> = p.colors.iter().skip(top).collect();
    let o = &p.other_colors;
    let rest_n = rest.len() as u64 + o.colors;
    if rest_n > 0 {
        let calls: u64 = rest.iter().map(|c| c.callbacks).sum::<u64>() + o.callbacks;
        let busy: u64 = rest.iter().map(|c| c.busy).sum::<u64>() + o.busy;
        let serial: u64 = rest.iter().map(|c| c.serial_wait).sum::<u64>() + o.serial_wait;
        let worker: u64 = rest.iter().map(|c| c.worker_wait).sum();
        t.row(vec![
            format!("({} more)", rest_n),
            count(calls),
            duration(busy),
            pct(busy, total),
            duration(serial),
            duration(worker),
            String::new(),
        ]);
    }
    t.render(&mut out);

    out.push_str("\nWorkers\n");
    let mut t = Table::new(&[
        "worker",
        "calls",
        "busy",
        "busy/trace",
        "parked",
        "cpu/wall",
        "steals",
        "dropped",
    ]);
    let span = p.totals.duration();
    for w in &p.worker_stats {
        t.row(vec![
            w.worker.to_string(),
            count(w.callbacks),
            duration(w.busy),
            pct(w.busy, span),
            if w.sampled > 0 {
                pct(w.parked, w.sampled)
            } else {
                "-".to_owned()
            },
            if w.sampled > 0 {
                format!("{:.2}", w.cpu as f64 / w.sampled as f64)
            } else {
                "-".to_owned()
            },
            count(w.steals),
            count(w.dropped),
        ]);
    }
    t.render(&mut out);

    if !p.states.is_empty() {
        out.push_str("\nStates\n");
        let mut t = Table::new(&[
            "state",
            "kind",
            "accesses",
            "writes",
            "held",
            "wait",
            "conflicts",
            "handlers",
        ])
        .left(1)
        .left(7);
        for s in &p.states {
            t.row(vec![
                s.name.clone(),
                if s.keyed { "keyed" } else { "shared" }.to_owned(),
                count(s.accesses),
                count(s.writes),
                duration(s.held),
                duration(s.wait),
                count(s.conflicts),
                s.handlers.join(", "),
            ]);
        }
        t.render(&mut out);
    }

    timeline(p, &mut out);

    let o = &p.overhead;
    let _ = writeln!(
        out,
        "\nRuntime costs: {} per callback (mean of {} gaps on busy workers), {} per hand-off \
         (mean of {} waits for an idle worker)",
        duration(o.per_callback),
        o.per_callback_samples,
        duration(o.handoff),
        o.handoff_samples
    );
    notes(p, &mut out);
    out
}

fn class_label(c: Class) -> String {
    match c {
        Class::Single(0) => "default".to_owned(),
        Class::Single(c) => format!("{c:#x}"),
        Class::PerKey => "by key".to_owned(),
        Class::Fresh => "fresh".to_owned(),
        Class::Mixed => "mixed".to_owned(),
    }
}

/// At most 10 rows of the timeline, merging its intervals.
fn timeline(p: &Profile, out: &mut String) {
    let bins: Vec<_> = p.intervals.iter().filter(|b| b.callbacks > 0).collect();
    let (Some(first), Some(last)) = (bins.first(), bins.last()) else {
        return;
    };
    let width = p.intervals[0].end - p.intervals[0].start;
    let n = ((last.end - first.start) / width) as usize;
    let per_row = n.div_ceil(10).max(1);
    let _ = writeln!(
        out,
        "\nTimeline ({} per row)",
        duration(width * per_row as u64)
    );
    let mut t = Table::new(&[
        "from",
        "calls",
        "busy",
        "busy/time",
        "serial wait",
        "conflicts",
    ]);
    let start_i = (first.start / width) as usize;
    let end_i = (last.end / width) as usize;
    let mut i = start_i;
    while i < end_i {
        let group = &p.intervals[i..(i + per_row).min(end_i)];
        let (calls, busy, serial, conflicts) = group.iter().fold((0, 0, 0, 0), |a, b| {
            (
                a.0 + b.callbacks,
                a.1 + b.busy,
                a.2 + b.serial_wait,
                a.3 + b.conflicts,
            )
        });
        let span = width * group.len() as u64;
        t.row(vec![
            duration(group[0].start),
            count(calls),
            duration(busy),
            pct(busy, span),
            duration(serial),
            count(conflicts),
        ]);
        i += per_row;
    }
    t.render(out);
}

fn notes(p: &Profile, out: &mut String) {
    let mut notes = Vec::new();
    let t = &p.totals;
    if t.dropped > 0 {
        notes.push(format!(
            "the workers dropped {} records: the trace writer fell behind",
            t.dropped
        ));
    }
    if t.orphan_accesses > 0 {
        notes.push(format!(
            "{} state accesses belong to callbacks whose records are missing",
            t.orphan_accesses
        ));
    }
    if t.conflicts > 0 {
        notes.push(format!(
            "{}: handlers that share state ran in parallel",
            plural(
                t.conflicts,
                "contended access (conflict)",
                "contended accesses (conflicts)"
            )
        ));
        for s in p.states.iter().filter(|s| s.conflicts > 0) {
            for (h, holder, n) in s.conflict_pairs.iter().take(3) {
                notes.push(format!(
                    "on `{}`, `{h}` waited for `{holder}` {}",
                    s.name,
                    plural(*n, "time", "times")
                ));
            }
        }
    }
    for h in p.handlers.iter().filter(|h| h.blocking > 0) {
        notes.push(format!(
            "`{}` blocked (mostly off the CPU) in {} of its callbacks: it holds a worker while it waits",
            h.name, h.blocking
        ));
    }
    for h in p.handlers.iter().filter(|h| h.panics > 0) {
        notes.push(format!(
            "`{}` panicked {}{}",
            h.name,
            plural(h.panics, "time", "times"),
            h.panic_message
                .as_ref()
                .map(|m| format!(" (last: {m})"))
                .unwrap_or_default()
        ));
    }
    if !notes.is_empty() {
        out.push_str("\nNotes\n");
        for n in notes {
            let _ = writeln!(out, "- {n}");
        }
    }
}

/// The validated figure for the traced machine with every suggestion, what sets it and the
/// measured error, if the trace says how many cores its machine had (one line, no newline;
/// the text and the HTML report print the same).
pub(crate) fn traced_machine(r: &Report) -> Option<String> {
    let (v, tc) = (r.validated?, r.traced_cores?);
    let by = if r.validated_by_machine {
        "the machine's room (free cores over the cores the process used), which is below the simulator's figure"
    } else {
        "the simulator, below the machine's room"
    };
    let clients = r.validated_if_clients.map_or_else(String::new, |c| {
        format!(" ({c:.2}x if the other processes are its clients)")
    });
    Some(format!(
        "On the traced machine ({tc} cores), with every suggestion: {v:.2}x the traced run's throughput{clients}, set by {by}; {}.",
        hue_profiler::MEASURED_ERROR
    ))
}

/// The warning that the traced machine leaves little to gain: what its figure with every
/// suggestion (the lower, if the other processes are the program's clients) is within the
/// predictions' measured overestimate; where it is under what recoloring was measured to cost
/// a server with no core to spare ([`Report::no_room`]), that there is nothing to gain and
/// what the advised policy keeps. `None` otherwise or without that figure.
pub(crate) fn little_to_gain(r: &Report) -> Option<String> {
    if let Some(v) = r.no_room {
        let clients = if r.validated_if_clients.is_some() {
            " (its other processes counted as its clients)"
        } else {
            ""
        };
        let fixes = if r.suggestions.iter().any(|s| s.fixes.is_some()) {
            ", with the safety fixes alone"
        } else {
            ""
        };
        return Some(format!(
            "Nothing to gain on the traced machine: with every suggestion its free cores allow at most {v:.2}x{clients}, and recoloring took 10-11% of a server's throughput where no core was free (`hue serve` under `wrk` on the same 2 cores: 0.94x-0.96x of serial with room for 1.06x; BENCHMARKS.md), so hue advises it there only above {:.2}x. The advised policy (--write-policy) keeps the coloring the trace ran under{fixes}; the suggestions are for a machine with free cores: rank them for one with --cores N.",
            1.0 + hue_profiler::RECOLORING_TOLL
        ));
    }
    let low = r.validated_if_clients.or(r.validated)?;
    (low < 1.0 + hue_profiler::MEASURED_OVERESTIMATE).then(|| {
        format!(
            "Little to gain on the traced machine: {low:.2}x is within the predictions' measured error there (up to +{:.0}%), so following these suggestions on it may gain nothing; measure before keeping the policy. A machine with more free cores gains what the curve says.",
            hue_profiler::MEASURED_OVERESTIMATE * 100.0
        )
    })
}

/// What the traced machine had room for (see `machine.rs`). Its averages are over the time
/// the callbacks ran; where the machine samples cover much more (a server left idle before
/// its load came or after it left), the line says so.
pub(crate) fn machine_line(m: &MachineUse, out: &mut String) {
    let others = m
        .other_process_cores()
        .map_or_else(|| "not recorded".to_owned(), |o| format!("{o:.2} cores"));
    let over = if m.samples_ns > m.wall_ns.saturating_mul(3) / 2 {
        format!(
            ", while its callbacks ran ({} of the {} its samples cover),",
            duration(m.wall_ns),
            duration(m.samples_ns)
        )
    } else {
        String::new()
    };
    let _ = write!(
        out,
        "On the traced machine ({} cores){over} the process used {:.2} cores ({:.2} in its workers, {:.2} in its other threads) and other processes {others}",
        m.cores,
        m.process_cores(),
        m.worker_cores(),
        m.rest_of_process_cores(),
    );
    match m.speedup_bound() {
        // Under half a core: the process mostly waited (for its clients, its timers), and the
        // machine's cores were not what held its throughput.
        Some(_) if m.mostly_idle() => {
            let _ = writeln!(
                out,
                ": it was mostly idle, so the machine was not what held its throughput back."
            );
        }
        Some(b) => {
            let _ = write!(
                out,
                ": there, throughput can grow at most {b:.2}x over the traced run, whatever the coloring"
            );
            match m.speedup_bound_if_clients() {
                Some(c) if c < b => {
                    let _ = writeln!(
                        out,
                        "; at most {c:.2}x if the other processes are its clients (a load generator on the same machine: their CPU grows with its throughput, so together they can use at most all {} cores).",
                        m.cores
                    );
                }
                _ => out.push_str(
                    ".
",
                ),
            }
        }
        None => out.push_str(".\n"),
    }
    if let Some(line) = cpu_wait_line(m) {
        out.push_str(&line);
    }
}

/// The line that says how long the workers waited for a CPU, and when that was the machine
/// holding them back ([`MachineUse::cpu_held_workers_back`]); `None` if not recorded.
pub fn cpu_wait_line(m: &MachineUse) -> Option<String> {
    let share = m.workers_cpu_wait_share()?;
    let mut line = format!(
        "Its workers were ready to run but waited for a CPU {:.1}% of that time",
        share * 100.0
    );
    if m.cpu_held_workers_back() {
        line.push_str(": the machine's cores, not the colors, held them back (more threads wanted to run than it had cores), so more workers will not make this run faster there.\n");
    } else {
        line.push_str(".\n");
    }
    Some(line)
}

/// `hue suggest`: the suggestions, best first, with their evidence and rules.
pub fn suggestions(r: &Report) -> String {
    let mut out = String::new();
    let program = if r.program.is_empty() {
        String::new()
    } else {
        format!(": {}", r.program)
    };
    let _ = writeln!(
        out,
        "{}{program} ({}), {}",
        r.trace,
        plural(u64::from(r.workers), "worker", "workers"),
        plural(r.callbacks, "callback", "callbacks")
    );
    let _ = writeln!(out, "Note: {}.", hue_profiler::INVISIBLE_STATE);
    if let Some(sample) = &r.sample {
        let _ = writeln!(out, "{}", sample.sentence());
    }
    let _ = writeln!(
        out,
        "Predicted speedup by cores (the simulator: work / predicted time, with {} per callback and {} per color taken, burdened with {} per hand-off{}; plain and bound in brackets):",
        duration(r.overhead.per_callback),
        duration(r.color_cost),
        duration(r.handoff),
        if r.handoff_from_trace {
            ""
        } else {
            " (this trace shows no hand-offs; the color_cost bench found none beyond a color's own cost)"
        }
    );
    let mut t = Table::new(&["cores", "as recorded", "with all suggestions", "held by"]).left(3);
    let mut limits: Vec<hue_profiler::Limit> = Vec::new();
    for c in &r.curve {
        let p = c.all.as_ref().unwrap_or(&c.recorded);
        let held = if p.bound_binds() {
            limits.push(p.limit());
            p.limit().name().to_owned()
        } else {
            "-".to_owned()
        };
        let mark = if Some(c.cores) == r.traced_cores {
            " (traced machine)"
        } else {
            ""
        };
        t.row(vec![
            format!("{}{mark}", c.cores),
            format!(
                "{:.2}x ({:.2}x, {:.2}x)",
                c.recorded.burdened, c.recorded.speedup, c.recorded.bound
            ),
            c.all.as_ref().map_or_else(
                || "-".to_owned(),
                |a| format!("{:.2}x ({:.2}x, {:.2}x)", a.burdened, a.speedup, a.bound),
            ),
            held,
        ]);
    }
    out.push_str("  ");
    let mut table = String::new();
    t.render(&mut table);
    out.push_str(&table.replace('\n', "\n  "));
    out.truncate(out.trim_end_matches(' ').len());
    for s in &r.suggestions {
        if s.after.bound_binds() {
            limits.push(s.after.limit());
        }
    }
    limits.sort_by_key(|l| l.name());
    limits.dedup();
    for l in limits {
        let _ = writeln!(out, "  held by {}.", l.describe());
    }
    match traced_machine(r) {
        Some(line) => {
            out.push_str(&line);
            out.push('\n');
            if let Some(line) = little_to_gain(r) {
                out.push_str(&line);
                out.push('\n');
            }
            out.push_str("Above the traced machine's cores the curve is the simulator alone, on free cores: checked against runs up to 16 workers only where handlers wait instead of computing (the error above).\n");
        }
        None => {
            let _ = writeln!(
                out,
                "The curve is the simulator alone, on free cores; {}.",
                hue_profiler::MEASURED_ERROR
            );
        }
    }
    if let Some(m) = &r.machine {
        machine_line(m, &mut out);
    }
    if !r.unknown_handlers.is_empty() {
        let _ = writeln!(
            out,
            "Unknown: {} named but never ran in this trace: no evidence about them, so nothing here says they are safe to recolor.",
            hue_profiler::quoted_list(&r.unknown_handlers)
        );
    }
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    if r.suggestions.is_empty() {
        out.push_str(
            "\nNo suggestions: no hot serialized handler can be recolored safely to any gain.\n",
        );
    }
    for s in &r.suggestions {
        let a = &s.assessment;
        let held = if s.after.bound_binds() {
            format!("; held by {}", s.after.limit().name())
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "\n{}. {}: {}. {:.2}x → {:.2}x at {} cores (+{:.2}x; plain {:.2}x → {:.2}x){held}",
            s.rank,
            s.handlers.join(", "),
            a.verdict.name(),
            s.before.burdened,
            s.after.burdened,
            r.cores,
            s.gain,
            s.before.speedup,
            s.after.speedup
        );
        if let Some(fix) = &s.fixes {
            let _ = writeln!(out, "   a safety fix: {fix}");
        }
        let _ = writeln!(
            out,
            "   {:.1}% of the work; waited for its color {} per call on average ({} calls)",
            s.share * 100.0,
            duration(s.serial_wait.checked_div(s.calls).unwrap_or(0)),
            s.calls
        );
        if let Some(b) = &s.blocking {
            let cpu = b.cpu_per_wall.map_or_else(
                || "CPU not measured".to_owned(),
                |c| format!("{c:.2} CPU per wall second"),
            );
            let _ = writeln!(
                out,
                "   blocks: `{}` is mostly off the CPU ({cpu}; flagged blocking in {} of {} calls); coloring it parallel ties up a worker per call, so the gain above holds only with as many workers as concurrent blocking calls; move the blocking call off the runtime",
                b.handler, b.blocked_calls, b.calls
            );
        }
        for e in &a.evidence {
            let _ = writeln!(out, "   - {e}");
        }
        let rules: Vec<String> = a
            .rules
            .iter()
            .map(|(h, rule)| format!("{h} = {}", rule.to_toml()))
            .collect();
        let _ = writeln!(out, "   rules: {}", rules.join(", "));
    }
    if !r.not_suggested.is_empty() {
        out.push_str("\nNot suggested\n");
        for n in &r.not_suggested {
            let _ = writeln!(
                out,
                "- {} ({:.1}% of the work, {}): {}",
                n.handler,
                n.share * 100.0,
                n.verdict,
                n.reason
            );
        }
    }
    if !r.suggestions.is_empty() {
        out.push_str(if r.advised == r.policy {
            "\nPolicy with every suggestion (write it with --write-policy FILE):\n"
        } else {
            "\nPolicy with every suggestion, for a machine with free cores (--write-policy FILE writes the advised policy, with these rules as comments):\n"
        });
        for line in r.policy.to_toml().lines() {
            if line.is_empty() {
                out.push('\n');
            } else {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    out
}
