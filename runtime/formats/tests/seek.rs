//! Starting a reader at a chunk (`TraceReader::seek`) reads on as if the file had been read
//! up to it: the same records, the same end check, the same errors.

use std::io::Cursor;
use std::ops::ControlFlow;

use hue_formats::trace::*;
use hue_testkit as synthetic;

/// A finished trace of 4 workers' interleaved batches (one chunk each).
fn trace() -> Vec<u8> {
    let batches = synthetic::callback_batches(5_000, 4, 50, 300);
    let mut file = Vec::new();
    let mut w = TraceWriter::new(&mut file, &synthetic::header(4, "seek", "")).unwrap();
    for b in &batches {
        w.write_batch(b).unwrap();
    }
    w.finish().unwrap();
    file
}

/// Every chunk's position and records, as `for_each_chunk` gives them.
fn chunks(file: &[u8]) -> Vec<(ChunkPos, Vec<Record>)> {
    let mut reader = TraceReader::new(file).unwrap();
    let mut out = Vec::new();
    let err = reader.for_each_chunk(|pos, records| {
        out.push((pos, records.to_vec()));
        ControlFlow::Continue(())
    });
    assert!(err.is_none(), "{err:?}");
    assert!(reader.complete());
    out
}

#[test]
fn chunks_hold_every_record_once_in_order() {
    let file = trace();
    let all: Vec<Record> = TraceReader::new(&file[..])
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let chunks = chunks(&file);
    assert!(chunks.len() > 10);
    let joined: Vec<Record> = chunks.iter().flat_map(|(_, r)| r.clone()).collect();
    assert_eq!(joined, all);
    let mut before = 0;
    for (i, (pos, records)) in chunks.iter().enumerate() {
        assert_eq!((pos.records, pos.chunks), (before, i as u64));
        before += records.len() as u64;
    }
}

#[test]
fn a_reader_started_at_any_chunk_reads_the_rest_and_checks_the_end_marker() {
    let file = trace();
    let chunks = chunks(&file);
    let total = chunks.iter().map(|(_, r)| r.len() as u64).sum::<u64>();
    for (i, (pos, _)) in chunks.iter().enumerate() {
        let mut reader = TraceReader::new(Cursor::new(&file)).unwrap();
        reader.seek(*pos).unwrap();
        let rest: Vec<Record> = reader.by_ref().collect::<Result<_, _>>().unwrap();
        let expected: Vec<Record> = chunks[i..].iter().flat_map(|(_, r)| r.clone()).collect();
        assert_eq!(rest, expected, "from chunk {i}");
        assert!(
            reader.complete(),
            "the end marker's counts match from chunk {i}"
        );
        assert_eq!(reader.summary().records, total);
    }
}

#[test]
fn chunk_by_chunk_reading_can_stop_and_go_on() {
    let file = trace();
    let chunks = chunks(&file);
    let mut reader = TraceReader::new(&file[..]).unwrap();
    let mut got = Vec::new();
    while !reader.ended() {
        // One chunk a call.
        let err = reader.for_each_chunk(|pos, records| {
            got.push((pos, records.to_vec()));
            ControlFlow::Break(())
        });
        assert!(err.is_none());
    }
    assert_eq!(got, chunks);
    assert!(reader.complete());
}

#[test]
fn a_reader_can_go_back_after_reaching_the_end() {
    let file = trace();
    let chunks = chunks(&file);
    let mut reader = TraceReader::new(Cursor::new(&file)).unwrap();
    let first = reader.chunk_pos();
    assert_eq!(first, chunks[0].0);
    assert!(reader.by_ref().all(|r| r.is_ok()));
    reader.seek(chunks[3].0).unwrap();
    assert_eq!(reader.next_record().unwrap().unwrap(), chunks[3].1[0]);
}

#[test]
fn a_cut_file_read_from_a_chunk_stops_where_the_whole_read_stops() {
    let file = trace();
    let cut = &file[..file.len() / 2];
    let mut whole = TraceReader::new(cut).unwrap();
    let mut seen = Vec::new();
    let err = whole
        .for_each_chunk(|pos, _| {
            seen.push(pos);
            ControlFlow::Continue(())
        })
        .expect("a cut file ends in an error");
    let mut reader = TraceReader::new(Cursor::new(cut)).unwrap();
    reader.seek(seen[seen.len() / 2]).unwrap();
    let e = reader
        .by_ref()
        .find_map(Result::err)
        .expect("the same error");
    assert_eq!(e.kind(), TraceErrorKind::Truncated);
    assert_eq!(e.offset(), err.offset());
    assert_eq!(reader.summary().stopped_at, whole.summary().stopped_at);
    assert_eq!(reader.summary().records, whole.summary().records);
}

#[test]
fn a_position_that_is_not_a_chunk_reads_as_corrupt_there() {
    let file = trace();
    let chunks = chunks(&file);
    let mut reader = TraceReader::with_name(Cursor::new(&file), "t.hue").unwrap();
    let bad = ChunkPos {
        offset: chunks[2].0.offset + 5,
        ..chunks[2].0
    };
    reader.seek(bad).unwrap();
    let e = reader.next_record().unwrap().unwrap_err();
    assert_eq!(e.kind(), TraceErrorKind::Corrupt);
    assert!(
        e.to_string()
            .contains(&format!("t.hue: chunk at byte {}", bad.offset)),
        "{e}"
    );
}
