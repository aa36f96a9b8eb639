//! The `.hue` file format: round trips, size, torn and corrupt files, hostile input, and the
//! checked-in trace that must stay readable (`tests/data/v1.hue`).
//!
//! To write the checked-in trace of a new format version (only when adding that version's
//! file; it refuses to overwrite one that exists, and the test that reads an old one never
//! writes it):
//!
//! ```text
//! cargo test -p hue-formats --test trace_format write_the_current_versions_fixture -- --ignored
//! ```

use std::io::{self, Write};
use std::path::PathBuf;

use hue_formats::trace::*;
use proptest::prelude::*;

use hue_testkit as synthetic;

// ---------------------------------------------------------------------------------------------
// Helpers

fn header() -> Header {
    Header {
        version: FORMAT_VERSION,
        start_unix_ns: 1_754_000_000_123_456_789,
        ticks_per_sec: 2_994_231_000.5,
        workers: 4,
        program: "hue demo --workload fileserver".to_owned(),
        policy: "[handlers]\nencrypt = \"by-key\"\n".to_owned(),
        batch: Some(64),
        stealing: Some(true),
        cores: Some(2),
    }
}

/// A trace of `batches` (one `write_batch` each) and the byte offset where each batch's
/// chunks end.
fn write(header: &Header, batches: &[Vec<Record>]) -> (Vec<u8>, Vec<u64>) {
    let mut file = Vec::new();
    let mut ends = Vec::new();
    let mut w = TraceWriter::new(&mut file, header).unwrap();
    for b in batches {
        w.write_batch(b).unwrap();
        ends.push(w.bytes_written());
    }
    let len = w.finish().unwrap();
    assert_eq!(len, file.len() as u64);
    (file, ends)
}

/// What reading a file gives: its records up to the first error, the error, and whether
/// the file was complete.
#[derive(Debug)]
struct Read {
    records: Vec<Record>,
    error: Option<TraceError>,
    complete: bool,
}

fn read(bytes: &[u8]) -> Result<Read, TraceError> {
    let mut reader = TraceReader::with_name(bytes, "trace.hue")?;
    let mut records = Vec::new();
    let mut error = None;
    for r in reader.by_ref() {
        match r {
            Ok(r) => records.push(r),
            Err(e) => {
                assert!(error.is_none(), "a second error: {e}");
                error = Some(e);
            }
        }
    }
    assert_eq!(reader.summary().records, records.len() as u64);
    Ok(Read {
        records,
        error,
        complete: reader.complete(),
    })
}

fn callback(worker: u16, id: u64, started: u64) -> CallbackRecord {
    CallbackRecord {
        id,
        parent: Some(id.saturating_sub(2)),
        origin: Origin::Callback,
        handler: 1,
        color: synthetic::color_of(id % 3),
        key: Some(id % 3),
        worker,
        queued: started - 500,
        runnable: started - 200,
        started,
        ended: started + 4_000,
        cpu: None,
    }
}

/// Three batches of different kinds: three record chunks.
fn small_trace() -> Vec<Vec<Record>> {
    let names = vec![
        Record::Name(Name {
            kind: NameKind::Handler,
            id: 1,
            name: "accept".into(),
        }),
        Record::Name(Name {
            kind: NameKind::State,
            id: 0,
            name: "sessions".into(),
        }),
    ];
    let w0 = (0..6)
        .map(|i| Record::Callback(callback(0, 10 + i, 100_000 + i * 5_000)))
        .collect();
    let mut w1: Vec<Record> = (0..4)
        .map(|i| Record::Callback(callback(1, 50 + i, 120_000 + i * 5_000)))
        .collect();
    w1.push(Record::Drops(DropRecord {
        worker: 1,
        records: 7,
    }));
    vec![names, w0, w1]
}

fn records_of(batches: &[Vec<Record>]) -> Vec<Record> {
    batches.iter().flatten().cloned().collect()
}

// ---------------------------------------------------------------------------------------------
// Round trips

fn small_u64() -> impl Strategy<Value = u64> {
    prop_oneof![0..2_000u64, any::<u64>()]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), ".{0,24}"]
}

fn origin() -> impl Strategy<Value = Origin> {
    prop_oneof![
        Just(Origin::Callback),
        Just(Origin::Outside),
        Just(Origin::Io),
        Just(Origin::Timer)
    ]
}

fn callback_record() -> impl Strategy<Value = CallbackRecord> {
    (
        (
            small_u64(),
            prop::option::of(small_u64()),
            origin(),
            any::<u32>(),
        ),
        (small_u64(), prop::option::of(small_u64()), any::<u16>()),
        (small_u64(), small_u64(), small_u64(), small_u64()),
        prop::option::of(small_u64()),
    )
        .prop_map(
            |(
                (id, parent, origin, handler),
                (color, key, worker),
                (queued, runnable, started, ended),
                cpu,
            )| CallbackRecord {
                id,
                parent,
                origin,
                handler,
                color,
                key,
                worker,
                queued,
                runnable,
                started,
                ended,
                cpu,
            },
        )
}

fn access_record() -> impl Strategy<Value = AccessRecord> {
    (
        (
            small_u64(),
            any::<u32>(),
            any::<u32>(),
            prop::option::of(small_u64()),
        ),
        (
            any::<u16>(),
            any::<bool>(),
            small_u64(),
            small_u64(),
            small_u64(),
        ),
        (any::<bool>(), prop::option::of(any::<u32>())),
    )
        .prop_map(
            |(
                (callback, handler, state, key),
                (worker, write, at, wait, held),
                (contended, holder),
            )| {
                AccessRecord {
                    callback,
                    handler,
                    state,
                    key,
                    worker,
                    write,
                    at,
                    wait,
                    held,
                    contended,
                    holder,
                }
            },
        )
}

fn record() -> impl Strategy<Value = Record> {
    prop_oneof![
        1 => (
            prop_oneof![
                Just(NameKind::Handler),
                Just(NameKind::State),
                Just(NameKind::Event)
            ],
            any::<u32>(),
            text()
        )
            .prop_map(|(kind, id, name)| Record::Name(Name { kind, id, name })),
        4 => callback_record().prop_map(Record::Callback),
        2 => access_record().prop_map(Record::Access),
        1 => (small_u64(), any::<u32>(), small_u64(), small_u64(), text()).prop_map(
            |(callback, handler, color, at, message)| Record::Panic(PanicRecord {
                callback,
                handler,
                color,
                at,
                message
            })
        ),
        1 => (small_u64(), any::<u32>(), small_u64(), small_u64()).prop_map(
            |(callback, handler, wall, cpu)| Record::Blocking(BlockingRecord {
                callback,
                handler,
                wall,
                cpu
            })
        ),
        1 => (
            any::<u16>(),
            (small_u64(), small_u64(), small_u64(), small_u64()),
            (small_u64(), small_u64(), small_u64())
        )
            .prop_map(|(worker, (start, end, busy, parked), (callbacks, steals, cpu))| {
                Record::Sample(WorkerSample {
                    worker,
                    start,
                    end,
                    busy,
                    parked,
                    callbacks,
                    steals,
                    cpu,
                })
            }),
        1 => (
            small_u64(),
            small_u64(),
            prop_oneof![
                Just(EventKind::Event),
                Just(EventKind::Enter),
                Just(EventKind::Exit)
            ],
            any::<u8>(),
            any::<u32>(),
            text()
        )
            .prop_map(|(callback, at, kind, level, name, message)| {
                Record::Event(EventRecord {
                    callback,
                    at,
                    kind,
                    level,
                    name,
                    message,
                })
            }),
        1 => (any::<u16>(), small_u64())
            .prop_map(|(worker, records)| Record::Drops(DropRecord { worker, records })),
    ]
}

fn any_header() -> impl Strategy<Value = Header> {
    (
        (any::<u64>(), 0.0..1e12f64, any::<u16>(), text(), text()),
        (
            proptest::option::of(1..u32::MAX),
            proptest::option::of(any::<bool>()),
            proptest::option::of(1..u16::MAX),
        ),
    )
        .prop_map(
            |(
                (start_unix_ns, ticks_per_sec, workers, program, policy),
                (batch, stealing, cores),
            )| {
                Header {
                    version: FORMAT_VERSION,
                    start_unix_ns,
                    ticks_per_sec,
                    workers,
                    program,
                    policy,
                    batch,
                    stealing,
                    cores,
                }
            },
        )
}

proptest! {
    /// Whatever is written is read back: every record kind, every field value.
    #[test]
    fn every_record_round_trips(
        header in any_header(),
        batches in prop::collection::vec(prop::collection::vec(record(), 0..40), 0..5),
    ) {
        let (file, _) = write(&header, &batches);
        let mut reader = TraceReader::new(&file[..]).unwrap();
        prop_assert_eq!(reader.header(), &header);
        let back: Vec<Record> = reader.by_ref().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(back, records_of(&batches));
        prop_assert!(reader.complete());
        let s = reader.summary();
        prop_assert_eq!(s.chunks, batches.iter().filter(|b| !b.is_empty()).count() as u64);
        prop_assert_eq!(s.bytes, file.len() as u64);
    }

    /// Random bytes, random bytes after a valid start, and damaged traces: an error or
    /// records, never a panic.
    #[test]
    fn hostile_input_never_panics(
        noise in prop::collection::vec(any::<u8>(), 0..600),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let _ = read(&noise);

        let mut prefixed = b"\x89HUE\r\n\x1a\n\x01\x00".to_vec();
        prefixed.extend_from_slice(&noise);
        let _ = read(&prefixed);

        let (file, _) = write(&header(), &small_trace());
        let mut damaged = file.clone();
        for (at, byte) in &flips {
            let i = at.index(damaged.len());
            damaged[i] = *byte;
        }
        damaged.truncate(cut.index(damaged.len() + 1));
        if let Ok(r) = read(&damaged) {
            // Whatever came back is a prefix of what was written.
            let all = records_of(&small_trace());
            prop_assert!(all.starts_with(&r.records));
        }
    }
}

#[test]
fn long_strings_are_cut_at_the_limit() {
    let message = "x".repeat(MAX_STRING_BYTES + 10);
    let panic = Record::Panic(PanicRecord {
        callback: 1,
        handler: 0,
        color: 0,
        at: 5,
        message,
    });
    let (file, _) = write(&header(), &[vec![panic]]);
    let r = read(&file).unwrap();
    match &r.records[..] {
        [Record::Panic(p)] => assert_eq!(p.message.len(), MAX_STRING_BYTES),
        other => panic!("{other:?}"),
    }
}

#[test]
fn big_batches_are_split_into_several_chunks() {
    let batches = synthetic::callback_batches(200_000, 1, 1000, 200_000);
    assert_eq!(batches.len(), 1);
    let (file, _) = write(&header(), &batches);
    let mut reader = TraceReader::new(&file[..]).unwrap();
    let back: Vec<Record> = reader.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(back, records_of(&batches));
    assert!(reader.summary().chunks >= 3, "{}", reader.summary());
}

// ---------------------------------------------------------------------------------------------
// Size

/// Issue 4: `full` writes at most 32 bytes per callback record on average.
#[test]
fn callback_records_average_at_most_32_bytes() {
    const N: usize = 100_000;
    let batches = synthetic::callback_batches(N, 4, 1000, 2048);
    let (file, _) = write(&header(), &batches);
    let per_record = file.len() as f64 / N as f64;
    eprintln!(
        "{N} callbacks, 4 workers, 1000 colors, batches of 2048: {} bytes, {per_record:.2} bytes per callback",
        file.len()
    );
    assert!(per_record <= 32.0, "{per_record:.2} bytes per callback");
    assert_eq!(read(&file).unwrap().records.len(), N);
}

// ---------------------------------------------------------------------------------------------
// Torn and corrupt files

/// A file cut at any byte gives the records of every chunk that ends before the cut, then a
/// `Truncated` error at the offset of the first chunk it lacks.
#[test]
fn a_file_cut_anywhere_gives_its_whole_chunks_and_says_where() {
    let batches = small_trace();
    let (file, ends) = write(&header(), &batches);
    let header_end = header_end();
    for cut in 0..file.len() {
        let got = read(&file[..cut]);
        let (records, error) = match got {
            Ok(r) => {
                assert!(!r.complete, "cut at {cut}");
                (r.records, r.error.expect("an error"))
            }
            Err(e) => (Vec::new(), e),
        };
        assert_eq!(
            error.kind(),
            TraceErrorKind::Truncated,
            "cut at {cut}: {error}"
        );
        let whole = ends.iter().filter(|&&end| end <= cut as u64).count();
        assert_eq!(records, records_of(&batches[..whole]), "cut at {cut}");
        let expected_at = match cut as u64 {
            0..10 => 0,
            c if c < header_end => 10,
            _ if whole == 0 => header_end,
            _ => ends[whole - 1],
        };
        assert_eq!(error.offset(), Some(expected_at), "cut at {cut}: {error}");
        assert!(error.to_string().contains("trace.hue"), "{error}");
    }
    let r = read(&file).unwrap();
    assert!(r.complete && r.error.is_none());
}

/// A changed byte anywhere after the magic and version is caught by a checksum: the chunk is
/// reported corrupt at its offset and the chunks before it are returned.
#[test]
fn a_changed_byte_is_corrupt_and_the_chunks_before_it_are_kept() {
    let batches = small_trace();
    let (file, ends) = write(&header(), &batches);
    let header_end = header_end();
    for at in 0..file.len() {
        let mut bad = file.clone();
        bad[at] ^= 0x20;
        let got = read(&bad);
        let (records, error) = match got {
            Ok(r) => (r.records, r.error.expect("an error")),
            Err(e) => (Vec::new(), e),
        };
        let expected_kind = match at {
            0..8 => TraceErrorKind::NotATrace,
            8..10 => TraceErrorKind::Version,
            _ => TraceErrorKind::Corrupt,
        };
        assert_eq!(error.kind(), expected_kind, "byte {at}: {error}");
        let before = ends.iter().filter(|&&end| end <= at as u64).count();
        assert_eq!(records, records_of(&batches[..before]), "byte {at}");
        if at >= 10 {
            let chunk_at = if (at as u64) < header_end {
                10
            } else if before == 0 {
                header_end
            } else {
                ends[before - 1]
            };
            assert_eq!(error.offset(), Some(chunk_at), "byte {at}: {error}");
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("trace.hue: chunk at byte {chunk_at} is corrupt: ")),
                "{error}"
            );
        }
    }
}

/// Where the header chunk ends: the offset of the first records chunk.
fn header_end() -> u64 {
    let mut buf = Vec::new();
    TraceWriter::new(&mut buf, &header())
        .unwrap()
        .bytes_written()
}

#[test]
fn error_messages_name_the_file_the_offset_and_the_problem() {
    let batches = small_trace();
    let (file, ends) = write(&header(), &batches);

    // Torn inside the second records chunk.
    let cut = ends[1] as usize + 30;
    let e = read(&file[..cut]).unwrap().error.unwrap();
    let chunk_len = ends[2] - ends[1];
    assert_eq!(
        e.to_string(),
        format!(
            "trace.hue: chunk at byte {} is truncated (expected {chunk_len} bytes, found 30)",
            ends[1]
        )
    );

    // Cut exactly between chunks: no end marker.
    let e = read(&file[..ends[2] as usize]).unwrap().error.unwrap();
    assert_eq!(e.kind(), TraceErrorKind::Truncated);
    assert_eq!(
        e.to_string(),
        format!(
            "trace.hue: the file ends at byte {} without an end marker: its writer did not \
             finish (13 records in 3 chunks were read)",
            ends[2]
        )
    );

    // A changed payload byte.
    let mut bad = file.clone();
    bad[ends[0] as usize + 20] ^= 1;
    let e = read(&bad).unwrap().error.unwrap();
    assert!(
        e.to_string().starts_with(&format!(
            "trace.hue: chunk at byte {} is corrupt: checksum mismatch (stored 0x",
            ends[0]
        )),
        "{e}"
    );

    // A newer version.
    let mut newer = file.clone();
    newer[8] = 7;
    let e = read(&newer).unwrap_err();
    assert_eq!(e.kind(), TraceErrorKind::Version);
    assert_eq!(
        e.to_string(),
        format!("trace.hue is format version 7; this hue reads versions 1..={FORMAT_VERSION}")
    );

    // Not a trace at all.
    let e = read(b"\x7fELF\x02\x01\x01\x00\x00\x00\x00").unwrap_err();
    assert_eq!(e.kind(), TraceErrorKind::NotATrace);
    assert_eq!(
        e.to_string(),
        "trace.hue is not a hue trace: it starts with 7f 45 4c 46 02 01 01 00, \
         not the .hue magic 89 48 55 45 0d 0a 1a 0a"
    );

    // Empty.
    let e = read(b"").unwrap_err();
    assert_eq!(e.kind(), TraceErrorKind::Truncated);
    assert_eq!(
        e.to_string(),
        "trace.hue is empty: it holds no trace header"
    );
}

/// Builds a frame as FORMAT.md describes it, to hand the reader chunks no writer makes.
fn frame(kind: u8, payload: &[u8], records: u32, declared_len: u32) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&declared_len.to_le_bytes());
    out.extend_from_slice(&records.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    let check = crc32fast::hash(&out);
    out.extend_from_slice(&check.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The file up to (not including) its end marker, and the end marker.
fn split_end(file: &[u8]) -> (Vec<u8>, Vec<u8>) {
    // The end marker of a small trace is a 17-byte frame and a 2-byte payload.
    let at = file.len() - 19;
    assert_eq!(file[at], b'E');
    (file[..at].to_vec(), file[at..].to_vec())
}

#[test]
fn a_huge_declared_length_is_refused_before_allocating() {
    let (file, _) = write(&header(), &small_trace());
    let (mut body, _) = split_end(&file);
    let at = body.len() as u64;
    body.extend_from_slice(&frame(b'R', &[], 1, u32::MAX));
    let e = read(&body).unwrap().error.unwrap();
    assert_eq!(e.kind(), TraceErrorKind::Corrupt);
    assert_eq!(
        e.to_string(),
        format!(
            "trace.hue: chunk at byte {at} is corrupt: it declares 4294967295 bytes, more than \
             the 64 MiB a chunk may hold"
        )
    );

    // Within the limit but longer than the file: truncated, and the buffer only grew with
    // the bytes that arrived.
    let (mut body, _) = split_end(&file);
    body.extend_from_slice(&frame(b'R', &[], 1, MAX_CHUNK_BYTES));
    body.extend_from_slice(&[0; 100]);
    let e = read(&body).unwrap().error.unwrap();
    assert_eq!(e.kind(), TraceErrorKind::Truncated, "{e}");
    assert!(
        e.to_string().ends_with(&format!(
            "is truncated (expected {} bytes, found 117)",
            MAX_CHUNK_BYTES as u64 + 17
        )),
        "{e}"
    );
}

#[test]
fn unknown_chunks_are_skipped_if_ancillary_and_refused_if_critical() {
    let batches = small_trace();
    let (file, _) = write(&header(), &batches);
    let (body, end) = split_end(&file);

    let mut with_ancillary = body.clone();
    with_ancillary.extend_from_slice(&frame(0x9a, b"an optional extra", 0, 17));
    with_ancillary.extend_from_slice(&end);
    let r = read(&with_ancillary).unwrap();
    assert!(r.error.is_none() && r.complete);
    assert_eq!(r.records, records_of(&batches));

    let mut with_critical = body.clone();
    let at = body.len();
    with_critical.extend_from_slice(&frame(b'Q', b"??", 0, 2));
    with_critical.extend_from_slice(&end);
    let r = read(&with_critical).unwrap();
    assert_eq!(r.records, records_of(&batches));
    assert_eq!(
        r.error.unwrap().to_string(),
        format!(
            "trace.hue: chunk at byte {at} is corrupt: its kind 0x51 is not one this hue knows \
             (is the file from a newer hue?)"
        )
    );
}

#[test]
fn a_chunk_whose_content_does_not_decode_yields_none_of_its_records() {
    let batches = small_trace();
    let (file, _) = write(&header(), &batches);
    let (mut body, end) = split_end(&file);
    // A drops record (kind 0x06, worker 1, 3 records) then a zero byte, which is no record
    // kind, under a valid checksum: as a buggy writer would make it.
    let at = body.len();
    body.extend_from_slice(&frame(b'R', &[0x06, 1, 3, 0x00], 2, 4));
    body.extend_from_slice(&end);
    let r = read(&body).unwrap();
    assert_eq!(r.records, records_of(&batches));
    assert_eq!(
        r.error.unwrap().to_string(),
        format!(
            "trace.hue: chunk at byte {at} is corrupt: record 1 (payload byte 3) cannot be \
             decoded: record kind 0x00 is not defined"
        )
    );
}

#[test]
fn data_after_the_end_marker_is_reported() {
    let (mut file, _) = write(&header(), &small_trace());
    let end = file.len() as u64;
    file.extend_from_slice(b"junk");
    let r = read(&file).unwrap();
    assert_eq!(r.records, records_of(&small_trace()));
    assert!(r.complete);
    let e = r.error.unwrap();
    assert_eq!(e.kind(), TraceErrorKind::Corrupt);
    assert_eq!(e.offset(), Some(end));
}

#[test]
fn an_end_marker_that_disagrees_with_the_file_is_corrupt() {
    let batches = small_trace();
    let (file, ends) = write(&header(), &batches);
    let (_, end) = split_end(&file);
    // Drop the middle chunk: every remaining chunk is intact, the count is not.
    let mut spliced = file[..ends[0] as usize].to_vec();
    spliced.extend_from_slice(&file[ends[1] as usize..ends[2] as usize]);
    spliced.extend_from_slice(&end);
    let r = read(&spliced).unwrap();
    assert!(!r.complete);
    let e = r.error.unwrap();
    assert_eq!(e.kind(), TraceErrorKind::Corrupt);
    assert!(
        e.to_string()
            .contains("end marker says the file holds 13 records in 3 chunks"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// Writer errors

/// Accepts `budget` bytes, then fails every write.
struct FailAfter {
    budget: usize,
}

impl Write for FailAfter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.budget == 0 {
            return Err(io::Error::other("disk full"));
        }
        let n = buf.len().min(self.budget);
        self.budget -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failed_write_is_reported_and_the_writer_takes_nothing_more() {
    let mut w = TraceWriter::with_name(FailAfter { budget: 150 }, "trace.hue", &header()).unwrap();
    let at = w.bytes_written();
    let e = w.write_batch(&small_trace()[1]).unwrap_err();
    assert_eq!(e.kind(), TraceErrorKind::Io);
    assert_eq!(
        e.to_string(),
        format!("trace.hue: writing the chunk at byte {at} failed: disk full")
    );
    let e = w.write_batch(&small_trace()[0]).unwrap_err();
    assert!(e.to_string().contains("an earlier write failed"), "{e}");
    assert!(w.finish().is_err());
}

#[test]
fn an_unwritable_path_names_the_path() {
    let path = std::env::temp_dir()
        .join("hue-no-such-dir")
        .join("x")
        .join("trace.hue");
    let e = TraceWriter::create(&path, &header())
        .err()
        .expect("an error");
    assert_eq!(e.kind(), TraceErrorKind::Io);
    assert!(
        e.to_string().starts_with(&format!(
            "{}: cannot create the trace file: ",
            path.display()
        )),
        "{e}"
    );
    let e = TraceReader::open(&path).err().expect("an error");
    assert_eq!(e.kind(), TraceErrorKind::Io);
    assert!(
        e.to_string()
            .starts_with(&format!("{}: cannot open", path.display())),
        "{e}"
    );
}

#[test]
fn a_file_round_trips_through_the_file_system() {
    let path = std::env::temp_dir().join(format!("hue-trace-format-{}.hue", std::process::id()));
    let batches = small_trace();
    let mut w = TraceWriter::create(&path, &header()).unwrap();
    for b in &batches {
        w.write_batch(b).unwrap();
    }
    let len = w.finish().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
    let mut reader = TraceReader::open(&path).unwrap();
    let back: Vec<Record> = reader.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(back, records_of(&batches));
    assert_eq!(
        reader.summary().to_string(),
        format!("13 records in 3 chunks, {len} bytes (format version 1); complete")
    );
    std::fs::remove_file(&path).unwrap();
}

// ---------------------------------------------------------------------------------------------
// The checked-in trace

/// The records of `tests/data/v1.hue`: every record kind and flag, two workers, a repeated
/// color, extreme values and times that run backwards, in three batches.
fn v1_fixture() -> (Header, Vec<Vec<Record>>) {
    let header = Header {
        version: 1,
        start_unix_ns: 1_754_000_000_000_000_000,
        ticks_per_sec: 2_994_231_000.5,
        workers: 2,
        program: "hue-fixture v1 — ünïcödé".to_owned(),
        policy: "[handlers]\nencrypt = \"by-key\"\n".to_owned(),
        // Written before these fields were appended to the header: a reader says `None`.
        batch: None,
        stealing: None,
        cores: None,
    };
    let color = 0x8bad_f00d_dead_beef;
    let names = vec![
        Record::Name(Name {
            kind: NameKind::Handler,
            id: 0,
            name: "accept".into(),
        }),
        Record::Name(Name {
            kind: NameKind::Handler,
            id: 1,
            name: "encrypt".into(),
        }),
        Record::Name(Name {
            kind: NameKind::State,
            id: 0,
            name: "sessions".into(),
        }),
        Record::Name(Name {
            kind: NameKind::Event,
            id: u32::MAX,
            name: "".into(),
        }),
    ];
    let work = vec![
        Record::Callback(CallbackRecord {
            id: 1,
            parent: None,
            origin: Origin::Io,
            handler: 0,
            color: 0,
            key: Some(7),
            worker: 0,
            queued: 1_000,
            runnable: 1_000,
            started: 1_200,
            ended: 5_200,
            cpu: None,
        }),
        Record::Access(AccessRecord {
            callback: 2,
            handler: 1,
            state: 0,
            key: None,
            worker: 1,
            write: true,
            at: 6_000,
            wait: 0,
            held: 300,
            contended: false,
            holder: None,
        }),
        Record::Access(AccessRecord {
            callback: 3,
            handler: 1,
            state: 0,
            key: Some(7),
            worker: 0,
            write: false,
            at: 6_100,
            wait: 250,
            held: 40,
            contended: true,
            holder: Some(1),
        }),
        Record::Callback(CallbackRecord {
            id: 2,
            parent: Some(1),
            origin: Origin::Callback,
            handler: 1,
            color,
            key: Some(7),
            worker: 1,
            queued: 5_000,
            runnable: 5_300,
            started: 5_900,
            ended: 105_900,
            cpu: Some(99_000),
        }),
        Record::Callback(CallbackRecord {
            id: 3,
            parent: Some(1),
            origin: Origin::Callback,
            handler: 1,
            color,
            key: None,
            worker: 0,
            queued: 5_100,
            runnable: 105_900,
            started: 106_000,
            ended: 107_000,
            cpu: Some(1_100),
        }),
        Record::Event(EventRecord {
            callback: 3,
            at: 106_500,
            kind: EventKind::Event,
            level: 3,
            name: u32::MAX,
            message: "bytes=4096 \"quoted\"".into(),
        }),
        Record::Event(EventRecord {
            callback: 3,
            at: 106_100,
            kind: EventKind::Enter,
            level: 5,
            name: 0,
            message: String::new(),
        }),
        Record::Event(EventRecord {
            callback: 3,
            at: 106_900,
            kind: EventKind::Exit,
            level: 5,
            name: 0,
            message: String::new(),
        }),
    ];
    let edges = vec![
        Record::Callback(CallbackRecord {
            id: u64::MAX,
            parent: Some(0),
            origin: Origin::Timer,
            handler: u32::MAX,
            color: u64::MAX,
            key: Some(u64::MAX),
            worker: u16::MAX,
            // Backwards: ended before started before runnable before queued.
            queued: 900,
            runnable: 800,
            started: 700,
            ended: 0,
            cpu: Some(u64::MAX),
        }),
        Record::Callback(CallbackRecord {
            id: 4,
            parent: None,
            origin: Origin::Outside,
            handler: 0,
            color: 0,
            key: None,
            worker: 1,
            queued: 200_000,
            runnable: 200_000,
            started: 200_010,
            ended: 200_020,
            cpu: None,
        }),
        Record::Panic(PanicRecord {
            callback: 4,
            handler: 0,
            color: 0,
            at: 200_020,
            message: "index out of bounds: the len is 3 but the index is 7".into(),
        }),
        Record::Blocking(BlockingRecord {
            callback: 2,
            handler: 1,
            wall: 100_000,
            cpu: 99_000,
        }),
        Record::Blocking(BlockingRecord {
            callback: 2,
            handler: 1,
            wall: 10,
            cpu: 20,
        }),
        Record::Sample(WorkerSample {
            worker: 0,
            start: 0,
            end: 1_000_000,
            busy: 105_000,
            parked: 800_000,
            callbacks: 2,
            steals: 1,
            cpu: 110_000,
        }),
        Record::Sample(WorkerSample {
            worker: 1,
            start: 0,
            end: 1_000_000,
            busy: 100_010,
            parked: 850_000,
            callbacks: 2,
            steals: 0,
            cpu: 99_500,
        }),
        Record::Drops(DropRecord {
            worker: 1,
            records: 0,
        }),
        Record::Drops(DropRecord {
            worker: 0,
            records: u64::MAX,
        }),
    ];
    (header, vec![names, work, edges])
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// FNV-1a, 64 bits: pins the checked-in file's bytes.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `tests/data/v1.hue` was written by version 1 of the writer and is checked in: any change
/// that makes this hue misread it, or stop reading it, fails here. The test only reads it,
/// and its bytes are pinned: a file rewritten by a later writer (which would make this test
/// check the writer against itself) fails here too. A new format version adds its own
/// `vN.hue` beside it (`write_the_current_versions_fixture`) and a test like this one.
#[test]
fn checked_in_v1_trace_stays_readable() {
    let (header, batches) = v1_fixture();
    let path = data_dir().join("v1.hue");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(
        (bytes.len(), fnv1a(&bytes)),
        (555, 0xaa4e_b413_3677_8b90),
        "tests/data/v1.hue is not the file version 1 wrote: never regenerate it"
    );
    let mut reader = TraceReader::open(&path).unwrap();
    assert_eq!(reader.header(), &header);
    let back: Vec<Record> = reader.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(back, records_of(&batches));
    assert!(reader.complete());
    assert_eq!(reader.summary().chunks, 3);
}

/// Writes `tests/data/v{FORMAT_VERSION}.hue` from the fixture, when a new format version
/// needs its checked-in file (run by hand, see the top of this file). It never overwrites a
/// file: an old version's fixture is what that version wrote, and stays so.
#[test]
#[ignore = "writes tests/data/vN.hue; run by hand when adding a format version"]
fn write_the_current_versions_fixture() {
    let (header, batches) = v1_fixture();
    let path = data_dir().join(format!("v{FORMAT_VERSION}.hue"));
    let mut bytes = Vec::new();
    let mut w = TraceWriter::new(&mut bytes, &header).unwrap();
    for b in &batches {
        w.write_batch(b).unwrap();
    }
    w.finish().unwrap();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}: a checked-in trace is never overwritten",
                path.display()
            )
        });
    file.write_all(&bytes).unwrap();
    eprintln!("wrote {} ({} bytes)", path.display(), bytes.len());
}

/// Machine samples go in ancillary chunks of their own, between the records chunks, and come
/// back in their place; the end marker counts only records-chunk records.
#[test]
fn machine_samples_round_trip_between_records() {
    let sample = |at| {
        Record::Machine(MachineSample {
            at,
            process_cpu: at / 2,
            machine_cpu: (at % 2 == 0).then_some(at * 3),
            cores: 2,
            workers_cpu_wait: (at % 3 == 0).then_some(at / 4),
        })
    };
    let drops = |n| {
        Record::Drops(DropRecord {
            worker: 1,
            records: n,
        })
    };
    let batches = vec![
        vec![drops(1), sample(10), drops(2)],
        vec![sample(21)],
        vec![drops(3), sample(u64::MAX / 4)],
    ];
    let mut bytes = Vec::new();
    let mut w = TraceWriter::new(&mut bytes, &header()).unwrap();
    for b in &batches {
        w.write_batch(b).unwrap();
    }
    w.finish().unwrap();
    let mut reader = TraceReader::new(&bytes[..]).unwrap();
    assert_eq!(reader.header(), &header());
    let back: Vec<Record> = reader.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(back, records_of(&batches));
    assert!(reader.complete());
}

/// `for_each_record` hands out exactly what `next_record` returns, in order, and stops at the
/// same error with the same summary, at every cut of a file.
#[test]
fn for_each_record_matches_next_record_at_every_cut() {
    let drops = |w: u16, n: u64| {
        Record::Drops(DropRecord {
            worker: w,
            records: n,
        })
    };
    let batches: Vec<Vec<Record>> = (0..4u64)
        .map(|b| (0..5).map(|i| drops((i % 2) as u16, b * 10 + i)).collect())
        .collect();
    let (file, _) = write(&header(), &batches);
    for cut in (0..=file.len()).step_by(3).chain([file.len()]) {
        let bytes = &file[..cut];
        let (Ok(mut a), Ok(mut b)) = (TraceReader::new(bytes), TraceReader::new(bytes)) else {
            continue; // cut inside the header: both fail to open
        };
        let mut by_next = Vec::new();
        let mut err_next = None;
        while let Some(r) = a.next_record() {
            match r {
                Ok(r) => by_next.push(r),
                Err(e) => err_next = Some(e.to_string()),
            }
        }
        let mut by_each = Vec::new();
        let err_each = b.for_each_record(|r| by_each.push(r.clone()));
        assert_eq!(by_each, by_next, "cut at {cut}");
        assert_eq!(err_each.map(|e| e.to_string()), err_next, "cut at {cut}");
        assert_eq!(b.summary().records, a.summary().records, "cut at {cut}");
        assert_eq!(b.complete(), a.complete(), "cut at {cut}");
    }
}
