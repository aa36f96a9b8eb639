//! The numbers a view shows: the snapshots of the last second (or more, with long periods)
//! summed, so that a rate is steady and says over how long it was measured.

use std::collections::BTreeMap;

use hue_formats::telemetry::{HandlerSnapshot, MachineSnapshot, Snapshot, StateSnapshot};
use hue_profiler::MachineUse;

/// How much time a view sums at least: one second, so that rates are per second of real
/// activity, not of one short period.
pub const WINDOW_NS: u64 = 1_000_000_000;

/// One worker over the window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkerRow {
    /// Worker index.
    pub worker: u16,
    /// Time running callbacks.
    pub busy_ns: u64,
    /// Time asleep.
    pub parked_ns: u64,
    /// Time ready to run but waiting for a CPU (0 where the system does not say).
    pub cpu_wait_ns: u64,
    /// Thread CPU time.
    pub cpu_ns: u64,
    /// Callbacks run.
    pub callbacks: u64,
    /// Colors stolen.
    pub steals: u64,
    /// Time idle while another worker held a color with callbacks waiting; `None` where not
    /// measured (a replayed trace, an older program).
    pub serial_bound_ns: Option<u64>,
}

/// One color over the window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ColorRow {
    /// Raw color.
    pub color: u64,
    /// Callbacks run.
    pub callbacks: u64,
    /// Wall time running.
    pub busy_ns: u64,
    /// Time its callbacks waited for earlier callbacks of the color.
    pub serial_wait_ns: u64,
    /// Time its callbacks waited, once runnable, for a free worker.
    pub worker_wait_ns: u64,
    /// The handlers that ran in it.
    pub handlers: Vec<String>,
    /// The key whose color it is, for a by-key color.
    pub key: Option<u64>,
}

/// The sums of the snapshots of a window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Window {
    /// Start of the first period summed, ns from the program's start.
    pub start_ns: u64,
    /// End of the last.
    pub end_ns: u64,
    /// Time the summed periods cover (their lengths added).
    pub span_ns: u64,
    /// Periods summed.
    pub periods: usize,
    /// Per worker.
    pub workers: Vec<WorkerRow>,
    /// Per handler, by name.
    pub handlers: Vec<HandlerSnapshot>,
    /// Per color that was among a period's busiest ([`MAX_COLORS`](hue_formats::telemetry::MAX_COLORS) per period).
    pub colors: Vec<ColorRow>,
    /// Per state, by name.
    pub states: Vec<StateSnapshot>,
    /// Whether a period had more active colors than it listed (its quietest colors are not
    /// in `colors`).
    pub truncated: bool,
    /// Most colors active in one period of the window.
    pub active_colors: u64,
    /// Callbacks run.
    pub callbacks: u64,
    /// Contended state accesses.
    pub conflicts: u64,
    /// Panics.
    pub panics: u64,
    /// Trace records dropped so far (total, as of the last period).
    pub dropped_records: u64,
    /// Snapshots dropped for this viewer so far (total, as of the last period).
    pub dropped_snapshots: u64,
    /// The CPU the process and the machine used between two of the snapshots' machine
    /// samples (the last one before the window and the window's last, or the window's first
    /// and last), for `hue_profiler::MachineUse::speedup_bound`; `None` without two samples.
    pub machine: Option<MachineUse>,
}

impl Window {
    /// The window ending with `snaps[end]`: that snapshot and the ones before it, back to
    /// [`WINDOW_NS`] of periods.
    pub fn ending_at(snaps: &[Snapshot], end: usize) -> Window {
        if snaps.is_empty() {
            return Window::default();
        }
        let end = end.min(snaps.len() - 1);
        let mut start = end;
        let mut span = snaps[end].period_ns;
        while start > 0 && span < WINDOW_NS {
            start -= 1;
            span += snaps[start].period_ns;
        }
        let mut w = Window::of(&snaps[start..=end]);
        if let Some(before) = start.checked_sub(1).and_then(|i| snaps[i].machine) {
            w.machine = machine_use(Some(before), &snaps[start..=end]);
            w.add_workers_to_machine();
        }
        w
    }

    /// The sums of `snaps` (consecutive periods, oldest first).
    pub fn of(snaps: &[Snapshot]) -> Window {
        let mut w = Window {
            periods: snaps.len(),
            ..Window::default()
        };
        let (Some(first), Some(last)) = (snaps.first(), snaps.last()) else {
            return w;
        };
        w.start_ns = first.at_ns.saturating_sub(first.period_ns);
        w.end_ns = last.at_ns;
        w.machine = machine_use(None, snaps);
        w.dropped_records = last.dropped_records;
        w.dropped_snapshots = last.dropped_snapshots;
        let mut handlers: BTreeMap<&str, HandlerSnapshot> = BTreeMap::new();
        let mut colors: BTreeMap<u64, ColorRow> = BTreeMap::new();
        let mut states: BTreeMap<&str, StateSnapshot> = BTreeMap::new();
        for s in snaps {
            w.span_ns += s.period_ns;
            w.active_colors = w.active_colors.max(s.active_colors);
            w.truncated |= s.active_colors > s.colors.len() as u64;
            for k in &s.workers {
                let i = usize::from(k.worker);
                if i >= w.workers.len() {
                    w.workers.resize_with(i + 1, WorkerRow::default);
                }
                let t = &mut w.workers[i];
                t.worker = k.worker;
                t.busy_ns += k.busy_ns;
                t.parked_ns += k.parked_ns;
                t.cpu_wait_ns += k.cpu_wait_ns;
                t.cpu_ns += k.cpu_ns;
                t.callbacks += k.callbacks;
                t.steals += k.steals;
                if let Some(s) = k.serial_bound_ns {
                    *t.serial_bound_ns.get_or_insert(0) += s;
                }
            }
            for h in &s.handlers {
                let t = handlers.entry(&h.name).or_insert_with(|| HandlerSnapshot {
                    name: h.name.clone(),
                    ..HandlerSnapshot::default()
                });
                t.callbacks += h.callbacks;
                t.busy_ns += h.busy_ns;
                t.cpu_ns += h.cpu_ns;
                t.cpu_wall_ns += h.cpu_wall_ns;
                t.serial_wait_ns += h.serial_wait_ns;
                t.worker_wait_ns += h.worker_wait_ns;
                t.panics += h.panics;
                t.blocking |= h.blocking;
                t.durations.extend_from_slice(&h.durations);
                w.callbacks += h.callbacks;
                w.panics += h.panics;
            }
            for c in &s.colors {
                let t = colors.entry(c.color).or_insert_with(|| ColorRow {
                    color: c.color,
                    ..ColorRow::default()
                });
                t.callbacks += c.callbacks;
                t.busy_ns += c.busy_ns;
                t.serial_wait_ns += c.serial_wait_ns;
                t.worker_wait_ns += c.worker_wait_ns;
                for h in &c.handlers {
                    if !t.handlers.contains(h) {
                        t.handlers.push(h.clone());
                    }
                }
                if c.key.is_some() {
                    t.key = c.key;
                }
            }
            for st in &s.states {
                let t = states.entry(&st.name).or_insert_with(|| StateSnapshot {
                    name: st.name.clone(),
                    ..StateSnapshot::default()
                });
                t.accesses += st.accesses;
                t.conflicts += st.conflicts;
                t.wait_ns += st.wait_ns;
                t.keyed |= st.keyed;
                t.more_handlers |= st.more_handlers;
                for h in &st.handlers {
                    if !t.handlers.contains(h) {
                        t.handlers.push(h.clone());
                    }
                }
                w.conflicts += st.conflicts;
            }
        }
        w.handlers = handlers.into_values().collect();
        for h in &mut w.handlers {
            h.durations = merge(std::mem::take(&mut h.durations));
        }
        w.colors = colors.into_values().collect();
        for c in &mut w.colors {
            c.handlers.sort();
        }
        for s in states.values_mut() {
            s.handlers.sort();
        }
        w.states = states.into_values().collect();
        w.add_workers_to_machine();
        w
    }

    /// Puts the workers' CPU and wait for a CPU over the window into `machine`, for
    /// `MachineUse::cpu_held_workers_back` (the profiler's rule).
    fn add_workers_to_machine(&mut self) {
        if let Some(m) = &mut self.machine {
            let cpu: u64 = self.workers.iter().map(|k| k.cpu_ns).sum();
            m.workers_cpu_ns = cpu.min(m.process_cpu_ns);
            m.workers_cpu_wait_ns = Some(self.workers.iter().map(|k| k.cpu_wait_ns).sum());
        }
    }

    /// `count` per second of the window.
    pub fn per_sec(&self, count: u64) -> f64 {
        if self.span_ns == 0 {
            0.0
        } else {
            count as f64 * 1e9 / self.span_ns as f64
        }
    }

    /// `ns` as a share of one core over the window (1.0: one core all the time).
    pub fn of_a_core(&self, ns: u64) -> f64 {
        if self.span_ns == 0 {
            0.0
        } else {
            ns as f64 / self.span_ns as f64
        }
    }

    /// Time all handlers ran.
    pub fn busy_ns(&self) -> u64 {
        self.handlers.iter().map(|h| h.busy_ns).sum()
    }
}

/// The machine's use between `base` (else the first machine sample of `snaps`) and the last
/// machine sample of `snaps`, as the profiler's [`MachineUse`] holds a trace's, so that its
/// ceiling is computed by the one rule ([`MachineUse::speedup_bound`]).
fn machine_use(base: Option<MachineSnapshot>, snaps: &[Snapshot]) -> Option<MachineUse> {
    let last = snaps.iter().rev().find_map(|s| s.machine)?;
    let first = base.or_else(|| snaps.iter().find_map(|s| s.machine))?;
    if last.at_ns <= first.at_ns {
        return None;
    }
    let mut m = MachineUse::default();
    m.cores = last.cores;
    m.wall_ns = last.at_ns - first.at_ns;
    m.process_cpu_ns = last.process_cpu_ns.saturating_sub(first.process_cpu_ns);
    m.machine_cpu_ns = match (first.machine_cpu_ns, last.machine_cpu_ns) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    Some(m)
}

/// How busy the workers were in each snapshot: busy time over the workers' time, 0 to 1.
pub fn utilization(s: &Snapshot) -> f64 {
    let workers = s.workers.len().max(1) as f64;
    if s.period_ns == 0 {
        return 0.0;
    }
    let busy: u64 = s.workers.iter().map(|w| w.busy_ns).sum();
    (busy as f64 / (s.period_ns as f64 * workers)).min(1.0)
}

/// Histogram pairs (`[lower ns, count]`) with equal buckets added up, shortest first.
fn merge(mut pairs: Vec<[u64; 2]>) -> Vec<[u64; 2]> {
    pairs.sort_unstable_by_key(|p| p[0]);
    let mut out: Vec<[u64; 2]> = Vec::with_capacity(pairs.len());
    for [lo, n] in pairs {
        match out.last_mut() {
            Some(last) if last[0] == lo => last[1] += n,
            _ => out.push([lo, n]),
        }
    }
    out
}

/// The upper bound of the bucket holding the `q` quantile (0 to 1) of a merged histogram, in
/// ns: the true value is at most this, and at least 80% of it (buckets are log-linear, four
/// per power of two). `None` for an empty one.
pub fn quantile(pairs: &[[u64; 2]], q: f64) -> Option<u64> {
    use hue_formats::aggregate::Durations;
    let total: u64 = pairs.iter().map(|p| p[1]).sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for [lo, n] in pairs {
        seen += n;
        if seen >= rank {
            return Some(Durations::lower(Durations::bucket(*lo) + 1));
        }
    }
    None
}
