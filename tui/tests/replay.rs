//! Replay shows the profiler's numbers: seek into the checked-in trace, then compare what
//! the views show with what `hue-profiler` computes from the same trace cut to that window.

mod common;

use common::{press, replay_app, small};
use hue_formats::trace::{Record, TraceReader, TraceWriter};
use hue_profiler::{Profile, Trace};
use hue_tui::Tab;
use hue_tui::source::replay;
use ratatui::crossterm::event::KeyCode;

/// The records of `small.hue` that fall in `[start, end)` the way replay sorts them (a
/// callback by its end), with every name, written as a trace of their own.
fn profile_of_window(start: u64, end: u64) -> Profile {
    let mut reader = TraceReader::open(small()).unwrap();
    let header = reader.header().clone();
    let inside = |t: u64| (start..end).contains(&t);
    let mut keep = Vec::new();
    let err = reader.for_each_record(|r| {
        let k = match r {
            Record::Name(_) => true,
            Record::Callback(c) => inside(c.ended),
            Record::Access(a) => inside(a.at),
            _ => false,
        };
        if k {
            keep.push(r.clone());
        }
    });
    assert!(err.is_none());
    let path = std::env::temp_dir().join(format!("hue-tui-window-{}.hue", std::process::id()));
    let mut w = TraceWriter::create(&path, &header).unwrap();
    w.write_batch(&keep).unwrap();
    w.finish().unwrap();
    let profile = Profile::read(&Trace::open(&path).unwrap()).unwrap();
    std::fs::remove_file(&path).unwrap();
    profile
}

#[test]
fn a_seeked_window_shows_the_profilers_numbers_for_that_window() {
    let mut app = replay_app();
    // Seek: to the start, then 1 s forward, then 5 periods forward: the period ending at
    // 1.6 s, whose window is [0.6 s, 1.6 s).
    press(&mut app, KeyCode::Home);
    press(&mut app, KeyCode::Right);
    for _ in 0..5 {
        press(&mut app, KeyCode::Char(']'));
    }
    assert!(app.ui.paused, "stepping pauses");
    let w = app.window();
    assert_eq!((w.start_ns, w.end_ns), (600_000_000, 1_600_000_000));
    let profile = profile_of_window(w.start_ns, w.end_ns);
    assert_eq!(w.handlers.len(), profile.handlers.len());
    press(&mut app, KeyCode::Char('3'));
    let table = app.table(Tab::Handlers, &w).unwrap();
    for h in &profile.handlers {
        let shown = w.handlers.iter().find(|x| x.name == h.name).unwrap();
        assert_eq!(shown.callbacks, h.callbacks, "{}", h.name);
        assert_eq!(shown.busy_ns, h.busy, "{}", h.name);
        assert_eq!(shown.serial_wait_ns, h.serial_wait, "{}", h.name);
        assert_eq!(shown.worker_wait_ns, h.worker_wait, "{}", h.name);
        // The window is exactly one second, so calls/s on screen is the profiler's count.
        let row = table.rows.iter().find(|r| r.cells[0] == h.name).unwrap();
        assert_eq!(row.cells[1], h.callbacks.to_string(), "{}", h.name);
    }
    for s in &profile.states {
        let shown = w.states.iter().find(|x| x.name == s.name).unwrap();
        assert_eq!(shown.accesses, s.accesses, "{}", s.name);
    }
    // One period back: the window moves with it.
    press(&mut app, KeyCode::Char('['));
    assert_eq!(app.window().end_ns, 1_500_000_000);
    // Ten seconds forward stops at the end of the trace.
    press(&mut app, KeyCode::Char('L'));
    assert_eq!(app.window().end_ns, app.model.periods.last().unwrap().at_ns);
}

#[test]
fn go_to_a_typed_time() {
    let mut app = replay_app();
    press(&mut app, KeyCode::Char('g'));
    for c in "0:01.25".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.window().end_ns, 1_300_000_000);
    press(&mut app, KeyCode::Char('g'));
    press(&mut app, KeyCode::Char('.'));
    press(&mut app, KeyCode::Enter);
    assert!(app.ui.message.as_deref().unwrap().contains("not a time"));
}

#[test]
fn playback_moves_at_the_chosen_speed() {
    let mut app = replay_app();
    press(&mut app, KeyCode::Home);
    press(&mut app, KeyCode::Char(' '));
    assert!(!app.ui.paused);
    for _ in 0..2 {
        press(&mut app, KeyCode::Char('+'));
    }
    app.tick(100_000_000);
    assert_eq!(app.ui.position_ns, 400_000_000, "4x for 100 ms");
    for _ in 0..10 {
        press(&mut app, KeyCode::Char('-'));
    }
    app.tick(100_000_000);
    assert_eq!(app.ui.position_ns, 425_000_000, "0.25x is the slowest");
}

#[test]
fn a_cut_trace_plays_what_was_read_and_says_where_it_stopped() {
    let bytes = std::fs::read(small()).unwrap();
    let path = std::env::temp_dir().join(format!("hue-tui-cut-{}.hue", std::process::id()));
    std::fs::write(&path, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let (snaps, stopped) = replay::open(&path).unwrap().read_all();
    std::fs::remove_file(&path).unwrap();
    assert!(snaps.len() > 5, "plays what was read");
    let stopped = stopped.expect("says it stopped");
    assert!(
        stopped.contains("cut short") && stopped.contains("byte"),
        "{stopped}"
    );
}

#[test]
fn a_file_that_is_not_a_trace_is_refused_with_its_name() {
    let path = std::env::temp_dir().join(format!("hue-tui-not-{}.hue", std::process::id()));
    std::fs::write(&path, b"hello, this is not a trace").unwrap();
    let err = replay::open(&path).err().expect("refused");
    std::fs::remove_file(&path).unwrap();
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn the_overview_shows_the_serialization_bound_time_the_callbacks_make() {
    use hue_formats::trace::{CallbackRecord, Name, NameKind, Origin, WorkerSample};
    const MS: u64 = 1_000_000;
    // Worker 0 runs color 7, one callback a millisecond for a second; the first 500 were all
    // queued at 0, so until 499 ms one of them always waits behind the one running. Worker 1
    // runs nothing: serialization-bound 499 ms of the second.
    let mut records = vec![Record::Name(Name {
        kind: NameKind::Handler,
        id: 0,
        name: "step".to_owned(),
    })];
    for i in 0..1000 {
        let queued = if i < 500 { 0 } else { i * MS };
        records.push(Record::Callback(CallbackRecord {
            id: i + 1,
            parent: None,
            origin: Origin::Outside,
            handler: 0,
            color: 7,
            key: None,
            worker: 0,
            queued,
            runnable: i * MS,
            started: i * MS,
            ended: (i + 1) * MS,
            cpu: None,
        }));
    }
    // What each worker says of its second (ending in its last period): worker 1 slept
    // through it.
    for (worker, busy) in [(0, 1000 * MS), (1, 0)] {
        records.push(Record::Sample(WorkerSample {
            worker,
            start: 0,
            end: 1000 * MS - 1,
            busy,
            parked: 1000 * MS - busy,
            callbacks: busy / MS,
            steals: 0,
            cpu: busy,
        }));
    }
    let path = std::env::temp_dir().join(format!("hue-tui-bound-{}.hue", std::process::id()));
    let mut w = TraceWriter::create(&path, &hue_testkit::header(2, "bound", "")).unwrap();
    w.write_batch(&records).unwrap();
    w.finish().unwrap();
    let opened = replay::open(&path).unwrap();
    let mut app = hue_tui::App::new(hue_tui::state::Model::new(hue_tui::state::Mode::Replay {
        path: path.clone(),
        header: opened.header.clone(),
    }));
    let (snaps, stopped) = opened.read_all();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(stopped, None);
    app.apply(hue_tui::source::Event::Snapshots(snaps));
    app.apply(hue_tui::source::Event::ReplayEnd { stopped: None });
    app.seek_to(950 * MS);
    let w = app.window();
    assert_eq!((w.start_ns, w.end_ns), (0, 1000 * MS));
    let bound: Vec<_> = w.workers.iter().map(|k| k.serial_bound_ns).collect();
    assert_eq!(bound, [Some(0), Some(499 * MS)]);
    let screen = common::draw(&app, 80, 24);
    let row = |w: &str| {
        screen
            .lines()
            .find(|l| l.contains(&format!("│{w} ")))
            .unwrap_or_else(|| panic!("{screen}"))
            .to_owned()
    };
    assert!(row("w0").contains("100% busy   0% serial"), "{screen}");
    assert!(row("w1").contains("0% busy  50% serial"), "{screen}");
}

/// Replaying a trace whose machine had no room for the suggestions (8 cores, other processes
/// on 6.5 of them: at most 8 / 7.5 = 1.07x if they are its clients), the speedup view says
/// there is nothing to gain there, and the policy `hue top` writes keeps the traced coloring
/// with the suggestion as a comment.
#[test]
fn a_trace_whose_machine_had_no_room_is_advised_to_keep_its_coloring() {
    let dir = std::env::temp_dir().join(format!("hue-tui-no-room-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("busy.hue");
    std::fs::write(&path, hue_testkit::keyed_work_on_a_shared_machine(8, 6.5)).unwrap();
    let analysis = hue_tui::source::analysis::analyze(&path).unwrap();
    assert!(
        (analysis.report.no_room.unwrap() - 8.0 / 7.5).abs() < 0.01,
        "{:?}",
        analysis.report
    );
    let opened = replay::open(&path).unwrap();
    let mut app = hue_tui::App::new(hue_tui::state::Model::new(hue_tui::state::Mode::Replay {
        path: path.clone(),
        header: opened.header.clone(),
    }));
    let (snaps, _) = opened.read_all();
    app.apply(hue_tui::source::Event::Snapshots(snaps));
    app.apply(hue_tui::source::Event::ReplayEnd { stopped: None });
    app.apply(hue_tui::source::Event::Analysis(Box::new(Ok(analysis))));
    app.ui.tab = Tab::Speedup;
    let screen = common::draw(&app, 200, 40);
    assert!(
        screen
            .contains("nothing to gain on the traced machine: at most 1.07x with the suggestions"),
        "{screen}"
    );
    assert!(
        screen.contains("with the suggestions (its other processes counted as its clients)"),
        "{screen}"
    );
    app.write_policy(&dir);
    let text = std::fs::read_to_string(dir.join("hue-recolor.toml")).unwrap();
    assert!(text.contains("\n# work = \"by-key\"\n"), "{text}");
    assert!(
        hue_formats::Policy::parse(&text, "hue-recolor.toml")
            .unwrap()
            .is_empty(),
        "{text}"
    );
    let said = app.ui.message.clone().unwrap();
    assert!(
        said.starts_with("nothing to gain on the traced machine: wrote the policy the trace ran under, the suggestions as comments, to "),
        "{said}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
