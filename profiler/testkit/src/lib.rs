//! Synthetic traces for hue's tests and benchmarks: the one generator they share. A
//! dev-dependency only; no shipped library depends on it.
//!
//! - [`Rng`]: a deterministic xorshift generator.
//! - [`encode`]: records to the bytes of a `.hue` file.
//! - [`server`]: a multi-worker server's trace with state accesses and samples (ingest).
//! - [`ClosedLoop`]: a one-worker closed-loop server, streamed as records (the long traces
//!   of the simulator's bench and its memory test).
//! - [`random_trace`]: a random closed-loop program recorded with unlimited workers (the
//!   property tests).
//! - [`callback_batches`]: a realistic stream of callback records in per-worker batches (the
//!   trace format's size test and its bench).
//! - [`spec`]: tiny traces written as text (the profiler's and the reports' data-driven
//!   tests), and [`spec::assert_text`] to compare what they render.

#![deny(missing_docs)]

pub mod spec;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use hue_formats::trace::{
    AccessRecord, CallbackRecord, FORMAT_VERSION, Header, MachineSample, Name, NameKind, Origin,
    Record, TraceWriter, WorkerSample,
};
use hue_formats::{Color, Key};

/// Where callback `id` of a synthetic server comes from: mostly queued by one of the last 64
/// callbacks, a tenth each from I/O and timers; `recent` keeps the last few hundred ids.
fn origin_of(rng: &mut Rng, recent: &mut Vec<u64>, id: u64) -> (Origin, Option<u64>) {
    let from = match rng.below(10) {
        0 => (Origin::Io, None),
        1 => (Origin::Timer, None),
        _ if !recent.is_empty() => {
            let back = rng.below(recent.len().min(64) as u64) as usize;
            (Origin::Callback, Some(recent[recent.len() - 1 - back]))
        }
        _ => (Origin::Outside, None),
    };
    if recent.len() == 256 {
        recent.drain(..128);
    }
    recent.push(id);
    from
}

/// The times of one callback of a synthetic server: mostly 1–16 µs, one in twenty 50–250 µs,
/// started shortly after its worker's previous callback ended, a quarter of them queued up to
/// 40 µs before they became runnable.
struct Times {
    long: bool,
    wall: u64,
    queued: u64,
    runnable: u64,
    started: u64,
    ended: u64,
}

impl Times {
    /// Draws the next callback's times on the worker whose clock is `clock` (its previous
    /// callback's end), and moves that clock to this one's end.
    fn draw(rng: &mut Rng, clock: &mut u64) -> Times {
        let long = rng.below(20) == 0;
        let wall = if long {
            50_000 + rng.below(200_000)
        } else {
            1_000 + rng.below(15_000)
        };
        let started = *clock + 300 + rng.below(3_000);
        let runnable = started - rng.below(2_000);
        let queued = if rng.below(4) == 0 {
            runnable - rng.below(40_000)
        } else {
            runnable
        };
        let ended = started + wall;
        *clock = ended;
        Times {
            long,
            wall,
            queued,
            runnable,
            started,
            ended,
        }
    }
}

/// A deterministic xorshift generator.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// A generator whose state is `seed` itself (made odd): the stream
    /// [`callback_batches`] has always drawn from.
    pub fn from_state(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (0 if `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The header of a synthetic trace.
pub fn header(workers: u16, program: &str, policy: &str) -> Header {
    Header {
        version: FORMAT_VERSION,
        start_unix_ns: 1_700_000_000_000_000_000,
        ticks_per_sec: 3e9,
        workers,
        program: program.to_owned(),
        policy: policy.to_owned(),
        batch: None,
        stealing: None,
        cores: None,
        color_cost_ns: None,
        handoff_ns: None,
    }
}

/// `records` as the bytes of a `.hue` file, in chunks of 1000 records; without the end marker
/// if `finish` is false (a trace whose writer never finished).
pub fn encode(
    records: &[Record],
    workers: u16,
    program: &str,
    policy: &str,
    finish: bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w =
        TraceWriter::new(&mut out, &header(workers, program, policy)).expect("writing to memory");
    for batch in records.chunks(1000) {
        w.write_batch(batch).expect("writing to memory");
    }
    if finish {
        w.finish().expect("writing to memory");
    } else {
        drop(w);
    }
    out
}

fn handler_names(names: &[&str]) -> Vec<Record> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            Record::Name(Name {
                kind: NameKind::Handler,
                id: i as u32,
                name: (*n).to_owned(),
            })
        })
        .collect()
}

/// A server's trace, encoded, with `n` callbacks: 4 workers, 1000 connections each with its
/// own color and key, 8 handlers, most callbacks queued by a recent one, one in ten touching
/// keyed state and one in fifty shared state, one in twenty long with its CPU time measured,
/// a worker sample every 100 ms; records in per-worker batches of 2048, as workers hand them
/// over.
pub fn server(n: usize) -> Vec<u8> {
    const HANDLERS: [&str; 8] = [
        "accept", "read", "parse", "encrypt", "query", "respond", "write", "log",
    ];
    let workers = 4usize;
    let mut rng = Rng::new(0x5eed);
    let mut clocks = vec![1_000_000u64; workers];
    let mut next_sample = vec![100_000_000u64; workers];
    let mut recent: Vec<u64> = Vec::with_capacity(256);
    let mut pending: Vec<Vec<Record>> = vec![Vec::new(); workers];
    let mut names = handler_names(&HANDLERS);
    for (i, s) in ["connections", "db"].iter().enumerate() {
        names.push(Record::Name(Name {
            kind: NameKind::State,
            id: i as u32,
            name: (*s).to_owned(),
        }));
    }
    let mut out = Vec::new();
    let mut w = TraceWriter::new(&mut out, &header(workers as u16, "server", ""))
        .expect("writing to memory");
    w.write_batch(&names).expect("writing to memory");
    for id in 1..=n as u64 {
        let wi = rng.below(workers as u64) as usize;
        let (origin, parent) = origin_of(&mut rng, &mut recent, id);
        let conn = rng.below(1000);
        let Times {
            long,
            wall,
            queued,
            runnable,
            started,
            ended,
        } = Times::draw(&mut rng, &mut clocks[wi]);
        let handler = rng.below(HANDLERS.len() as u64) as u32;
        let b = &mut pending[wi];
        let access = |state: u32, key: Option<u64>, write: bool, held: u64| {
            Record::Access(AccessRecord {
                callback: id,
                handler,
                state,
                key,
                worker: wi as u16,
                write,
                at: started + 100,
                wait: 0,
                held,
                contended: false,
                holder: None,
            })
        };
        match rng.below(50) {
            0..=4 => b.push(access(0, Some(conn), true, 200)),
            5 => b.push(access(1, None, false, 500)),
            _ => {}
        }
        b.push(Record::Callback(CallbackRecord {
            id,
            parent,
            origin,
            handler,
            color: Key(conn).color().raw(),
            key: Some(conn),
            worker: wi as u16,
            queued,
            runnable,
            started,
            ended,
            cpu: long.then(|| wall - rng.below(wall / 10 + 1)),
        }));
        if ended >= next_sample[wi] {
            b.push(Record::Sample(WorkerSample {
                worker: wi as u16,
                start: next_sample[wi] - 100_000_000,
                end: next_sample[wi],
                busy: 90_000_000,
                parked: 5_000_000,
                callbacks: 10_000,
                steals: 3,
                cpu: 92_000_000,
            }));
            next_sample[wi] += 100_000_000;
        }
        if b.len() >= 2048 {
            w.write_batch(b).expect("writing to memory");
            b.clear();
        }
    }
    for b in pending.iter().filter(|b| !b.is_empty()) {
        w.write_batch(b).expect("writing to memory");
    }
    w.finish().expect("writing to memory");
    out
}

/// One stage of a [`ClosedLoop`] request: its handler's name and its duration, ns, drawn
/// from `min..min + spread`.
#[derive(Clone, Copy, Debug)]
pub struct Stage {
    /// The handler.
    pub name: &'static str,
    /// The shortest duration, ns.
    pub min: u64,
    /// Durations spread over this much above `min`, ns.
    pub spread: u64,
}

/// A callback of a [`ClosedLoop`] ready to run: (queued, id, key, parent, stage, requests
/// left).
type Ready = (u64, u64, u64, Option<u64>, usize, u64);

/// What a one-worker server records serving `clients` clients in a closed loop: each request
/// is an I/O callback of the first stage, which queues the second stage, and so on; the
/// client's next request comes a think time after the last stage ended. All in the default
/// color, on worker 0, each callback starting `pause` after the previous one ended (or when
/// it was queued, if later). An iterator of records: handler names first, then callbacks in
/// the order they ran, so that a long trace can be written without being held.
#[derive(Clone, Debug)]
pub struct ClosedLoop {
    stages: Vec<Stage>,
    /// Think time, ns: `min..min + spread`.
    think: (u64, u64),
    pause: u64,
    /// Requests each client makes; unlimited if `None`.
    requests: Option<u64>,
    rng: Rng,
    names: std::vec::IntoIter<Record>,
    ready: BinaryHeap<Reverse<Ready>>,
    next_id: u64,
    now: u64,
}

impl ClosedLoop {
    /// `clients` clients, the first connecting at time 0 and one more every microsecond;
    /// `requests` each (`None`: no end); think time `think` (min, spread); `pause` between
    /// callbacks.
    pub fn new(
        seed: u64,
        clients: u64,
        requests: Option<u64>,
        stages: &[Stage],
        think: (u64, u64),
        pause: u64,
    ) -> ClosedLoop {
        assert!(!stages.is_empty());
        let names: Vec<&str> = stages.iter().map(|s| s.name).collect();
        let mut ready = BinaryHeap::new();
        let mut next_id = 0;
        if requests != Some(0) {
            for key in 0..clients {
                next_id += 1;
                ready.push(Reverse((
                    key * 1_000,
                    next_id,
                    key,
                    None,
                    0,
                    requests.unwrap_or(u64::MAX),
                )));
            }
        }
        ClosedLoop {
            stages: stages.to_vec(),
            think,
            pause,
            requests,
            rng: Rng::new(seed),
            names: handler_names(&names).into_iter(),
            ready,
            next_id,
            now: 0,
        }
    }
}

impl Iterator for ClosedLoop {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        if let Some(name) = self.names.next() {
            return Some(name);
        }
        let Reverse((queued, id, key, parent, stage, left)) = self.ready.pop()?;
        let s = self.stages[stage];
        let started = self.now.max(queued);
        let ended = started + s.min + self.rng.below(s.spread);
        self.now = ended + self.pause;
        self.next_id += 1;
        if stage + 1 < self.stages.len() {
            self.ready.push(Reverse((
                ended,
                self.next_id,
                key,
                Some(id),
                stage + 1,
                left,
            )));
        } else if left > 1 {
            let think = self.think.0 + self.rng.below(self.think.1);
            let left = if self.requests.is_some() {
                left - 1
            } else {
                left
            };
            self.ready
                .push(Reverse((ended + think, self.next_id, key, None, 0, left)));
        }
        Some(Record::Callback(CallbackRecord {
            id,
            parent,
            origin: if stage == 0 {
                Origin::Io
            } else {
                Origin::Callback
            },
            handler: stage as u32,
            color: 0,
            key: Some(key),
            worker: 0,
            queued,
            runnable: queued,
            started,
            ended,
            cpu: None,
        }))
    }
}

/// The shape of a [`random_trace`].
#[derive(Clone, Debug)]
pub struct Shape {
    /// Seeds the generator.
    pub seed: u64,
    /// Clients, each a key.
    pub keys: u64,
    /// Requests per client.
    pub requests: u64,
    /// Timers firing at random times.
    pub timers: u64,
    /// The longest callback, ns.
    pub max_dur: u64,
    /// The longest client gap, ns.
    pub max_gap: u64,
}

/// A random trace of a closed-loop server, recorded as if with unlimited workers (each
/// callback starts a little after it is queued): clients send requests (I/O `read`), each
/// spawning up to three stages that may spawn one more; a client's next request comes a gap
/// after the request and its first stages ended (the second stages may still run). Colors
/// mix the default color, keys, fixed colors and colors of their own. Records are written in
/// the order callbacks end, as workers do.
pub fn random_trace(shape: &Shape) -> Vec<Record> {
    const HANDLERS: [&str; 5] = ["read", "parse", "query", "render", "log"];
    let mut rng = Rng::new(shape.seed);
    let mut callbacks: Vec<CallbackRecord> = Vec::new();
    let mut next_id = 1u64;
    let dur = |rng: &mut Rng| 1 + rng.below(shape.max_dur);
    let color_for = |rng: &mut Rng, handler: u32, key: u64| -> u64 {
        match rng.below(4) {
            0 => 0,
            1 => Key(key).color().raw(),
            2 => Color::of(&("fixed", handler)).raw(),
            _ => Color::of(&("own", rng.next())).raw(),
        }
    };
    for key in 0..shape.keys {
        let mut t = rng.below(shape.max_gap + 1);
        for _ in 0..shape.requests {
            // The request.
            let d = dur(&mut rng);
            let wait = rng.below(shape.max_dur / 2 + 1);
            let root = CallbackRecord {
                id: next_id,
                parent: None,
                origin: Origin::Io,
                handler: 0,
                color: color_for(&mut rng, 0, key),
                key: Some(key),
                worker: (key % 4) as u16,
                queued: t,
                runnable: t,
                started: t + wait,
                ended: t + wait + d,
                cpu: None,
            };
            next_id += 1;
            // The client answers once the request and its first stages are done; the
            // stages they queue (a log, say) may still run when the next request comes.
            let mut answered = root.ended;
            let mut level = vec![root];
            callbacks.push(root);
            for depth in 0..2 {
                let mut next_level = Vec::new();
                for p in &level {
                    for _ in 0..rng.below(if depth == 0 { 4 } else { 2 }) {
                        let handler = 1 + rng.below(4) as u32;
                        let q = p.started + rng.below(p.ended - p.started + 1);
                        let wait = rng.below(shape.max_dur / 2 + 1);
                        let d = dur(&mut rng);
                        let c = CallbackRecord {
                            id: next_id,
                            parent: Some(p.id),
                            origin: Origin::Callback,
                            handler,
                            color: color_for(&mut rng, handler, key),
                            key: Some(key),
                            worker: (rng.below(4)) as u16,
                            queued: q,
                            runnable: q,
                            started: q + wait,
                            ended: q + wait + d,
                            cpu: None,
                        };
                        next_id += 1;
                        if depth == 0 {
                            answered = answered.max(c.ended);
                        }
                        next_level.push(c);
                        callbacks.push(c);
                    }
                }
                level = next_level;
            }
            t = answered + rng.below(shape.max_gap + 1);
        }
    }
    let span = callbacks.iter().map(|c| c.ended).max().unwrap_or(0);
    for _ in 0..shape.timers {
        let q = rng.below(span + 1);
        let d = dur(&mut rng);
        callbacks.push(CallbackRecord {
            id: next_id,
            parent: None,
            origin: Origin::Timer,
            handler: 4,
            color: 0,
            key: None,
            worker: 0,
            queued: q,
            runnable: q,
            started: q,
            ended: q + d,
            cpu: None,
        });
        next_id += 1;
    }
    callbacks.sort_by_key(|c| (c.ended, c.id));
    let mut out = handler_names(&HANDLERS);
    out.extend(callbacks.into_iter().map(Record::Callback));
    out
}

/// The color of connection `conn`: a 64-bit hash, as `Color::of(&conn)` gives.
pub fn color_of(conn: u64) -> u64 {
    let mut x = conn.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (x ^ (x >> 31)) & !(1 << 63)
}

/// `n` callback records over `workers` workers and `colors` connections, as batches of at most
/// `batch` records of one worker each.
pub fn callback_batches(n: usize, workers: u16, colors: u64, batch: usize) -> Vec<Vec<Record>> {
    let mut rng = Rng::from_state(0x5eed);
    let mut clocks = vec![1_000_000u64; workers as usize];
    let mut recent: Vec<u64> = Vec::with_capacity(256);
    let mut pending: Vec<Vec<Record>> = vec![Vec::new(); workers as usize];
    let mut out = Vec::new();
    for id in 1..=n as u64 {
        let w = rng.below(workers as u64) as usize;
        let (origin, parent) = origin_of(&mut rng, &mut recent, id);
        let conn = rng.below(colors);
        let Times {
            long,
            wall,
            queued,
            runnable,
            started,
            ended,
        } = Times::draw(&mut rng, &mut clocks[w]);
        pending[w].push(Record::Callback(CallbackRecord {
            id,
            parent,
            origin,
            handler: rng.below(8) as u32,
            color: color_of(conn),
            key: Some(conn),
            worker: w as u16,
            queued,
            runnable,
            started,
            ended,
            cpu: long.then(|| wall - rng.below(wall / 10 + 1)),
        }));
        if pending[w].len() == batch {
            out.push(std::mem::take(&mut pending[w]));
        }
    }
    out.extend(pending.into_iter().filter(|b| !b.is_empty()));
    out
}

/// One second of a 1-worker run: a callback a millisecond, the worker at 0.8 cores, the whole
/// process at 1.0 (a load generator in it takes the rest), the machine at 1.5 of 2 cores.
pub fn one_busy_second(machine_samples: bool) -> Vec<Record> {
    const S: u64 = 1_000_000_000;
    let mut r = vec![Record::Name(Name {
        kind: NameKind::Handler,
        id: 0,
        name: "work".to_owned(),
    })];
    for i in 0..1000u64 {
        let t = i * 1_000_000;
        r.push(Record::Callback(CallbackRecord {
            id: i + 1,
            parent: None,
            origin: Origin::Outside,
            handler: 0,
            color: 0,
            key: None,
            worker: 0,
            queued: t,
            runnable: t,
            started: t,
            ended: t + 800_000,
            cpu: None,
        }));
        if machine_samples && i % 250 == 249 {
            // Cumulative: a sample lost on the way changes nothing.
            let at = t + 1_000_000;
            r.push(Record::Machine(MachineSample {
                at,
                process_cpu: at,
                machine_cpu: Some(at * 3 / 2),
                cores: 2,
                workers_cpu_wait: None,
            }));
        }
    }
    r.push(Record::Sample(WorkerSample {
        worker: 0,
        start: 0,
        end: S,
        busy: S * 8 / 10,
        parked: S / 5,
        callbacks: 1000,
        steals: 0,
        cpu: S * 8 / 10,
    }));
    r
}

/// The three stages of [`server_loop`]: read → parse → reply, µs-scale.
pub const SERVER_STAGES: [Stage; 3] = [
    Stage {
        name: "read",
        min: 3_000,
        spread: 10_000,
    },
    Stage {
        name: "parse",
        min: 5_000,
        spread: 20_000,
    },
    Stage {
        name: "reply",
        min: 10_000,
        spread: 50_000,
    },
];

/// The long trace the profiler's benches and the reports' measurements share: a one-worker
/// closed-loop server of 1000 clients running [`SERVER_STAGES`] in the default color, its
/// `callbacks` callbacks (and the stages' name records) as a stream.
pub fn server_loop(callbacks: usize) -> impl Iterator<Item = Record> {
    ClosedLoop::new(0x5eed, 1000, None, &SERVER_STAGES, (20_000, 100_000), 400)
        .take(SERVER_STAGES.len() + callbacks)
}

/// [`server_loop`] written to the file at `path`, streamed in batches (it may be larger
/// than memory).
pub fn write_server_loop(
    path: &std::path::Path,
    program: &str,
    callbacks: usize,
) -> Result<(), hue_formats::trace::TraceError> {
    let mut w = TraceWriter::create(path, &header(1, program, ""))?;
    let mut batch = Vec::with_capacity(4096);
    for r in server_loop(callbacks) {
        batch.push(r);
        if batch.len() == 4096 {
            w.write_batch(&batch)?;
            batch.clear();
        }
    }
    w.write_batch(&batch)?;
    w.finish().map(|_| ())
}

/// [`one_busy_second`] as the bytes of a whole `.hue` file of one worker.
pub fn one_busy_second_file(machine_samples: bool) -> Vec<u8> {
    encode(&one_busy_second(machine_samples), 1, "test", "", true)
}

/// A `.hue` file of one worker: 64 callbacks of 100 µs of a `work` handler, all in the
/// default color and keyed by connection (8 keys), queued at once (so by key is what a
/// suggestion would make of them), traced on a machine of `cores` cores where the process used
/// one core and other processes `others` cores.
pub fn keyed_work_on_a_shared_machine(cores: u16, others: f64) -> Vec<u8> {
    keyed_work(cores, others, |i| i % 8)
}

/// [`keyed_work_on_a_shared_machine`] with callback `i`'s key `key(i)` (`i` in `0..64`).
pub fn keyed_work(cores: u16, others: f64, key: impl Fn(u64) -> u64) -> Vec<u8> {
    let mut text = String::new();
    for i in 0..64u64 {
        text.push_str(&format!(
            "{} work q=0 s={} e={} k={} outside cpu=100\n",
            i + 1,
            i * 100,
            (i + 1) * 100,
            key(i)
        ));
    }
    let mut records = spec::records(&text);
    let wall = 6_400_000u64;
    records.push(Record::Machine(hue_formats::trace::MachineSample {
        at: wall,
        process_cpu: wall,
        machine_cpu: Some(((1.0 + others) * wall as f64) as u64),
        cores,
        workers_cpu_wait: None,
    }));
    encode(&records, 1, "test", "", true)
}
