//! What a telemetry snapshot holds: the runtime's aggregates over one period.

use serde::{Deserialize, Serialize};

/// The runtime's state over one telemetry period, as sent to viewers.
///
/// Counts and times are for the period `[at_ns - period_ns, at_ns)` unless a field says
/// "total"; times are nanoseconds; `at_ns` counts from the runtime's start.
///
/// A field missing from a received snapshot takes its default (zero, empty, false), so a viewer
/// reads snapshots of servers older than itself (runtime/formats/TELEMETRY.md, "Versions").
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Snapshot {
    /// Increases by one per snapshot published; a gap means the viewer missed snapshots.
    pub seq: u64,
    /// End of the period.
    pub at_ns: u64,
    /// Length of the period.
    pub period_ns: u64,
    /// Per worker.
    pub workers: Vec<WorkerSnapshot>,
    /// Per handler that ran in the period.
    pub handlers: Vec<HandlerSnapshot>,
    /// The busiest colors of the period (at most [`MAX_COLORS`]), busiest first.
    pub colors: Vec<ColorSnapshot>,
    /// Colors that ran in the period, including those not listed in `colors`.
    pub active_colors: u64,
    /// Per `Shared`/`Keyed` state accessed in the period.
    pub states: Vec<StateSnapshot>,
    /// The CPU the whole process and the whole machine had used by the end of the period
    /// (totals since the runtime started, like the trace's machine samples: a viewer takes
    /// the difference of two to get the CPU used between them, and a missed snapshot loses
    /// nothing). `None` from servers that predate it.
    pub machine: Option<MachineSnapshot>,
    /// Trace records dropped because the writer fell behind (total).
    pub dropped_records: u64,
    /// Snapshots dropped for this viewer because it read too slowly (total). Set by the
    /// telemetry server for each viewer; whatever the publisher puts here is replaced.
    //
    // Keep this field last: the server patches it into each viewer's copy of the serialized
    // snapshot (`wire::Frame`).
    pub dropped_snapshots: u64,
}

/// How many colors a snapshot lists at most.
pub const MAX_COLORS: usize = 32;

/// One worker over the period.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerSnapshot {
    /// Worker index.
    pub worker: u16,
    /// Time running callbacks.
    pub busy_ns: u64,
    /// Time asleep.
    pub parked_ns: u64,
    /// Thread CPU time.
    pub cpu_ns: u64,
    /// Time the worker's thread was ready to run but waited for a CPU (0 where the system
    /// does not say, and from servers that predate it).
    pub cpu_wait_ns: u64,
    /// Callbacks run.
    pub callbacks: u64,
    /// Colors stolen.
    pub steals: u64,
    /// Time the worker was idle (looking for work or asleep) while another worker owned a
    /// color with callbacks waiting behind the one it ran: work was there, but its color
    /// kept it from this worker (TELEMETRY.md, "Serialization-bound time"). `None` where
    /// not measured (servers that predate it, replayed traces).
    pub serial_bound_ns: Option<u64>,
}

/// The CPU used by the traced process and by the whole machine, totals since the runtime
/// started (what a trace's machine sample holds, FORMAT.md chunk 0x81).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MachineSnapshot {
    /// When the sample was taken, ns from the runtime's start.
    pub at_ns: u64,
    /// CPU time used by every thread of the process (workers, the collector, anything else
    /// the program runs: a load generator, say).
    pub process_cpu_ns: u64,
    /// CPU time used by every process on the machine, summed over the cores; `None` where the
    /// system does not say.
    pub machine_cpu_ns: Option<u64>,
    /// Cores online.
    pub cores: u16,
}

impl From<&crate::trace::MachineSample> for MachineSnapshot {
    fn from(m: &crate::trace::MachineSample) -> MachineSnapshot {
        MachineSnapshot {
            at_ns: m.at,
            process_cpu_ns: m.process_cpu,
            machine_cpu_ns: m.machine_cpu,
            cores: m.cores,
        }
    }
}

/// One handler over the period.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HandlerSnapshot {
    /// Handler name.
    pub name: String,
    /// Callbacks run.
    pub callbacks: u64,
    /// Wall time running.
    pub busy_ns: u64,
    /// CPU time, where measured (long-running handlers only).
    pub cpu_ns: u64,
    /// Wall time of the callbacks whose CPU time was measured (to form a CPU/wall ratio).
    pub cpu_wall_ns: u64,
    /// Time its callbacks waited for earlier callbacks of their color.
    pub serial_wait_ns: u64,
    /// Time its callbacks waited for a free worker.
    pub worker_wait_ns: u64,
    /// Panics.
    pub panics: u64,
    /// Whether its callbacks were seen blocking (mostly off the CPU).
    pub blocking: bool,
    /// Its callbacks' durations as `[lower bound ns, count]` pairs of log-linear buckets (four
    /// per power of two: a bucket ends where the next begins, at most 25% above its lower
    /// bound), non-empty buckets only, shortest first. Empty from servers that predate it.
    pub durations: Vec<[u64; 2]>,
}

/// One color over the period.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ColorSnapshot {
    /// Raw color (0 is the default color).
    pub color: u64,
    /// Callbacks run.
    pub callbacks: u64,
    /// Wall time running.
    pub busy_ns: u64,
    /// Time its callbacks waited for earlier callbacks of the color.
    pub serial_wait_ns: u64,
    /// Time its callbacks waited, once runnable, for a free worker (0 from servers that
    /// predate it). With `serial_wait_ns`, over the period's length: how many of its callbacks
    /// were queued and not yet started, on average (Little's law).
    pub worker_wait_ns: u64,
    /// The handlers that ran in it (empty from servers that predate it).
    pub handlers: Vec<String>,
    /// Whether handlers beyond the program's 63rd also ran in it (not named in `handlers`).
    pub more_handlers: bool,
    /// The key whose color it is (`Key::color`), if its callbacks carried that key: a by-key
    /// color. `None` for other colors and from servers that predate it.
    pub key: Option<u64>,
}

/// One piece of shared state over the period.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StateSnapshot {
    /// State name.
    pub name: String,
    /// Accesses.
    pub accesses: u64,
    /// Accesses that found it held by a callback running in parallel.
    pub conflicts: u64,
    /// Time spent waiting for it.
    pub wait_ns: u64,
    /// The handlers that accessed it (empty from servers that predate it; `?` for an access
    /// whose callback was not known).
    pub handlers: Vec<String>,
    /// Whether handlers beyond the program's 63rd also accessed it (not named in `handlers`).
    pub more_handlers: bool,
    /// Whether it is accessed by key (`Keyed` state).
    pub keyed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_from_a_server_that_predates_the_machine_and_serialization_fields_still_reads() {
        // A body as servers sent it before `machine` and `serial_bound_ns` existed.
        let old = r#"{"seq":3,"at_ns":300,"period_ns":100,
            "workers":[{"worker":0,"busy_ns":60,"parked_ns":40,"cpu_ns":59,"cpu_wait_ns":1,
                        "callbacks":7,"steals":0}],
            "handlers":[],"colors":[],"active_colors":0,"states":[],
            "dropped_records":0,"dropped_snapshots":0}"#;
        let s: Snapshot = serde_json::from_str(old).unwrap();
        assert_eq!(s.machine, None);
        assert_eq!(s.workers[0].serial_bound_ns, None);
        assert_eq!(s.workers[0].busy_ns, 60);
        // And a new one reads back whole.
        let mut new = s.clone();
        new.machine = Some(MachineSnapshot {
            at_ns: 300,
            process_cpu_ns: 250,
            machine_cpu_ns: None,
            cores: 2,
        });
        new.workers[0].serial_bound_ns = Some(30);
        let json = serde_json::to_string(&new).unwrap();
        assert_eq!(serde_json::from_str::<Snapshot>(&json).unwrap(), new);
    }
}
