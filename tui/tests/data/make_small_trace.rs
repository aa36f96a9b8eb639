//! How `small.hue` was made (kept for reference; not built by the workspace). A crate with
//! `hue-runtime = { path = "../../../runtime" }` and this as `src/main.rs`, run once with
//! `cargo run --release -- small.hue`.
//!
//! Two seconds, two workers, 1000 requests a second from a periodic timer: each request
//! `parse`s in its own color (by key, touching keyed `sessions`), `query`s in the database's
//! color (writing `db`), `render`s in the default color (no state: the hot serialized
//! candidate) and `log`s in the default color (writing `log`).

use std::time::{Duration, Instant};

use hue_runtime::{Color, Handler, Keyed, Runtime, Shared};

fn spin(us: u64) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_micros(us) {
        std::hint::spin_loop();
    }
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: make_small_trace OUT.hue");
    let rt = Runtime::builder()
        .workers(2)
        .program("small-trace")
        .trace_file(path)
        .build()
        .unwrap();
    let (tick, parse, query, render, log) = (
        Handler::new("tick"),
        Handler::new("parse"),
        Handler::new("query"),
        Handler::new("render"),
        Handler::new("log"),
    );
    let db = Shared::new("db", 0u64);
    let logs = Shared::new("log", Vec::<u64>::new());
    let sessions: Keyed<u64> = Keyed::new("sessions");
    let mut n = 0u64;
    rt.handle().every(Duration::from_micros(1000), tick, move |cx| {
        n += 1;
        let (db, logs, sessions) = (db.clone(), logs.clone(), sessions.clone());
        let key = n % 64;
        cx.spawn(parse.color(Color::of(&key)).key(key), move |cx| {
            spin(350);
            cx.keyed(&sessions, key, |s| *s += 1);
            cx.spawn(query.color(Color::of("db")).key(key), move |cx| {
                cx.write(&db, |d| *d += 1);
                spin(100);
                cx.spawn(render.key(key), move |cx| {
                    spin(450);
                    cx.spawn(log.key(key), move |cx| {
                        cx.write(&logs, |l| l.push(key));
                        spin(15);
                    });
                });
            });
        });
    })
    .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    rt.shutdown();
}
