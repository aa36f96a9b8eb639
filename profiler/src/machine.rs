//! What the machine gave the traced process: the bound no number of workers can pass there.
//!
//! The simulator predicts a run on N workers as if each had a core of its own and nothing
//! else ran. A trace taken on a small machine shared with other work (a load generator in
//! the same process, other processes) says otherwise, and its machine samples (FORMAT.md,
//! chunk 0x81) measure how much: the CPU the whole process used, the part of it its workers
//! used, and what every other process used, over the same wall time.
//!
//! The model: the process's CPU grows with its throughput (a load generator or a sidecar
//! does work per request, as the workers do), other processes' CPU stays as it was. On the
//! traced machine the process can then use at most `cores − others` cores, so its throughput
//! can grow at most by `(cores − others) / process cores` over the traced run, whatever the
//! workers and colors allow. On another machine this bound does not apply.

use serde::Serialize;

/// A wait for a CPU of this share of the workers' ready time or more says the machine was
/// oversubscribed.
pub const OVERSUBSCRIBED_WAIT: f64 = 0.10;

/// Below this many cores on average the process counts as mostly idle (it waited for its
/// clients, its timers): the machine's cores were not what held its throughput, and no machine
/// bound is worth stating.
pub const IDLE_PROCESS_CORES: f64 = 0.5;

/// CPU use over the traced run, from the trace's machine and worker samples.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct MachineUse {
    /// Cores online on the traced machine.
    pub cores: u16,
    /// Wall time the averages are taken over, ns: the machine samples around the callbacks'
    /// time, from the last sample before the first callback to the first after the last.
    pub wall_ns: u64,
    /// Wall time all the machine samples cover, from the trace's start, ns (more than
    /// [`wall_ns`](Self::wall_ns) where the program idled before or after its callbacks).
    pub samples_ns: u64,
    /// CPU time of the whole process, ns.
    pub process_cpu_ns: u64,
    /// CPU time of the runtime's workers (from the worker samples), ns.
    pub workers_cpu_ns: u64,
    /// CPU time of every process on the machine, ns; `None` where the system did not say.
    pub machine_cpu_ns: Option<u64>,
    /// Time the workers were ready to run but waited for a CPU, summed over the workers, ns;
    /// `None` where the system did not say (and in older traces).
    pub workers_cpu_wait_ns: Option<u64>,
}

impl MachineUse {
    fn per_wall(&self, ns: u64) -> f64 {
        if self.wall_ns == 0 {
            0.0
        } else {
            ns as f64 / self.wall_ns as f64
        }
    }

    /// Cores the whole process used on average.
    pub fn process_cores(&self) -> f64 {
        self.per_wall(self.process_cpu_ns)
    }

    /// Cores the workers used on average.
    pub fn worker_cores(&self) -> f64 {
        self.per_wall(self.workers_cpu_ns)
    }

    /// Cores the rest of the process used (other threads: a load generator, the trace writer).
    pub fn rest_of_process_cores(&self) -> f64 {
        self.per_wall(self.process_cpu_ns.saturating_sub(self.workers_cpu_ns))
    }

    /// Cores other processes used on average, if the machine's CPU was recorded.
    pub fn other_process_cores(&self) -> Option<f64> {
        self.machine_cpu_ns
            .map(|m| self.per_wall(m.saturating_sub(self.process_cpu_ns)))
    }

    /// Of the time the workers were ready to run (running or waiting for a CPU), the share
    /// they waited: how much the machine's cores, not the colors, held them back. `None` if
    /// not recorded or the workers never ran.
    pub fn workers_cpu_wait_share(&self) -> Option<f64> {
        let wait = self.workers_cpu_wait_ns?;
        let ready = wait + self.workers_cpu_ns;
        (ready > 0).then(|| wait as f64 / ready as f64)
    }

    /// Whether the workers waited for a CPU so much of their ready time
    /// (`OVERSUBSCRIBED_WAIT`, 10%, or more) that the machine's cores, not the colors, held them
    /// back.
    pub fn cpu_held_workers_back(&self) -> bool {
        self.workers_cpu_wait_share()
            .is_some_and(|s| s >= OVERSUBSCRIBED_WAIT)
    }

    /// Whether the process used under [`IDLE_PROCESS_CORES`] on average: mostly idle.
    pub fn mostly_idle(&self) -> bool {
        self.process_cores() < IDLE_PROCESS_CORES
    }

    /// The most the traced program's throughput can grow on the traced machine: the cores
    /// left by other processes over the cores the process used. `None` without enough data
    /// (no samples, no CPU used).
    pub fn speedup_bound(&self) -> Option<f64> {
        let used = self.process_cores();
        if self.cores == 0 || self.wall_ns == 0 || used <= 0.0 {
            return None;
        }
        let free = (self.cores as f64 - self.other_process_cores().unwrap_or(0.0)).max(used);
        Some(free / used)
    }

    /// The same bound if the other processes are the program's clients: a load generator on
    /// the same machine (`wrk` against a server) does work per request too, so its CPU grows
    /// with the program's throughput as the program's own does, and together they can use at
    /// most every core: `cores / (process + others)`, never below 1 nor above
    /// [`speedup_bound`](Self::speedup_bound). `None` where other processes were not recorded
    /// or used under [`CLIENT_CORES`] (then the two bounds say the same).
    pub fn speedup_bound_if_clients(&self) -> Option<f64> {
        let bound = self.speedup_bound()?;
        let others = self.other_process_cores()?;
        if others < CLIENT_CORES {
            return None;
        }
        let both = self.process_cores() + others;
        Some((self.cores as f64 / both).clamp(1.0, bound))
    }
}

/// Other processes using less than this many cores on average are not worth a second bound
/// ([`MachineUse::speedup_bound_if_clients`]).
pub const CLIENT_CORES: f64 = 0.05;

/// Folds machine and worker samples into a [`MachineUse`].
#[derive(Default)]
pub(crate) struct MachineFold {
    /// The machine samples (cumulative since the trace began), in time order.
    samples: Vec<hue_formats::trace::MachineSample>,
    /// The workers' CPU time by when their samples ended, in [`WORKER_CPU_BUCKET_NS`] buckets
    /// (as many as there are worker samples at most, however their times read).
    workers_cpu: std::collections::BTreeMap<u64, u64>,
    workers_cpu_ns: u64,
}

/// The resolution of the workers' CPU time over a window, ns.
const WORKER_CPU_BUCKET_NS: u64 = 10_000_000;

impl MachineFold {
    pub(crate) fn machine(&mut self, m: &hue_formats::trace::MachineSample) {
        // Samples are cumulative and come in time order; one out of order (never written so
        // by the runtime) is dropped rather than trusted.
        if self.samples.last().is_none_or(|l| m.at >= l.at) {
            self.samples.push(*m);
        }
    }

    /// A worker sample's CPU time, `ns`, over an interval that ended at `end`.
    pub(crate) fn worker_cpu(&mut self, end: u64, ns: u64) {
        self.workers_cpu_ns += ns;
        *self
            .workers_cpu
            .entry(end / WORKER_CPU_BUCKET_NS)
            .or_default() += ns;
    }

    /// What the machine gave the process while its callbacks ran, from `first` to `last`
    /// (ns; the first callback queued, the last one ended): between the last sample at or
    /// before `first` (or the trace's start) and the first at or after `last` (or the last
    /// sample), so that a server's idle time before its load came and after it left does not
    /// water the averages down.
    pub(crate) fn finish(self, first: u64, last: u64) -> Option<MachineUse> {
        use hue_formats::trace::MachineSample;
        let end = *self.samples.last()?;
        let from = self
            .samples
            .iter()
            .rev()
            .find(|p| p.at <= first)
            .copied()
            .unwrap_or_default();
        let to = self
            .samples
            .iter()
            .find(|p| p.at >= last)
            .copied()
            .unwrap_or(end);
        let (a, b) = if to.at > from.at {
            (from, to)
        } else {
            (MachineSample::default(), end)
        };
        let process_cpu_ns = b.process_cpu.saturating_sub(a.process_cpu);
        // The workers' CPU over the window: all of it if the window is the whole trace (the
        // last worker samples may end after the last machine sample).
        let workers = if a.at == 0 && b.at == end.at {
            self.workers_cpu_ns
        } else {
            // Samples that ended after `a`, up to `b` (to a bucket).
            let (from, to) = (a.at / WORKER_CPU_BUCKET_NS, b.at / WORKER_CPU_BUCKET_NS);
            self.workers_cpu
                .range(from + 1..=to)
                .map(|(_, ns)| ns)
                .sum()
        };
        let diff = |x: Option<u64>, y: Option<u64>| Some(y?.saturating_sub(x.unwrap_or(0)));
        Some(MachineUse {
            cores: end.cores,
            wall_ns: b.at - a.at,
            samples_ns: end.at,
            process_cpu_ns,
            workers_cpu_ns: workers.min(process_cpu_ns),
            machine_cpu_ns: diff(a.machine_cpu, b.machine_cpu),
            workers_cpu_wait_ns: diff(a.workers_cpu_wait, b.workers_cpu_wait),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn use_(cores: u16, process: f64, workers: f64, machine: Option<f64>) -> MachineUse {
        let s = 1_000_000_000.0;
        MachineUse {
            cores,
            wall_ns: s as u64,
            samples_ns: s as u64,
            process_cpu_ns: (process * s) as u64,
            workers_cpu_ns: (workers * s) as u64,
            machine_cpu_ns: machine.map(|m| (m * s) as u64),
            workers_cpu_wait_ns: None,
        }
    }

    #[test]
    fn the_wait_share_is_of_the_time_the_workers_were_ready_to_run() {
        let mut m = use_(2, 1.5, 1.2, Some(1.5));
        assert_eq!(m.workers_cpu_wait_share(), None, "not recorded");
        // 1.2 cores' worth running, 0.4 waiting: ready 1.6, waiting a quarter of it.
        m.workers_cpu_wait_ns = Some(400_000_000);
        assert!((m.workers_cpu_wait_share().unwrap() - 0.25).abs() < 1e-9);
        m.workers_cpu_ns = 0;
        m.workers_cpu_wait_ns = Some(0);
        assert_eq!(m.workers_cpu_wait_share(), None, "never ready");
    }

    #[test]
    fn the_bound_is_free_cores_over_the_cores_the_process_used() {
        // 1 worker at 1 core, a load generator at 0.25 in the same process, nothing else.
        let m = use_(2, 1.25, 1.0, Some(1.25));
        assert!((m.speedup_bound().unwrap() - 1.6).abs() < 1e-9);
        assert!((m.rest_of_process_cores() - 0.25).abs() < 1e-9);
        assert!((m.other_process_cores().unwrap()).abs() < 1e-9);
        // Another process took half a core: 1.5 free cores.
        let m = use_(2, 1.25, 1.0, Some(1.75));
        assert!((m.speedup_bound().unwrap() - 1.2).abs() < 1e-9);
        // Without the machine's CPU, other processes count as nothing.
        let m = use_(4, 1.0, 1.0, None);
        assert!((m.speedup_bound().unwrap() - 4.0).abs() < 1e-9);
    }

    #[test]
    fn if_the_other_processes_are_clients_they_grow_with_the_program() {
        // A server at 0.93 cores, wrk at 0.86 on 2 cores (the advice bench's trace): 1.23x
        // if wrk stayed as it was, 2 / 1.79 = 1.12x if it grows with the server.
        let m = use_(2, 0.93, 0.87, Some(1.79));
        assert!((m.speedup_bound().unwrap() - 1.14 / 0.93).abs() < 1e-9);
        assert!((m.speedup_bound_if_clients().unwrap() - 2.0 / 1.79).abs() < 1e-9);
        // Nothing else ran, or it was not recorded: no second bound.
        assert_eq!(
            use_(2, 1.0, 1.0, Some(1.0)).speedup_bound_if_clients(),
            None
        );
        assert_eq!(use_(2, 1.0, 1.0, None).speedup_bound_if_clients(), None);
        // The machine was full: never below 1.
        let m = use_(2, 1.0, 1.0, Some(2.0));
        assert!((m.speedup_bound_if_clients().unwrap() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn no_data_no_bound_and_never_below_one() {
        assert_eq!(MachineUse::default().speedup_bound(), None);
        assert_eq!(use_(2, 0.0, 0.0, None).speedup_bound(), None);
        // Others used more than was left: the bound never says the run could not happen.
        let m = use_(2, 1.5, 1.0, Some(3.0));
        assert!((m.speedup_bound().unwrap() - 1.0).abs() < 1e-9);
    }
}
