//! Every view of a replayed trace at 80x24 and 160x48, as the user would see it.

mod common;

use common::{analyzed_app, draw, press};
use hue_tui::source::Event;
use hue_tui::state::{Mode, Model};
use hue_tui::view::theme::Theme;
use hue_tui::{Action, App};
use ratatui::crossterm::event::KeyCode;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn at_one_and_a_half_seconds() -> App {
    let mut app = analyzed_app();
    app.seek_to(1_550_000_000);
    app
}

#[test]
fn every_view_at_both_sizes() {
    for (key, name) in [
        ('1', "overview"),
        ('2', "colors"),
        ('3', "handlers"),
        ('4', "states"),
        ('5', "advice"),
        ('6', "speedup"),
    ] {
        let mut app = at_one_and_a_half_seconds();
        press(&mut app, KeyCode::Char(key));
        for (w, h) in SIZES {
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), draw(&app, w, h));
        }
    }
}

#[test]
fn handler_detail_pane() {
    let mut app = at_one_and_a_half_seconds();
    press(&mut app, KeyCode::Char('3'));
    press(&mut app, KeyCode::Enter);
    insta::assert_snapshot!(draw(&app, 80, 24));
}

#[test]
fn help_over_the_view() {
    let mut app = at_one_and_a_half_seconds();
    press(&mut app, KeyCode::Char('?'));
    insta::assert_snapshot!(draw(&app, 80, 24));
    assert_eq!(press(&mut app, KeyCode::Char('x')), Action::None);
    assert!(!app.ui.help, "any key closes help");
}

#[test]
fn a_small_terminal_is_told_so() {
    let app = at_one_and_a_half_seconds();
    let screen = draw(&app, 60, 20);
    assert!(
        screen.contains("needs a terminal of at least 80x24"),
        "{screen}"
    );
    assert!(screen.contains("60x20"), "{screen}");
}

#[test]
fn live_with_nothing_listening_says_how_to_turn_telemetry_on() {
    let addr = "127.0.0.1:7797".parse().unwrap();
    let mut app = App::new(Model::new(Mode::Live { addr }));
    app.theme = Theme { color: false };
    app.apply(Event::Waiting(
        "cannot connect to the telemetry server at 127.0.0.1:7797 (nothing listens there: is \
         the program running, with telemetry on?): Connection refused (os error 111)"
            .into(),
    ));
    insta::assert_snapshot!(draw(&app, 80, 24));
}

#[test]
fn sorting_and_filtering_change_the_rows() {
    let mut app = at_one_and_a_half_seconds();
    press(&mut app, KeyCode::Char('3'));
    let w = app.window();
    let names = |app: &App| -> Vec<String> {
        app.table(app.ui.tab, &w)
            .unwrap()
            .rows
            .iter()
            .map(|r| r.cells[0].clone())
            .collect()
    };
    // By busy share, busiest first.
    assert_eq!(names(&app)[0], "render");
    // `s` three times: busy → cpu/wall → mean → serial wait; then around to the name.
    for _ in 0..6 {
        press(&mut app, KeyCode::Char('s'));
    }
    assert_eq!(names(&app), ["log", "parse", "query", "render", "tick"]);
    press(&mut app, KeyCode::Char('/'));
    for c in "REN".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    assert_eq!(names(&app), ["render"]);
    assert_eq!(press(&mut app, KeyCode::Char('q')), Action::Quit);
}

/// A live app that saw 1 s of one color holding three handlers: `encrypt` (75% of the work,
/// no state), `write` and `log` (sharing the unkeyed state `journal`), on two workers, the
/// second idle beside the busy color; and the process's and machine's CPU.
fn live_app() -> App {
    use hue_formats::telemetry::{
        ColorSnapshot, HandlerSnapshot, MachineSnapshot, Snapshot, StateSnapshot, WorkerSnapshot,
    };
    let addr = "127.0.0.1:7797".parse().unwrap();
    let mut app = App::new(Model::new(Mode::Live { addr }));
    app.theme = Theme { color: false };
    app.apply(Event::Connected(addr));
    let handler = |name: &str, busy_ns| HandlerSnapshot {
        name: name.into(),
        callbacks: 1000,
        busy_ns,
        ..HandlerSnapshot::default()
    };
    for seq in 1..=4 {
        app.apply(Event::Snapshot(Snapshot {
            seq,
            at_ns: seq * 250_000_000,
            period_ns: 250_000_000,
            workers: vec![
                WorkerSnapshot {
                    worker: 0,
                    busy_ns: 200_000_000,
                    serial_bound_ns: Some(0),
                    ..WorkerSnapshot::default()
                },
                WorkerSnapshot {
                    worker: 1,
                    parked_ns: 240_000_000,
                    serial_bound_ns: Some(150_000_000),
                    ..WorkerSnapshot::default()
                },
            ],
            handlers: vec![
                handler("encrypt", 150_000_000),
                handler("write", 40_000_000),
                handler("log", 10_000_000),
            ],
            colors: vec![ColorSnapshot {
                color: 0,
                callbacks: 3000,
                busy_ns: 200_000_000,
                handlers: vec!["encrypt".into(), "log".into(), "write".into()],
                ..ColorSnapshot::default()
            }],
            active_colors: 1,
            states: vec![StateSnapshot {
                name: "journal".into(),
                accesses: 2000,
                handlers: vec!["log".into(), "write".into()],
                ..StateSnapshot::default()
            }],
            // 0.9 of a core for the process and 0.1 for others, every period.
            machine: Some(MachineSnapshot {
                at_ns: seq * 250_000_000,
                process_cpu_ns: seq * 225_000_000,
                machine_cpu_ns: Some(seq * 250_000_000),
                cores: 2,
            }),
            ..Snapshot::default()
        }));
    }
    app
}

#[test]
fn live_overview_shows_the_serialization_bound_band_and_the_machine_line() {
    let app = live_app();
    let screen = draw(&app, 80, 24);
    // Worker 1 was serialization-bound 60% of the time (0.15 of each 0.25 s).
    assert!(screen.contains("w1"), "{screen}");
    assert!(screen.contains(" 60% serial"), "{screen}");
    // Between the first sample in the window and the last (0.75 s): 0.90 of 2 cores for the
    // process, 0.10 for others: (2 − 0.10) / 0.90 = 2.11x, by MachineUse::speedup_bound.
    assert!(
        screen.contains("machine, last 750 ms: process 0.90 of 2 cores, others 0.10"),
        "{screen}"
    );
    assert!(screen.contains("2.11x this throughput"), "{screen}");
    insta::assert_snapshot!(screen);
}

#[test]
fn w_in_the_live_advice_writes_the_safe_candidates_with_their_evidence() {
    let mut app = live_app();
    press(&mut app, KeyCode::Char('5'));
    assert_eq!(press(&mut app, KeyCode::Char('w')), Action::WritePolicy);
    let dir = std::env::temp_dir().join(format!("hue-tui-live-policy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    app.write_policy(&dir);
    let path = dir.join("hue-recolor.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        "# hue-recolor.toml written by `hue top` from a live look at 127.0.0.1:7797: 1.00 s of telemetry.
# Each rule rests only on what ran in that look: state outside Shared/Keyed is invisible to
# hue, and a path that did not run in it was not seen. Check it before relying on it:
# record a trace (HUE_TRACE_FILE=run.hue your-program) and run `hue suggest run.hue`.
# by-key keeps one key's callbacks in order; a callback without a key keeps its color.
version = 1

[rules]
# parallel? so far, from 4000 calls seen in 1.00 s, touching no Shared/Keyed state
encrypt = \"by-key\"
# left out: log: group with write so far, from 4000 calls seen in 1.00 s, touching journal: its users must share one color, and moving them together is not proven safe by a live look; `hue suggest` on a trace proposes it
# left out: write: group with log so far, from 4000 calls seen in 1.00 s, touching journal: its users must share one color, and moving them together is not proven safe by a live look; `hue suggest` on a trace proposes it
"
    );
    let policy = hue_formats::policy::Policy::parse(&text, "hue-recolor.toml").unwrap();
    let rules: Vec<_> = policy
        .rules()
        .map(|(h, r)| (h.to_owned(), r.clone()))
        .collect();
    assert_eq!(
        rules,
        [("encrypt".to_owned(), hue_formats::policy::Rule::ByKey)]
    );
    let said = app.ui.message.clone().unwrap();
    assert!(
        said.starts_with(&format!(
            "wrote {}: try HUE_RECOLOR={} your-program",
            path.display(),
            path.display()
        )) && said.contains("1 rule"),
        "{said}"
    );
    // Never over a file the user has: the next one is beside it.
    app.write_policy(&dir);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    assert!(dir.join("hue-recolor-1.toml").exists());
    assert!(
        app.ui
            .message
            .clone()
            .unwrap()
            .contains("hue-recolor-1.toml")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn live_advice_flags_a_hot_serialized_handler_with_its_verdict_so_far() {
    let mut app = live_app();
    press(&mut app, KeyCode::Char('5'));
    let w = app.window();
    let t = app.table(app.ui.tab, &w).unwrap();
    let row = |name: &str| {
        t.rows
            .iter()
            .find(|r| r.cells[0] == name)
            .unwrap()
            .cells
            .clone()
    };
    // encrypt: 75% of the work, no state seen: parallel so far, in 4000 calls; the default
    // color's bound goes from 1.0x (it holds everything) to at most 4x (what is left: 25%).
    assert_eq!(
        row("encrypt"),
        [
            "encrypt",
            "default",
            "75%",
            "parallel?",
            "4000",
            "1.0x → ≤4.0x"
        ]
    );
    assert_eq!(row("write")[3], "group with log");
    assert_eq!(t.rows[0].cells[0], "encrypt", "sorted by work");
    insta::assert_snapshot!(draw(&app, 80, 24));
}

#[test]
fn the_machine_line_says_when_the_cores_held_the_workers_back() {
    use hue_profiler::MachineUse;
    use hue_tui::view::overview::machine_line;
    let mut m = MachineUse::default();
    m.cores = 2;
    m.wall_ns = 1_000_000_000;
    m.process_cpu_ns = 400_000_000;
    m.machine_cpu_ns = Some(2_000_000_000);
    m.workers_cpu_ns = 300_000_000;
    m.workers_cpu_wait_ns = Some(10_000_000);
    // 0.4 of a core, its workers hardly waiting: mostly idle.
    assert_eq!(
        machine_line(&m),
        [
            " machine, last 1.00 s: process 0.40 of 2 cores, others 1.60: mostly idle,",
            "   so the machine is not what holds it back",
        ]
    );
    // The same CPU, but its workers waited for a CPU half the time they were ready: others took
    // the cores, and the bound (2 − 1.60) / 0.40 = 1.00x is stated with why.
    m.workers_cpu_wait_ns = Some(300_000_000);
    assert_eq!(
        machine_line(&m),
        [
            " machine, last 1.00 s: process 0.40 of 2 cores, others 1.60",
            "   → on this machine at most 1.00x this throughput, whatever the coloring",
            "   workers waited for a CPU 50% of their ready time: the cores held them back",
        ]
    );
    // Every line fits an 80-column terminal: nothing of it is cut off.
    for line in machine_line(&m) {
        assert!(line.chars().count() < 80, "{line:?}");
    }
}
