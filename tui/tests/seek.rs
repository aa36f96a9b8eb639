//! Seeking by the index: the periods read from a chunk the index picks are the periods a
//! read from the start makes, field by field, names included, on a trace whose workers'
//! records are interleaved across chunks; and on a trace cut short.

mod common;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use hue_formats::telemetry::Snapshot;
use hue_formats::trace::{
    AccessRecord, DropRecord, Name, NameKind, Record, TraceReader, TraceWriter, WorkerSample,
};
use hue_tui::source::index::Index;
use hue_tui::source::replay::{self, PERIOD_NS, SEEK_AFTER, SEEK_BEFORE};
use hue_tui::source::{Event, replay::read_periods};
use hue_tui::state::periods::index_of;
use hue_tui::state::{Mode, Model};
use hue_tui::{App, Seeking};

const WORKERS: u16 = 4;

/// A late handler, first named in the middle of the trace.
const LATE: u32 = 9;

/// 100 000 callbacks of 4 workers (`hue_testkit::callback_batches`, times stretched 20x:
/// about 8 s), each worker's records in batches of 2000 (one chunk each, 0.7 s of its
/// time), so the chunks' times overlap; one batch written 20 chunks late (its records more
/// than the lateness window late); handler and state names in the first chunk and the late
/// handler's in the middle; a worker sample closing each batch, drops and state accesses
/// here and there.
fn records() -> Vec<Vec<Record>> {
    let mut batches = hue_testkit::callback_batches(100_000, WORKERS, 300, 2000);
    let mut out = Vec::new();
    let n = batches.len();
    for (b, batch) in batches.iter_mut().enumerate() {
        let mut chunk = Vec::new();
        if b == 0 {
            for h in 0..8 {
                chunk.push(name(NameKind::Handler, h, &format!("handler-{h}")));
            }
            chunk.push(name(NameKind::State, 0, "db"));
            chunk.push(name(NameKind::State, 1, "cache"));
        }
        if b == n / 2 {
            chunk.push(name(NameKind::Handler, LATE, "late"));
        }
        let mut busy = 0;
        let (mut start, mut end, mut worker) = (u64::MAX, 0, 0);
        for (i, r) in batch.iter_mut().enumerate() {
            let Record::Callback(c) = r else { continue };
            for t in [&mut c.queued, &mut c.runnable, &mut c.started, &mut c.ended] {
                *t *= 20;
            }
            if b > n / 2 && i % 10 == 0 {
                c.handler = LATE;
            }
            busy += c.ended - c.started;
            (start, end, worker) = (start.min(c.started), c.ended, c.worker);
            let c = *c;
            chunk.push(Record::Callback(c));
            if i % 97 == 0 {
                chunk.push(Record::Access(AccessRecord {
                    callback: c.id,
                    handler: c.handler,
                    state: (i % 2) as u32,
                    key: c.key.filter(|_| i % 3 == 0),
                    worker: c.worker,
                    write: i % 2 == 0,
                    at: c.started + 1,
                    wait: 50,
                    held: 20,
                    contended: i % 5 == 0,
                    holder: None,
                }));
            }
        }
        if b % 7 == 3 {
            chunk.push(Record::Drops(DropRecord {
                worker,
                records: b as u64,
            }));
        }
        chunk.push(Record::Sample(WorkerSample {
            worker,
            start,
            end,
            busy,
            parked: (end - start).saturating_sub(busy) / 2,
            callbacks: batch.len() as u64,
            steals: 1,
            cpu: busy / 2,
        }));
        out.push(chunk);
    }
    let late = out.remove(10);
    out.insert(30, late);
    out
}

fn name(kind: NameKind, id: u32, n: &str) -> Record {
    Record::Name(Name {
        kind,
        id,
        name: n.to_owned(),
    })
}

fn write(path: &Path, batches: &[Vec<Record>]) {
    let mut w = TraceWriter::create(path, &hue_testkit::header(WORKERS, "seek", "")).unwrap();
    for b in batches {
        w.write_batch(b).unwrap();
    }
    w.finish().unwrap();
}

/// A file of this run under the target directory's scratch space.
fn temp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("hue-tui-seek-{}-{name}.hue", std::process::id()))
}

/// The trace, written once per test binary.
fn trace() -> &'static Path {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        // Written beside, then renamed: another run of these tests never reads half a file,
        // and runs do not pile files up.
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hue-tui-seek-whole.hue");
        let part = temp("whole");
        write(&part, &records());
        std::fs::rename(&part, &path).unwrap();
        path
    })
}

/// What a read from the start makes, and where it says it stopped.
fn read_all(path: &Path) -> (Vec<Snapshot>, Option<String>) {
    replay::open(path).unwrap().read_all()
}

/// The trace read from start to end, and an app that was shown all of it: what a seek must
/// reproduce.
fn whole_read(path: &Path) -> (Vec<Snapshot>, App) {
    let (whole, _) = read_all(path);
    let mut reference = App::new(Model::new(Mode::Replay {
        path: path.to_owned(),
        header: hue_testkit::header(WORKERS, "seek", ""),
    }));
    reference.apply(Event::Snapshots(whole.clone()));
    reference.apply(Event::ReplayEnd { stopped: None });
    (whole, reference)
}

/// The periods around `wanted` as the seeker reads them (the window before it and
/// [`SEEK_AFTER`] after), and the chunk it started at.
fn seek(path: &Path, index: &Index, wanted: u64) -> (Vec<Snapshot>, u64) {
    let first = wanted.saturating_sub(SEEK_BEFORE - 1);
    let start = index.start(first * PERIOD_NS).expect("a start").pos.chunks;
    let mut reader = TraceReader::open(path).unwrap();
    let snaps = read_periods(
        &mut reader,
        index,
        usize::from(WORKERS),
        first,
        wanted + SEEK_AFTER,
    )
    .unwrap();
    (snaps, start)
}

/// `got` are consecutive periods from `first` on, each equal to the read from the start's.
fn check(whole: &[Snapshot], got: &[Snapshot], first: u64, last: u64) {
    let last = last.min(whole.len() as u64 - 1);
    assert_eq!(
        got.iter().map(index_of).collect::<Vec<_>>(),
        (first..=last).collect::<Vec<_>>(),
        "the periods asked for, each once"
    );
    for s in got {
        assert_eq!(s, &whole[index_of(s) as usize], "period {}", index_of(s));
    }
}

#[test]
fn periods_read_from_an_indexed_chunk_equal_those_read_from_the_start() {
    let path = trace();
    let (whole, stopped) = read_all(path);
    assert_eq!(stopped, None);
    assert!(whole.len() > 60, "{} periods", whole.len());
    assert!(
        whole
            .iter()
            .flat_map(|s| &s.workers)
            .any(|w| w.serial_bound_ns.is_some_and(|ns| ns > 0)),
        "serialization-bound time, which spans periods, is compared too"
    );
    let index = Index::build(path).unwrap();
    assert!(index.complete());
    let last = whole.len() as u64 - 1;
    let mut starts = Vec::new();
    for wanted in [
        0,
        3,
        12,
        25,
        31,
        last / 2,
        last / 2 + 1,
        last - 15,
        last - 1,
        last,
    ] {
        let (got, start) = seek(path, &index, wanted);
        check(
            &whole,
            &got,
            wanted.saturating_sub(SEEK_BEFORE - 1),
            wanted + SEEK_AFTER,
        );
        starts.push(start);
    }
    assert!(
        starts.iter().filter(|s| **s > 5).count() >= 5,
        "most seeks start well into the file: {starts:?}"
    );
    // The late handler is named in periods after its name's chunk, read from a chunk after
    // it too.
    let (got, _) = seek(path, &index, last - 15);
    assert!(
        got.iter().any(|s| s
            .handlers
            .iter()
            .any(|h| h.name == "late" && h.callbacks > 0)),
        "the late handler, by name"
    );
    assert!(got.iter().all(|s| s.handlers.iter().all(|h| h.name != "?")));
    assert!(
        got.iter().all(|s| s.dropped_records > 0),
        "drops before the start count"
    );
}

#[test]
fn a_cut_trace_seeks_within_what_can_be_read() {
    let bytes = std::fs::read(trace()).unwrap();
    let path = temp("cut");
    std::fs::write(&path, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let (whole, stopped) = read_all(&path);
    let stopped = stopped.expect("a cut trace says where it stopped");
    assert!(stopped.contains("cut short"), "{stopped}");
    let index = Index::build(&path).unwrap();
    assert!(index.complete(), "indexed up to the cut");
    let last = whole.len() as u64 - 1;
    // Up to the last periods, which the read from the start closes at the cut.
    for wanted in [last / 2, last - 3, last] {
        let (got, _) = seek(&path, &index, wanted);
        check(
            &whole,
            &got,
            wanted.saturating_sub(SEEK_BEFORE - 1),
            wanted + SEEK_AFTER,
        );
    }
    // Nothing past what can be read.
    assert!(index.start((last + 1) * PERIOD_NS).is_none());
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn the_app_shows_a_period_far_ahead_of_the_reader_as_a_whole_read_shows_it() {
    let path = trace();
    let (whole, mut reference) = whole_read(path);

    let opened = replay::open(path).unwrap();
    let mut app = App::new(Model::new(Mode::Replay {
        path: path.to_owned(),
        header: opened.header.clone(),
    }));
    let (tx, rx) = mpsc::channel();
    let replayer = opened.spawn(tx);
    while !app.model.indexed {
        let e = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the replay goes on");
        app.apply(e);
    }
    let to = whole[whole.len() - 12].at_ns - PERIOD_NS / 2;
    app.seek_to(to);
    reference.seek_to(to);
    let wanted = app
        .wanted()
        .expect("the view stands where nothing was read yet");
    assert_eq!(wanted, to / PERIOD_NS);
    replayer.want(wanted);
    // The seeker's answer, told from the reader's batches by where it starts: the window
    // before the period wanted, then on, period by period. Only it is taken in, so the
    // view shows what the seek read.
    let first = wanted - (SEEK_BEFORE - 1);
    let mut next = first;
    while next <= wanted + 5 {
        let e = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the seek's periods");
        if let Event::Snapshots(batch) = e
            && index_of(&batch[0]) == next
        {
            next += batch.len() as u64;
            app.apply(Event::Snapshots(batch));
        }
    }
    assert_eq!(app.wanted(), None, "nothing more to ask for there");
    assert!(app.model.periods.from_start().len() < first as usize);
    assert_eq!(app.window(), reference.window());
    assert_eq!(
        app.window().handlers.len(),
        9,
        "every handler, the late one included"
    );
    drop(rx);
    replayer.join();
}

#[test]
fn the_bar_says_how_much_of_the_end_is_known_and_the_view_where_it_waits() {
    let path = trace();
    let (whole, _) = read_all(path);
    let mut app = App::new(Model::new(Mode::Replay {
        path: PathBuf::from("seek.hue"),
        header: hue_testkit::header(WORKERS, "seek", ""),
    }));
    app.theme = hue_tui::view::theme::Theme { color: false };
    app.apply(Event::Snapshots(whole[..20].to_vec()));
    let bar = |app: &App| {
        let screen = common::draw(app, 100, 30);
        screen.lines().last().unwrap().to_owned()
    };
    assert!(bar(&app).contains("/ ≥00:02.000 reading…"), "{}", bar(&app));
    // The index got half way: seeks can go that far at once, the end is still not known.
    let half = whole[whole.len() / 2].at_ns;
    app.apply(Event::Indexed {
        end_ns: Some(half - 1),
        complete: false,
    });
    app.seek_to(half - 1);
    assert_eq!((app.ui.position_ns, app.ui.seeking), (half - 1, None));
    assert!(
        bar(&app).contains(&format!("/ ≥{} reading…", clock(half))),
        "{}",
        bar(&app)
    );
    let screen = common::draw(&app, 100, 30);
    assert!(screen.contains("reading seek.hue at"), "{screen}");
    assert_eq!(app.wanted(), Some((half - 1) / PERIOD_NS));
    // The end, not known yet: the view waits for it, and says so.
    app.seek_to(u64::MAX);
    assert_eq!(app.ui.seeking, Some(Seeking::End));
    assert!(bar(&app).contains("→ end / ≥"), "{}", bar(&app));
    assert!(bar(&app).contains("seeking…"), "{}", bar(&app));
    let screen = common::draw(&app, 100, 30);
    assert!(
        screen.contains("Seeking to the end in seek.hue")
            && screen.contains(&format!("indexed up to {} so far", clock(half))),
        "{screen}"
    );
    assert_eq!(app.wanted(), None, "the end's period is not known yet");
    // Whole: the end is the trace's, and the read from the start goes on.
    let end = whole.last().unwrap().at_ns;
    app.apply(Event::Indexed {
        end_ns: Some(end - 1),
        complete: true,
    });
    assert_eq!((app.ui.position_ns, app.ui.seeking), (end - 1, None));
    assert!(
        bar(&app).contains(&format!("/ {} reading…", clock(end))),
        "{}",
        bar(&app)
    );
    app.apply(Event::ReplayEnd { stopped: None });
    assert!(!bar(&app).contains("reading"), "{}", bar(&app));
}

#[test]
fn a_seek_past_the_index_waits_for_it_and_lands_where_it_was_asked_to() {
    let path = trace();
    let (whole, mut reference) = whole_read(path);
    // Nothing read or indexed yet: the first thing the user does is go near the end.
    let opened = replay::open(path).unwrap();
    let mut app = App::new(Model::new(Mode::Replay {
        path: PathBuf::from("seek.hue"),
        header: opened.header.clone(),
    }));
    app.theme = hue_tui::view::theme::Theme { color: false };
    let to = whole[whole.len() - 12].at_ns - PERIOD_NS / 2;
    reference.seek_to(to);
    app.seek_to(to);
    assert_eq!(
        (app.ui.position_ns, app.ui.seeking),
        (to, Some(Seeking::To(to))),
        "not cut to what has been indexed"
    );
    let screen = common::draw(&app, 100, 30);
    assert!(
        screen.contains(&format!("Seeking to {} in seek.hue", clock(to))),
        "{screen}"
    );
    // The wish goes to the seeker at once: it holds it until its index gets there.
    let (tx, rx) = mpsc::channel();
    let replayer = opened.spawn(tx);
    let mut asked = None;
    let mut seen_waiting = false;
    while app.shown().is_empty() {
        let wanted = app.wanted();
        if let Some(period) = wanted
            && wanted != asked
        {
            replayer.want(period);
        }
        asked = wanted;
        let e = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the replay goes on");
        // Whatever came first, the view is at the time asked for or still waits for it
        // (playing does not move it while it waits).
        app.apply(e);
        if app.ui.seeking.is_some() {
            app.tick(100_000_000);
        }
        assert_eq!(app.ui.position_ns, to);
        seen_waiting |= app.ui.seeking.is_some();
    }
    assert!(seen_waiting);
    assert_eq!(app.ui.seeking, None);
    assert!(
        !app.model.loaded,
        "shown before the reader from the start got there"
    );
    // Wait for the window's periods, then it is what a read of the whole trace shows.
    while app.window().periods < reference.window().periods {
        let e = rx.recv_timeout(Duration::from_secs(60)).unwrap();
        app.apply(e);
    }
    assert_eq!(app.window(), reference.window());
    drop(rx);
    replayer.join();
}

#[test]
fn a_seek_past_the_end_of_the_trace_goes_to_its_end_and_says_so() {
    let path = trace();
    let (whole, _) = read_all(path);
    let mut app = App::new(Model::new(Mode::Replay {
        path: PathBuf::from("seek.hue"),
        header: hue_testkit::header(WORKERS, "seek", ""),
    }));
    app.apply(Event::Snapshots(whole[..20].to_vec()));
    let end = whole.last().unwrap().at_ns;
    app.seek_to(end + 60 * 1_000_000_000);
    assert!(app.ui.seeking.is_some(), "the end is not known yet");
    app.apply(Event::Indexed {
        end_ns: Some(end - 1),
        complete: true,
    });
    assert_eq!((app.ui.position_ns, app.ui.seeking), (end - 1, None));
    let said = app.ui.message.clone().unwrap_or_default();
    assert!(said.contains(&format!("ends at {}", clock(end))), "{said}");
    // Esc gives up a seek that waits, staying at what can be shown.
    let mut app = App::new(Model::new(Mode::Replay {
        path: PathBuf::from("seek.hue"),
        header: hue_testkit::header(WORKERS, "seek", ""),
    }));
    app.apply(Event::Snapshots(whole[..20].to_vec()));
    app.seek_to(end - 1);
    common::press(&mut app, ratatui::crossterm::event::KeyCode::Esc);
    assert_eq!(app.ui.seeking, None);
    assert_eq!(app.ui.position_ns, whole[19].at_ns - 1);
    assert!(!app.shown().is_empty());
}

/// `ns` as the replay bar writes a time: minutes, seconds, milliseconds.
fn clock(ns: u64) -> String {
    let ms = ns / 1_000_000;
    format!(
        "{:02}:{:02}.{:03}",
        ms / 60_000,
        (ms / 1000) % 60,
        ms % 1000
    )
}
