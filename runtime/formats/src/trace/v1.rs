//! Version 1 of the `.hue` encoding: the header body and the records of a records chunk.
//!
//! `runtime/formats/FORMAT.md` describes the bytes; this file is the one place that writes and reads
//! them, so the two directions sit side by side record kind by record kind.
//!
//! A records chunk is decoded on its own: every delta base and the color table start afresh
//! in each chunk ([`ChunkState::reset`]). That keeps chunks independent, so a reader can stop
//! at a bad chunk having returned everything before it, and a chunk costs a few literal
//! colors and one absolute id and time per worker.
//!
//! **Architecture Invariant:** the encoder and the decoder update their delta bases through
//! the same [`ChunkState`] methods, in the same order; a base that only one side updated
//! would decode wrong values with a valid checksum.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use super::format::{Bad, Cursor, delta, put_str, put_varint, undelta, unzigzag};
use super::record::*;

/// Record kind bytes. 0x00 and 0x07..=0x3f are undefined, so a run of zeros is never valid.
mod tag {
    pub(super) const NAME: u8 = 0x01;
    pub(super) const PANIC: u8 = 0x02;
    pub(super) const BLOCKING: u8 = 0x03;
    pub(super) const SAMPLE: u8 = 0x04;
    pub(super) const EVENT: u8 = 0x05;
    pub(super) const DROPS: u8 = 0x06;
    /// `0x40 | flags`: the six low bits are [`super::access`] flags.
    pub(super) const ACCESS: u8 = 0x40;
    /// `0x80 | flags`: the seven low bits are [`super::callback`] flags. Callbacks are most
    /// of a trace, so their flags share the kind byte.
    pub(super) const CALLBACK: u8 = 0x80;
}

/// Flag bits of a callback's kind byte.
mod callback {
    /// Bits 0–1: the origin (0 callback, 1 outside, 2 I/O, 3 timer).
    pub(super) const ORIGIN: u8 = 0b11;
    pub(super) const PARENT: u8 = 1 << 2;
    pub(super) const KEY: u8 = 1 << 3;
    pub(super) const CPU: u8 = 1 << 4;
    /// The worker is the chunk's current worker and is not written.
    pub(super) const SAME_WORKER: u8 = 1 << 5;
    pub(super) const RESERVED: u8 = 1 << 6;
}

/// Flag bits of an access's kind byte.
mod access {
    pub(super) const WRITE: u8 = 1 << 0;
    pub(super) const CONTENDED: u8 = 1 << 1;
    pub(super) const KEY: u8 = 1 << 2;
    pub(super) const HOLDER: u8 = 1 << 3;
    pub(super) const SAME_WORKER: u8 = 1 << 4;
    pub(super) const RESERVED: u8 = 1 << 5;
}

// ---------------------------------------------------------------------------------------------
// Header

/// Appends the version 1 header body.
pub(crate) fn encode_header(h: &Header, buf: &mut Vec<u8>) {
    buf.extend_from_slice(&h.start_unix_ns.to_le_bytes());
    buf.extend_from_slice(&h.ticks_per_sec.to_bits().to_le_bytes());
    buf.extend_from_slice(&h.workers.to_le_bytes());
    put_str(buf, &h.program);
    put_str(buf, &h.policy);
    // Appended later in version 1: a reader from before stops reading at the policy.
    buf.extend_from_slice(&h.batch.unwrap_or(0).to_le_bytes());
    buf.push(match h.stealing {
        None => 0,
        Some(false) => 1,
        Some(true) => 2,
    });
    buf.extend_from_slice(&h.cores.unwrap_or(0).to_le_bytes());
    // Appended later still, and written only when measured, so that a header without them
    // is byte for byte what an older writer wrote. u64::MAX = not recorded (0 ns is a
    // measurement); a field appended after these must write them.
    if h.color_cost_ns.is_some() || h.handoff_ns.is_some() {
        buf.extend_from_slice(&h.color_cost_ns.unwrap_or(u64::MAX).to_le_bytes());
        buf.extend_from_slice(&h.handoff_ns.unwrap_or(u64::MAX).to_le_bytes());
    }
}

/// Reads a version 1 header body. Bytes after the known fields are ignored: they are room for
/// fields a later writer of version 1 may append (FORMAT.md, "Versioning").
pub(crate) fn decode_header(body: &[u8]) -> Result<Header, Bad> {
    let mut c = Cursor::new(body);
    let mut h = Header {
        version: 1,
        start_unix_ns: c.u64_le()?,
        ticks_per_sec: f64::from_bits(c.u64_le()?),
        workers: c.u16_le()?,
        program: c.str()?,
        policy: c.str()?,
        batch: None,
        stealing: None,
        cores: None,
        color_cost_ns: None,
        handoff_ns: None,
    };
    // The scheduler fields, in files that have them (written since they were appended).
    if c.remaining() >= 7 {
        h.batch = Some(c.u32_le()?).filter(|&b| b > 0);
        h.stealing = match c.u8()? {
            1 => Some(false),
            2 => Some(true),
            _ => None,
        };
        h.cores = Some(c.u16_le()?).filter(|&n| n > 0);
    }
    // The measured color costs, in files that have them.
    if c.remaining() >= 16 {
        h.color_cost_ns = Some(c.u64_le()?).filter(|&n| n != u64::MAX);
        h.handoff_ns = Some(c.u64_le()?).filter(|&n| n != u64::MAX);
    }
    Ok(h)
}

// ---------------------------------------------------------------------------------------------
// Machine samples (ancillary chunk 0x81)

/// Appends a machine sample's payload.
pub(crate) fn encode_machine(m: &MachineSample, buf: &mut Vec<u8>) {
    put_varint(buf, m.at);
    put_varint(buf, m.process_cpu);
    match m.machine_cpu {
        Some(v) => {
            buf.push(1);
            put_varint(buf, v);
        }
        None => buf.push(0),
    }
    buf.extend_from_slice(&m.cores.to_le_bytes());
    // Appended later: a reader of the shorter payload stops before it.
    match m.workers_cpu_wait {
        Some(v) => {
            buf.push(1);
            put_varint(buf, v);
        }
        None => buf.push(0),
    }
}

/// Reads a machine sample's payload.
pub(crate) fn decode_machine(payload: &[u8]) -> Result<MachineSample, Bad> {
    let mut c = Cursor::new(payload);
    let at = c.varint()?;
    let process_cpu = c.varint()?;
    let machine_cpu = match c.u8()? {
        0 => None,
        _ => Some(c.varint()?),
    };
    let cores = c.u16_le()?;
    // Absent from samples written before it was appended.
    let workers_cpu_wait = if c.is_empty() {
        None
    } else {
        match c.u8()? {
            0 => None,
            _ => Some(c.varint()?),
        }
    };
    Ok(MachineSample {
        at,
        process_cpu,
        machine_cpu,
        cores,
        workers_cpu_wait,
    })
}

// ---------------------------------------------------------------------------------------------
// End marker

/// Appends the end marker's payload: the records and records chunks the file holds.
pub(crate) fn encode_end(records: u64, chunks: u64, buf: &mut Vec<u8>) {
    put_varint(buf, records);
    put_varint(buf, chunks);
}

/// Reads the end marker's payload.
pub(crate) fn decode_end(payload: &[u8]) -> Result<(u64, u64), Bad> {
    let mut c = Cursor::new(payload);
    let records = c.varint()?;
    let chunks = c.varint()?;
    if !c.is_empty() {
        return Err(Bad::Trailing(c.remaining()));
    }
    Ok((records, chunks))
}

// ---------------------------------------------------------------------------------------------
// Delta bases shared by the encoder and the decoder

/// The id and time later values of a worker are written relative to.
#[derive(Clone, Copy, Debug, Default)]
struct Base {
    /// The last callback id.
    id: u64,
    /// The last callback's start time.
    time: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    chunk: u32,
    base: Base,
}

/// What a chunk's records are written relative to. Reset at every chunk start.
#[derive(Debug)]
struct ChunkState {
    /// One base per worker seen in the chunk, indexed by worker; a slot whose `chunk` is not
    /// the current chunk number holds a stale base and reads as zero. This makes a reset
    /// O(1) however many workers the previous chunk touched (at most 65 536 slots).
    workers: Vec<Slot>,
    chunk: u32,
    /// The last callback of any worker: the base of records that carry no worker.
    global: Base,
    /// The worker of the last callback or access record, so consecutive records of one
    /// worker (a writer's batch) do not repeat it.
    worker: u16,
}

impl ChunkState {
    fn new() -> ChunkState {
        ChunkState {
            workers: Vec::new(),
            chunk: 1,
            global: Base::default(),
            worker: 0,
        }
    }

    fn reset(&mut self) {
        self.chunk = self.chunk.wrapping_add(1);
        if self.chunk == 0 {
            // Wrapped after 4 billion chunks: old slots could look current again.
            self.workers.clear();
            self.chunk = 1;
        }
        self.global = Base::default();
        self.worker = 0;
    }

    #[inline]
    fn base(&mut self, worker: u16) -> Base {
        match self.workers.get(worker as usize) {
            Some(slot) if slot.chunk == self.chunk => slot.base,
            _ => Base::default(),
        }
    }

    /// A callback record moves its worker's base and the global base to itself.
    #[inline]
    fn callback_seen(&mut self, worker: u16, id: u64, started: u64) {
        let i = worker as usize;
        if i >= self.workers.len() {
            self.workers.resize(i + 1, Slot::default());
        }
        let base = Base { id, time: started };
        self.workers[i] = Slot {
            chunk: self.chunk,
            base,
        };
        self.global = base;
    }
}

// ---------------------------------------------------------------------------------------------
// Encoder

/// Colors are hashes already (or small counters); one multiply spreads them over the table
/// without SipHash's cost on every callback.
#[derive(Default)]
pub(crate) struct ColorHasher(u64);

impl Hasher for ColorHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (x ^ (x >> 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Writes records into a chunk payload. Holds buffers across chunks, so encoding allocates
/// only while its tables grow to the largest chunk seen.
pub(crate) struct Encoder {
    state: ChunkState,
    /// Color → its index in the chunk's color table.
    colors: HashMap<u64, u32, BuildHasherDefault<ColorHasher>>,
}

impl Encoder {
    pub(crate) fn new() -> Encoder {
        Encoder {
            state: ChunkState::new(),
            colors: HashMap::default(),
        }
    }

    /// Starts a new chunk: forgets every base and color.
    pub(crate) fn begin_chunk(&mut self) {
        self.state.reset();
        self.colors.clear();
    }

    /// A color reference: `0` and the color's 8 bytes the first time in a chunk, its table
    /// index + 1 after that.
    #[inline]
    fn put_color(&mut self, buf: &mut Vec<u8>, color: u64) {
        let next = self.colors.len() as u32;
        let idx = *self.colors.entry(color).or_insert(next);
        if idx == next {
            buf.push(0);
            buf.extend_from_slice(&color.to_le_bytes());
        } else {
            put_varint(buf, idx as u64 + 1);
        }
    }

    /// Returns the worker flag to set, and writes the worker if it changed.
    #[inline]
    fn worker_flag(&mut self, worker: u16, same_flag: u8) -> (u8, bool) {
        if worker == self.state.worker {
            (same_flag, false)
        } else {
            self.state.worker = worker;
            (0, true)
        }
    }

    /// Appends one record.
    pub(crate) fn encode(&mut self, record: &Record, buf: &mut Vec<u8>) {
        match record {
            Record::Callback(c) => self.encode_callback(c, buf),
            Record::Access(a) => self.encode_access(a, buf),
            Record::Name(n) => {
                buf.push(tag::NAME);
                buf.push(name_kind_code(n.kind));
                put_varint(buf, n.id as u64);
                put_str(buf, &n.name);
            }
            Record::Panic(p) => {
                buf.push(tag::PANIC);
                put_varint(buf, delta(p.callback, self.state.global.id));
                put_varint(buf, p.handler as u64);
                self.put_color(buf, p.color);
                put_varint(buf, delta(p.at, self.state.global.time));
                put_str(buf, &p.message);
            }
            Record::Blocking(b) => {
                buf.push(tag::BLOCKING);
                put_varint(buf, delta(b.callback, self.state.global.id));
                put_varint(buf, b.handler as u64);
                put_varint(buf, b.wall);
                put_varint(buf, delta(b.wall, b.cpu));
            }
            Record::Sample(s) => {
                buf.push(tag::SAMPLE);
                put_varint(buf, s.worker as u64);
                put_varint(buf, delta(s.start, self.state.base(s.worker).time));
                put_varint(buf, s.end.wrapping_sub(s.start));
                put_varint(buf, s.busy);
                put_varint(buf, s.parked);
                put_varint(buf, s.callbacks);
                put_varint(buf, s.steals);
                put_varint(buf, s.cpu);
            }
            Record::Event(e) => {
                buf.push(tag::EVENT);
                put_varint(buf, delta(e.callback, self.state.global.id));
                put_varint(buf, delta(e.at, self.state.global.time));
                buf.push(event_kind_code(e.kind));
                buf.push(e.level);
                put_varint(buf, e.name as u64);
                put_str(buf, &e.message);
            }
            Record::Drops(d) => {
                buf.push(tag::DROPS);
                put_varint(buf, d.worker as u64);
                put_varint(buf, d.records);
            }
            // Written as an ancillary chunk of its own by the writer, never inside records.
            Record::Machine(_) => unreachable!("machine samples are not records-chunk records"),
        }
    }

    #[inline]
    fn encode_callback(&mut self, c: &CallbackRecord, buf: &mut Vec<u8>) {
        let (same, write_worker) = self.worker_flag(c.worker, callback::SAME_WORKER);
        let mut flags = origin_code(c.origin) | same;
        if c.parent.is_some() {
            flags |= callback::PARENT;
        }
        if c.key.is_some() {
            flags |= callback::KEY;
        }
        if c.cpu.is_some() {
            flags |= callback::CPU;
        }
        buf.push(tag::CALLBACK | flags);
        if write_worker {
            put_varint(buf, c.worker as u64);
        }
        let base = self.state.base(c.worker);
        put_varint(buf, delta(c.id, base.id));
        if let Some(parent) = c.parent {
            put_varint(buf, delta(c.id, parent));
        }
        put_varint(buf, c.handler as u64);
        self.put_color(buf, c.color);
        if let Some(key) = c.key {
            put_varint(buf, key);
        }
        put_varint(buf, delta(c.started, base.time));
        // The three intervals are non-negative in a sane trace; written as wrapping unsigned
        // differences they cost one bit less than zigzag, and a negative one still
        // round-trips (in 10 bytes).
        put_varint(buf, c.started.wrapping_sub(c.runnable));
        put_varint(buf, c.runnable.wrapping_sub(c.queued));
        let wall = c.ended.wrapping_sub(c.started);
        put_varint(buf, wall);
        if let Some(cpu) = c.cpu {
            // CPU time is close to wall time for the long handlers it is measured for, and
            // may exceed it a little (two clocks): zigzag.
            put_varint(buf, delta(wall, cpu));
        }
        self.state.callback_seen(c.worker, c.id, c.started);
    }

    #[inline]
    fn encode_access(&mut self, a: &AccessRecord, buf: &mut Vec<u8>) {
        let (same, write_worker) = self.worker_flag(a.worker, access::SAME_WORKER);
        let mut flags = same;
        if a.write {
            flags |= access::WRITE;
        }
        if a.contended {
            flags |= access::CONTENDED;
        }
        if a.key.is_some() {
            flags |= access::KEY;
        }
        if a.holder.is_some() {
            flags |= access::HOLDER;
        }
        buf.push(tag::ACCESS | flags);
        if write_worker {
            put_varint(buf, a.worker as u64);
        }
        let base = self.state.base(a.worker);
        put_varint(buf, delta(a.callback, base.id));
        put_varint(buf, a.handler as u64);
        put_varint(buf, a.state as u64);
        if let Some(key) = a.key {
            put_varint(buf, key);
        }
        put_varint(buf, delta(a.at, base.time));
        put_varint(buf, a.wait);
        put_varint(buf, a.held);
        if let Some(holder) = a.holder {
            put_varint(buf, holder as u64);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decoder

/// Where in a chunk decoding failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChunkBad {
    /// Index of the record in the chunk.
    pub(crate) record: u64,
    /// Byte offset of that record in the payload.
    pub(crate) at: usize,
    pub(crate) bad: Bad,
}

/// Reads chunk payloads back into records. Holds its tables across chunks.
pub(crate) struct Decoder {
    state: ChunkState,
    /// The chunk's color table, in order of first use.
    colors: Vec<u64>,
}

impl Decoder {
    pub(crate) fn new() -> Decoder {
        Decoder {
            state: ChunkState::new(),
            colors: Vec::new(),
        }
    }

    /// Decodes a whole payload that should hold `expected` records and appends them to
    /// `out`. On error `out` is left as it was: a bad chunk yields no records.
    pub(crate) fn decode_chunk(
        &mut self,
        payload: &[u8],
        expected: u32,
        out: &mut VecDeque<Record>,
    ) -> Result<(), ChunkBad> {
        self.state.reset();
        self.colors.clear();
        let start_len = out.len();
        let mut c = Cursor::new(payload);
        let mut n: u64 = 0;
        while !c.is_empty() {
            let at = c.pos();
            let fail = |bad| ChunkBad { record: n, at, bad };
            if n == expected as u64 {
                out.truncate(start_len);
                return Err(fail(Bad::Trailing(c.remaining())));
            }
            match self.decode_record(&mut c) {
                Ok(r) => out.push_back(r),
                Err(bad) => {
                    out.truncate(start_len);
                    return Err(fail(bad));
                }
            }
            n += 1;
        }
        if n != expected as u64 {
            out.truncate(start_len);
            return Err(ChunkBad {
                record: n,
                at: c.pos(),
                bad: Bad::Eof,
            });
        }
        Ok(())
    }

    #[inline(always)]
    fn color(&mut self, c: &mut Cursor<'_>) -> Result<u64, Bad> {
        let r = c.varint()?;
        if r == 0 {
            let color = c.u64_le()?;
            self.colors.push(color);
            Ok(color)
        } else {
            self.colors
                .get((r - 1) as usize)
                .copied()
                .ok_or(Bad::ColorRef(r))
        }
    }

    #[inline(always)]
    fn worker(&mut self, c: &mut Cursor<'_>, same: bool) -> Result<u16, Bad> {
        if !same {
            self.state.worker = c.varint_u16("worker")?;
        }
        Ok(self.state.worker)
    }

    #[inline(always)]
    fn decode_record(&mut self, c: &mut Cursor<'_>) -> Result<Record, Bad> {
        let kind = c.u8()?;
        if kind & tag::CALLBACK != 0 {
            return self
                .decode_callback(c, kind & !tag::CALLBACK)
                .map(Record::Callback);
        }
        if kind & tag::ACCESS != 0 {
            return self
                .decode_access(c, kind & !tag::ACCESS)
                .map(Record::Access);
        }
        Ok(match kind {
            tag::NAME => {
                let code = c.u8()?;
                Record::Name(Name {
                    kind: name_kind(code).ok_or(Bad::Enum("name kind", code as u64))?,
                    id: c.varint_u32("name id")?,
                    name: c.str()?,
                })
            }
            tag::PANIC => Record::Panic(PanicRecord {
                callback: undelta(c.varint()?, self.state.global.id),
                handler: c.varint_u32("handler id")?,
                color: self.color(c)?,
                at: undelta(c.varint()?, self.state.global.time),
                message: c.str()?,
            }),
            tag::BLOCKING => {
                let callback = undelta(c.varint()?, self.state.global.id);
                let handler = c.varint_u32("handler id")?;
                let wall = c.varint()?;
                let cpu = wall.wrapping_sub(unzigzag(c.varint()?) as u64);
                Record::Blocking(BlockingRecord {
                    callback,
                    handler,
                    wall,
                    cpu,
                })
            }
            tag::SAMPLE => {
                let worker = c.varint_u16("worker")?;
                let start = undelta(c.varint()?, self.state.base(worker).time);
                Record::Sample(WorkerSample {
                    worker,
                    start,
                    end: start.wrapping_add(c.varint()?),
                    busy: c.varint()?,
                    parked: c.varint()?,
                    callbacks: c.varint()?,
                    steals: c.varint()?,
                    cpu: c.varint()?,
                })
            }
            tag::EVENT => {
                let callback = undelta(c.varint()?, self.state.global.id);
                let at = undelta(c.varint()?, self.state.global.time);
                let code = c.u8()?;
                Record::Event(EventRecord {
                    callback,
                    at,
                    kind: event_kind(code).ok_or(Bad::Enum("event kind", code as u64))?,
                    level: c.u8()?,
                    name: c.varint_u32("event name id")?,
                    message: c.str()?,
                })
            }
            tag::DROPS => Record::Drops(DropRecord {
                worker: c.varint_u16("worker")?,
                records: c.varint()?,
            }),
            other => return Err(Bad::RecordKind(other)),
        })
    }

    #[inline(always)]
    fn decode_callback(&mut self, c: &mut Cursor<'_>, flags: u8) -> Result<CallbackRecord, Bad> {
        if flags & callback::RESERVED != 0 {
            return Err(Bad::ReservedBits(flags));
        }
        let worker = self.worker(c, flags & callback::SAME_WORKER != 0)?;
        let base = self.state.base(worker);
        let id = undelta(c.varint()?, base.id);
        let parent = if flags & callback::PARENT != 0 {
            Some(id.wrapping_sub(unzigzag(c.varint()?) as u64))
        } else {
            None
        };
        let handler = c.varint_u32("handler id")?;
        let color = self.color(c)?;
        let key = if flags & callback::KEY != 0 {
            Some(c.varint()?)
        } else {
            None
        };
        let started = undelta(c.varint()?, base.time);
        let runnable = started.wrapping_sub(c.varint()?);
        let queued = runnable.wrapping_sub(c.varint()?);
        let wall = c.varint()?;
        let ended = started.wrapping_add(wall);
        let cpu = if flags & callback::CPU != 0 {
            Some(wall.wrapping_sub(unzigzag(c.varint()?) as u64))
        } else {
            None
        };
        self.state.callback_seen(worker, id, started);
        Ok(CallbackRecord {
            id,
            parent,
            origin: origin(flags & callback::ORIGIN),
            handler,
            color,
            key,
            worker,
            queued,
            runnable,
            started,
            ended,
            cpu,
        })
    }

    #[inline]
    fn decode_access(&mut self, c: &mut Cursor<'_>, flags: u8) -> Result<AccessRecord, Bad> {
        if flags & access::RESERVED != 0 {
            return Err(Bad::ReservedBits(flags));
        }
        let worker = self.worker(c, flags & access::SAME_WORKER != 0)?;
        let base = self.state.base(worker);
        let callback = undelta(c.varint()?, base.id);
        let handler = c.varint_u32("handler id")?;
        let state = c.varint_u32("state id")?;
        let key = if flags & access::KEY != 0 {
            Some(c.varint()?)
        } else {
            None
        };
        let at = undelta(c.varint()?, base.time);
        let wait = c.varint()?;
        let held = c.varint()?;
        let holder = if flags & access::HOLDER != 0 {
            Some(c.varint_u32("holder handler id")?)
        } else {
            None
        };
        Ok(AccessRecord {
            callback,
            handler,
            state,
            key,
            worker,
            write: flags & access::WRITE != 0,
            at,
            wait,
            held,
            contended: flags & access::CONTENDED != 0,
            holder,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Enum codes. The matches are exhaustive inside the crate, so a new variant of a
// `#[non_exhaustive]` enum fails to compile here until the format says how to write it.

fn origin_code(o: Origin) -> u8 {
    match o {
        Origin::Callback => 0,
        Origin::Outside => 1,
        Origin::Io => 2,
        Origin::Timer => 3,
    }
}

fn origin(code: u8) -> Origin {
    match code & callback::ORIGIN {
        0 => Origin::Callback,
        1 => Origin::Outside,
        2 => Origin::Io,
        _ => Origin::Timer,
    }
}

fn name_kind_code(k: NameKind) -> u8 {
    match k {
        NameKind::Handler => 0,
        NameKind::State => 1,
        NameKind::Event => 2,
    }
}

fn name_kind(code: u8) -> Option<NameKind> {
    Some(match code {
        0 => NameKind::Handler,
        1 => NameKind::State,
        2 => NameKind::Event,
        _ => return None,
    })
}

fn event_kind_code(k: EventKind) -> u8 {
    match k {
        EventKind::Event => 0,
        EventKind::Enter => 1,
        EventKind::Exit => 2,
    }
}

fn event_kind(code: u8) -> Option<EventKind> {
    Some(match code {
        0 => EventKind::Event,
        1 => EventKind::Enter,
        2 => EventKind::Exit,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_machine_sample_written_before_the_cpu_wait_was_appended_reads_without_it() {
        let m = MachineSample {
            at: 5,
            process_cpu: 7,
            machine_cpu: Some(11),
            cores: 2,
            workers_cpu_wait: Some(13),
        };
        let mut buf = Vec::new();
        encode_machine(&m, &mut buf);
        assert_eq!(decode_machine(&buf), Ok(m));
        let none = MachineSample {
            workers_cpu_wait: None,
            ..m
        };
        let mut old = Vec::new();
        encode_machine(&none, &mut old);
        assert_eq!(decode_machine(&old), Ok(none));
        // The older writer's payload ended at `cores`.
        old.pop();
        assert_eq!(decode_machine(&old), Ok(none));
    }

    /// The color costs round-trip, 0 ns included; a header written before they were appended
    /// (ending at `cores`) or before the scheduler fields (ending at `policy`) reads them as
    /// not recorded. Fails if "not recorded" is written as 0, or if the old length is read
    /// past.
    #[test]
    fn color_costs_round_trip_and_an_older_header_reads_without_them() {
        let h = Header {
            version: 1,
            start_unix_ns: 9,
            ticks_per_sec: 3e9,
            workers: 2,
            program: "p".into(),
            policy: String::new(),
            batch: Some(64),
            stealing: Some(true),
            cores: Some(2),
            color_cost_ns: Some(0),
            handoff_ns: Some(31_000),
        };
        let mut buf = Vec::new();
        encode_header(&h, &mut buf);
        assert_eq!(decode_header(&buf), Ok(h.clone()));
        let one = Header {
            handoff_ns: None,
            ..h.clone()
        };
        let mut one_buf = Vec::new();
        encode_header(&one, &mut one_buf);
        assert_eq!(decode_header(&one_buf), Ok(one));
        let unmeasured = Header {
            color_cost_ns: None,
            handoff_ns: None,
            ..h.clone()
        };
        let mut old = Vec::new();
        encode_header(&unmeasured, &mut old);
        // Unmeasured, the header is what the older writer wrote: it ends at `cores`.
        buf.truncate(buf.len() - 16);
        assert_eq!(old, buf);
        assert_eq!(decode_header(&buf), Ok(unmeasured.clone()));
        // And before that, at `policy`.
        buf.truncate(buf.len() - 7);
        assert_eq!(
            decode_header(&buf),
            Ok(Header {
                batch: None,
                stealing: None,
                cores: None,
                ..unmeasured
            })
        );
    }

    fn callback(worker: u16, id: u64, started: u64) -> CallbackRecord {
        CallbackRecord {
            id,
            parent: Some(id - 3),
            origin: Origin::Callback,
            handler: 2,
            color: 0x1234_5678_9abc_def0,
            key: Some(17),
            worker,
            queued: started - 900,
            runnable: started - 400,
            started,
            ended: started + 2_500,
            cpu: None,
        }
    }

    fn encode_chunk(records: &[Record]) -> Vec<u8> {
        let mut enc = Encoder::new();
        enc.begin_chunk();
        let mut buf = Vec::new();
        for r in records {
            enc.encode(r, &mut buf);
        }
        buf
    }

    fn decode(payload: &[u8], expected: u32) -> Result<Vec<Record>, ChunkBad> {
        let mut out = VecDeque::new();
        Decoder::new().decode_chunk(payload, expected, &mut out)?;
        Ok(out.into())
    }

    #[test]
    fn a_repeated_color_is_written_once_per_chunk() {
        let a = Record::Callback(callback(1, 100, 1_000_000));
        let b = Record::Callback(callback(1, 101, 1_003_000));
        let one = encode_chunk(std::slice::from_ref(&a)).len();
        let two = encode_chunk(&[a.clone(), b.clone()]).len();
        // The second record names the color by a one-byte reference and repeats no worker.
        assert!(two - one <= one - 8, "{one} then {two}");
        assert_eq!(
            decode(&encode_chunk(&[a.clone(), b.clone()]), 2),
            Ok(vec![a, b])
        );
    }

    #[test]
    fn interleaved_workers_keep_their_own_bases() {
        let records: Vec<Record> = (0..20u64)
            .map(|i| {
                let w = (i % 2) as u16;
                Record::Callback(callback(
                    w,
                    (w as u64) << 40 | (i + 10),
                    5_000_000 + i * 1_000,
                ))
            })
            .collect();
        let bytes = encode_chunk(&records);
        assert_eq!(decode(&bytes, 20), Ok(records));
        // Worker-striped ids stay small deltas because each worker has its own base.
        assert!(bytes.len() < 20 * 24, "{} bytes", bytes.len());
    }

    #[test]
    fn count_mismatches_are_errors() {
        let a = Record::Drops(DropRecord {
            worker: 1,
            records: 5,
        });
        let bytes = encode_chunk(&[a.clone(), a]);
        assert_eq!(decode(&bytes, 1).unwrap_err().bad, Bad::Trailing(3));
        assert_eq!(decode(&bytes, 3).unwrap_err().bad, Bad::Eof);
    }

    #[test]
    fn record_size() {
        // The memory bound documented on MAX_CHUNK_RECORDS assumes this size.
        assert!(
            std::mem::size_of::<Record>() <= 104,
            "{}",
            std::mem::size_of::<Record>()
        );
    }

    #[test]
    fn zeros_are_not_records() {
        assert_eq!(decode(&[0; 8], 1).unwrap_err().bad, Bad::RecordKind(0));
    }

    #[test]
    fn a_bad_color_reference_is_an_error() {
        let mut bytes = encode_chunk(&[Record::Callback(callback(0, 10, 10_000))]);
        // Callback kind byte, id delta, parent delta, handler, then the color reference.
        assert_eq!(bytes[4], 0);
        bytes[4] = 5;
        assert_eq!(decode(&bytes, 1).unwrap_err().bad, Bad::ColorRef(5));
    }

    proptest! {
        /// A decoder never panics and never yields records for a payload it rejects.
        #[test]
        fn arbitrary_payloads_never_panic(bytes: Vec<u8>, expected in 0u32..64) {
            let mut out = VecDeque::new();
            let mut dec = Decoder::new();
            if dec.decode_chunk(&bytes, expected, &mut out).is_err() {
                prop_assert!(out.is_empty());
            } else {
                prop_assert_eq!(out.len(), expected as usize);
            }
        }

        /// Damage inside a valid payload (which a matching checksum would not catch, say a
        /// writer bug) is an error or a different decoding, never a panic.
        #[test]
        fn damaged_payloads_never_panic(at in any::<prop::sample::Index>(), byte: u8) {
            let records: Vec<Record> = (0..8u64)
                .map(|i| Record::Callback(callback((i % 3) as u16, 10 + i, 1_000_000 + i * 777)))
                .collect();
            let mut bytes = encode_chunk(&records);
            let i = at.index(bytes.len());
            bytes[i] = byte;
            let _ = decode(&bytes, 8);
        }
    }
}
