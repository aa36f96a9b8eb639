//! At the smallest size `hue top` draws in (80x24), what does not fit is shortened in a way
//! the screen shows, never cut off mid-word without a sign: a table cell ends in `…`, the
//! totals use shorter words, the hottest color's box drops its least useful line, a long
//! problem wraps onto another status line, a long program name gives way in the header.

mod common;

use common::{draw, press};
use hue_formats::Key;
use hue_formats::telemetry::{
    ColorSnapshot, HandlerSnapshot, MachineSnapshot, Snapshot, WorkerSnapshot,
};
use hue_tui::App;
use hue_tui::source::Event;
use hue_tui::state::{Mode, Model};
use hue_tui::view::theme::Theme;
use ratatui::crossterm::event::KeyCode;

const PERIOD: u64 = 250_000_000;

/// A live app that got four periods like `period` (numbered and timed in order).
fn live(period: impl Fn(u64) -> Snapshot) -> App {
    let addr = "127.0.0.1:7797".parse().unwrap();
    let mut app = App::new(Model::new(Mode::Live { addr }));
    app.theme = Theme { color: false };
    app.apply(Event::Connected(addr));
    for seq in 1..=4 {
        app.apply(Event::Snapshot(Snapshot {
            seq,
            at_ns: seq * PERIOD,
            period_ns: PERIOD,
            ..period(seq)
        }));
    }
    app
}

fn handler(name: &str, callbacks: u64, busy_ns: u64) -> HandlerSnapshot {
    HandlerSnapshot {
        name: name.into(),
        callbacks,
        busy_ns,
        ..HandlerSnapshot::default()
    }
}

/// `workers` workers, each busy 80%; one color (`color`, its `key`), busy 80% of a core,
/// running `handlers` with equal shares; `callbacks` callbacks a period; the process at 0.9
/// of 2 cores.
fn busy(
    workers: u16,
    color: u64,
    key: Option<u64>,
    handlers: &[&str],
    callbacks: u64,
) -> impl Fn(u64) -> Snapshot {
    move |seq| Snapshot {
        workers: (0..workers)
            .map(|worker| WorkerSnapshot {
                worker,
                busy_ns: PERIOD * 8 / 10,
                callbacks: callbacks / u64::from(workers),
                serial_bound_ns: Some(0),
                ..WorkerSnapshot::default()
            })
            .collect(),
        handlers: handlers
            .iter()
            .map(|h| {
                let n = handlers.len() as u64;
                handler(h, callbacks / n, PERIOD * 8 / 10 / n)
            })
            .collect(),
        colors: vec![ColorSnapshot {
            color,
            callbacks,
            busy_ns: PERIOD * 8 / 10,
            handlers: handlers.iter().map(|h| h.to_string()).collect(),
            key,
            ..ColorSnapshot::default()
        }],
        active_colors: 1000,
        machine: Some(MachineSnapshot {
            at_ns: seq * PERIOD,
            process_cpu_ns: seq * PERIOD * 9 / 10,
            machine_cpu_ns: Some(seq * PERIOD),
            cores: 2,
        }),
        ..Snapshot::default()
    }
}

#[test]
fn a_cell_too_long_for_its_column_ends_in_an_ellipsis() {
    let handlers = [
        "accept_connection",
        "read_request_body",
        "parse_headers",
        "respond_with_file",
    ];
    let mut app = live(busy(2, 0, None, &handlers, 1000));
    press(&mut app, KeyCode::Char('2'));
    let screen = draw(&app, 80, 24);
    let row = screen
        .lines()
        .find(|l| l.contains("default"))
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(
        row.contains(" accept_connection pa…│"),
        "the handlers column says it is cut: {screen}"
    );
    // The same list fits whole at 160 columns.
    let wide = draw(&app, 160, 48);
    let mut sorted = handlers;
    sorted.sort_unstable();
    assert!(wide.contains(&sorted.join(" ")), "{wide}");
    assert!(!wide.contains('…'), "{wide}");
}

#[test]
fn the_totals_and_every_machine_line_fit_at_80_columns() {
    // 155 000 callbacks/s over 1000 active colors: the long words make 84 columns.
    let app = live(busy(2, 0, None, &["work"], 38_750));
    let screen = draw(&app, 80, 24);
    let totals = screen
        .lines()
        .find(|l| l.contains("conflicts"))
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(
        totals.contains("cb/s 155.0k  colors 1000  conflicts 0  panics 0  dropped 0  missed 0"),
        "{screen}"
    );
    assert!(
        screen.contains("→ on this machine at most"),
        "the machine's second line is not pushed out: {screen}"
    );
    // Wide enough, the long words.
    let wide = draw(&app, 120, 40);
    assert!(
        wide.contains("callbacks/s 155.0k  active colors 1000  conflicts 0"),
        "{wide}"
    );
}

#[test]
fn the_hottest_color_box_says_its_bound_whole_with_many_workers() {
    // Six workers leave the box two lines at 80x24: the bound in its short words, the
    // busiest handlers (listed by the Handlers view) left out.
    let app = live(busy(6, 0, None, &["encrypt", "write"], 6000));
    let screen = draw(&app, 80, 24);
    let lines: Vec<&str> = screen.lines().collect();
    let top = lines
        .iter()
        .position(|l| l.contains("hottest color"))
        .unwrap_or_else(|| panic!("{screen}"));
    let bottom = top
        + 1
        + lines[top + 1..]
            .iter()
            .position(|l| l.contains('└'))
            .unwrap();
    let inside = lines[top + 1..bottom].join("\n");
    assert!(inside.contains("default"), "{screen}");
    assert!(
        inside.contains("holds 100% of the work: at most 1.0x one core's speed (color bound)"),
        "{screen}"
    );
    assert!(!inside.contains("busiest handlers"), "{screen}");
    // With room, the long sentence and the handlers.
    let tall = draw(&app, 120, 40);
    assert!(tall.contains("no number of cores runs this mix"), "{tall}");
    assert!(
        tall.contains("busiest handlers, share of all work: encrypt 50%, write 50%"),
        "{tall}"
    );
}

#[test]
fn a_long_problem_wraps_onto_another_status_line() {
    let mut app = live(busy(2, 0, None, &["work"], 1000));
    let why = "the telemetry server at 127.0.0.1:7797 closed the connection (the program \
               exited, or restarted its runtime)";
    app.apply(Event::Disconnected(why.to_owned()));
    let screen = draw(&app, 80, 24);
    let status: String = screen
        .lines()
        .skip(20)
        .map(|l| l.trim_matches('"').trim())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(status.contains("restarted its runtime)"), "{screen}");
    assert!(
        screen.lines().last().unwrap().contains("Tab/1-6 views"),
        "the keys line stays: {screen}"
    );
}

#[test]
fn live_advice_leaves_out_colors_that_are_per_key_already() {
    // All the work in one key's own color, where parse and respond already run per key.
    let key = 17;
    let color = Key::from(key).color().raw();
    let mut app = live(busy(2, color, Some(key), &["parse", "respond"], 1000));
    press(&mut app, KeyCode::Char('5'));
    let t = app.table(hue_tui::Tab::Advice, &app.window()).unwrap();
    assert!(t.rows.is_empty(), "{:?}", t.rows);
    assert!(
        t.note.as_deref().unwrap().contains("per key already"),
        "{:?}",
        t.note
    );
    // The same handlers in the default color are candidates.
    let mut app = live(busy(2, 0, None, &["parse", "respond"], 1000));
    press(&mut app, KeyCode::Char('5'));
    let t = app.table(hue_tui::Tab::Advice, &app.window()).unwrap();
    assert_eq!(t.rows.len(), 2);
}

#[test]
fn a_long_program_name_gives_way_to_the_file_workers_and_period() {
    let program = "/usr/local/bin/fileserver --listen 0.0.0.0:8443 --root /srv/www --workers 2";
    let mut app = App::new(Model::new(Mode::Replay {
        path: "run.hue".into(),
        header: hue_testkit::header(2, program, ""),
    }));
    app.apply(Event::Snapshots(vec![Snapshot {
        seq: 1,
        at_ns: 100_000_000,
        period_ns: 100_000_000,
        ..Snapshot::default()
    }]));
    let screen = draw(&app, 80, 24);
    let header = screen.lines().next().unwrap();
    assert!(header.contains("hue top — /usr/local/bin/"), "{header}");
    assert!(
        header.contains("… — replay run.hue   2 workers   period 100 ms"),
        "{header}"
    );
}

#[test]
fn a_filter_being_typed_shows_where_the_tabs_leave_no_room() {
    let mut app = live(busy(2, 0, None, &["parse", "respond"], 1000));
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Char('/'));
    for c in "default x".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    let screen = draw(&app, 80, 24);
    assert!(
        screen.contains("filter rows by name: default x▏  Enter keeps it, Esc clears it"),
        "{screen}"
    );
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Enter);
    let screen = draw(&app, 80, 24);
    assert!(
        screen.contains(" Colors (1 matching \"default\") "),
        "{screen}"
    );
}

#[test]
fn a_paused_live_view_says_where_it_stands_in_the_history() {
    let mut app = live(busy(2, 0, None, &["work"], 1000));
    press(&mut app, KeyCode::Char(' '));
    let status = |app: &App| draw(app, 80, 24).lines().nth(22).unwrap().to_owned();
    assert!(
        status(&app).contains("paused at 00:01.000, the latest"),
        "{}",
        status(&app)
    );
    press(&mut app, KeyCode::Char('['));
    press(&mut app, KeyCode::Char('['));
    assert!(
        status(&app).contains("paused at 00:00.500, 2 periods back"),
        "{}",
        status(&app)
    );
    press(&mut app, KeyCode::Char(']'));
    assert!(status(&app).contains("1 period back"), "{}", status(&app));
}

#[test]
fn a_text_column_in_the_middle_grows_to_its_names_where_there_is_room() {
    let mut app = live(busy(2, 0x1046_3ccd_0000_0001, None, &["query"], 1000));
    press(&mut app, KeyCode::Char('5'));
    let wide = draw(&app, 120, 40);
    assert!(wide.contains("#10463ccd (query)"), "{wide}");
    // At 80 columns it is cut, and says so.
    let narrow = draw(&app, 80, 24);
    let row = narrow
        .lines()
        .find(|l| l.contains("#10463ccd"))
        .unwrap_or_else(|| panic!("{narrow}"));
    assert!(row.contains('…'), "{narrow}");
}
