//! Timers and I/O readiness.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hue_runtime::net::{TcpListener, TcpStream};
use hue_runtime::{Color, ErrorKind, Handler, Interest, Runtime};

#[test]
fn one_shot_timers_fire_in_deadline_order_after_their_delay() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let h = Handler::new("timer");
    let fired = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    for (i, ms) in [(0u32, 60u64), (1, 20), (2, 40)] {
        let f = fired.clone();
        rt.handle()
            .after(Duration::from_millis(ms), h, move |_| {
                f.lock().unwrap().push((i, start.elapsed()));
            })
            .unwrap();
    }
    rt.wait_idle();
    let fired = fired.lock().unwrap();
    let order: Vec<u32> = fired.iter().map(|(i, _)| *i).collect();
    assert_eq!(order, [1, 2, 0]);
    for (i, at) in fired.iter() {
        let want = [60, 20, 40][*i as usize];
        assert!(
            *at >= Duration::from_millis(want),
            "timer {i} fired early at {at:?}"
        );
    }
}

#[test]
fn cancelled_timers_never_fire_and_periodic_timers_repeat_until_cancelled() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let h = Handler::new("tick");
    let once = Arc::new(AtomicU64::new(0));
    let o = once.clone();
    let id = rt
        .handle()
        .after(Duration::from_millis(30), h, move |_| {
            o.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    assert!(rt.handle().cancel(id));
    assert!(!rt.handle().cancel(id), "a second cancel finds nothing");

    let ticks = Arc::new(AtomicU64::new(0));
    let t = ticks.clone();
    let every = rt
        .handle()
        .every(
            Duration::from_millis(5),
            h.color(Color::of("ticker")),
            move |_| {
                t.fetch_add(1, Ordering::SeqCst);
            },
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(rt.handle().cancel(every));
    let n = ticks.load(Ordering::SeqCst);
    assert!(n >= 5, "only {n} ticks in 100 ms at a 5 ms period");
    rt.wait_idle();
    std::thread::sleep(Duration::from_millis(30));
    assert!(
        ticks.load(Ordering::SeqCst) <= n + 1,
        "ticks went on after cancel"
    );
    assert_eq!(once.load(Ordering::SeqCst), 0);
    assert_eq!(rt.metrics().armed_timers, 0);
}

#[test]
fn timers_armed_from_callbacks_keep_the_runtime_busy_until_they_fire() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let h = Handler::new("rearm");
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    rt.spawn(h, move |cx| {
        fn again(cx: &mut hue_runtime::Cx<'_>, h: Handler, c: Arc<AtomicU64>) {
            if c.fetch_add(1, Ordering::SeqCst) < 5 {
                cx.after(Duration::from_millis(5), h, move |cx| again(cx, h, c))
                    .unwrap();
            }
        }
        again(cx, h, c)
    })
    .unwrap();
    rt.wait_idle();
    assert_eq!(count.load(Ordering::SeqCst), 6);
}

#[test]
fn shutdown_reports_timers_that_never_fired() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let h = Handler::new("late-timer");
    rt.handle()
        .after(Duration::from_secs(3600), h, |_| {})
        .unwrap();
    rt.handle()
        .every(Duration::from_secs(3600), h, |_| {})
        .unwrap();
    let report = rt.shutdown();
    assert_eq!(report.dropped_timers, 2);
    assert!(report.to_string().contains("2 timers never fired"));
}

#[test]
fn a_zero_period_is_rejected() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let err = rt
        .handle()
        .every(Duration::ZERO, Handler::new("z"), |_| {})
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

/// An echo server: the listener's callback accepts and registers each stream; each stream's
/// callback (colored by connection) echoes what it reads.
#[test]
fn tcp_echo_through_the_reactor() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let accept = Handler::new("accept");
    let echo = Handler::new("echo");
    let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let next_conn = Arc::new(AtomicU64::new(0));
    let echo_colors = Arc::new(Mutex::new(Vec::new()));
    let ec = echo_colors.clone();
    rt.handle()
        .register(listener, Interest::READABLE, accept, move |cx, ev| {
            while let Ok((stream, _)) = ev.source().accept() {
                let conn = next_conn.fetch_add(1, Ordering::SeqCst);
                let ec = ec.clone();
                cx.register(
                    stream,
                    Interest::READABLE,
                    echo.color(Color::of(&conn)).key(conn),
                    move |cx, ev| {
                        ec.lock().unwrap().push((cx.color(), cx.key()));
                        let mut buf = [0u8; 4096];
                        loop {
                            match ev.source().read(&mut buf) {
                                Ok(0) => {
                                    ev.close();
                                    return;
                                }
                                Ok(n) => ev.source().write_all(&buf[..n]).unwrap(),
                                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                                Err(_) => {
                                    ev.close();
                                    return;
                                }
                            }
                        }
                    },
                )
                .unwrap();
            }
        })
        .unwrap();
    let clients: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                for round in 0..10 {
                    let msg = format!("client {i} round {round}\n");
                    s.write_all(msg.as_bytes()).unwrap();
                    let mut got = vec![0u8; msg.len()];
                    s.read_exact(&mut got).unwrap();
                    assert_eq!(got, msg.as_bytes());
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    // Connections close: the server sees end of file and closes its side.
    let deadline = Instant::now() + Duration::from_secs(10);
    while rt.metrics().io_sources > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(rt.metrics().io_sources, 1, "only the listener is left");
    let colors = echo_colors.lock().unwrap();
    assert!(colors.iter().all(|(c, k)| *c == Color::of(&k.unwrap().0)));
    let report = rt.shutdown();
    assert_eq!(report.closed_sources, 1);
}

#[test]
fn registering_a_closed_foreign_or_registered_source_fails_clearly() {
    use std::os::fd::{AsRawFd, IntoRawFd, RawFd};

    use hue_runtime::net::SourceFd;

    let rt = Runtime::builder().workers(1).build().unwrap();
    let h = Handler::new("bad-source");
    // `SourceFd` borrows a descriptor number, so the test never closes a number twice.
    fn leak(fd: RawFd) -> &'static RawFd {
        Box::leak(Box::new(fd))
    }
    let message = |res: hue_runtime::Result<hue_runtime::Io<SourceFd<'static>>>| match res {
        Ok(_) => panic!("the bad source was registered"),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Io);
            e.to_string()
        }
    };

    // A socket whose descriptor is closed.
    let fd = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .into_raw_fd();
    // SAFETY: we own `fd` and close it exactly once, here.
    unsafe { drop(<std::net::TcpListener as std::os::fd::FromRawFd>::from_raw_fd(fd)) };
    let msg = message(
        rt.handle()
            .register(SourceFd(leak(fd)), Interest::READABLE, h, |_, _| {}),
    );
    assert!(msg.contains("not an open socket"), "{msg}");
    assert!(msg.contains("`bad-source`"), "{msg}");

    // Something that is not a socket at all: a regular file.
    let file = std::fs::File::open(env!("CARGO_MANIFEST_DIR").to_owned() + "/Cargo.toml").unwrap();
    let msg = message(rt.handle().register(
        SourceFd(leak(file.as_raw_fd())),
        Interest::READABLE,
        h,
        |_, _| {},
    ));
    assert!(msg.contains("cannot be polled for readiness"), "{msg}");

    // A socket that is registered already.
    let l = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let raw = l.as_raw_fd();
    let io = rt
        .handle()
        .register(l, Interest::READABLE, h, |_, _| {})
        .unwrap();
    let msg = message(
        rt.handle()
            .register(SourceFd(leak(raw)), Interest::READABLE, h, |_, _| {}),
    );
    assert!(msg.contains("already registered"), "{msg}");

    // Deregistering gives the socket back; a second deregister says it is closed.
    let l = io.deregister().unwrap();
    assert!(!io.is_open());
    assert!(io.deregister().is_err());
    drop(l);
    let _ = TcpStream::connect; // mio's stream type is part of the public re-export.
}

/// Registers a listener whose `accept` callback greets each connection with "hi", connects,
/// and returns how long the greeting took to arrive (failing after `timeout`).
fn greeting_round_trip(
    rt: &Runtime,
    accept: impl Into<hue_runtime::Target>,
    timeout: Duration,
) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    rt.handle()
        .register(listener, Interest::READABLE, accept, |_, ev| {
            while let Ok((mut s, _)) = ev.source().accept() {
                let _ = s.write_all(b"hi");
            }
        })
        .unwrap();
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    client.set_read_timeout(Some(timeout)).unwrap();
    let asked = Instant::now();
    let mut got = [0u8; 2];
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hi");
    asked.elapsed()
}

/// Keeps every worker of `rt` busy with a stream of short callbacks until `stop` is set: each
/// queues the next in its own color (`hop` false: the color never drains), or in its stream's
/// other color (`hop` true: two colors that make each other runnable, which the worker running
/// them keeps), so some worker always has work.
fn keep_busy(rt: &Runtime, streams: u64, hop: bool, stop: &Arc<std::sync::atomic::AtomicBool>) {
    fn step(
        cx: &mut hue_runtime::Cx<'_>,
        stream: u64,
        side: u64,
        hop: bool,
        stop: Arc<std::sync::atomic::AtomicBool>,
    ) {
        let t = Instant::now();
        while t.elapsed() < Duration::from_micros(20) {
            std::hint::spin_loop();
        }
        if !stop.load(Ordering::SeqCst) {
            let h = cx.handler();
            let side = if hop { side ^ 1 } else { side };
            cx.spawn(h.color(Color::of(&(stream, side))), move |cx| {
                step(cx, stream, side, hop, stop)
            });
        }
    }
    for i in 0..streams {
        let stop = stop.clone();
        rt.spawn(
            Handler::new("busy").color(Color::of(&(i, 0u64))),
            move |cx| step(cx, i, 0, hop, stop),
        )
        .unwrap();
    }
}

/// Per worker: (callbacks run, times it went to sleep), as last published.
fn worker_counts(rt: &Runtime) -> Vec<(u64, u64)> {
    rt.metrics()
        .workers
        .iter()
        .map(|w| (w.callbacks, w.parks))
        .collect()
}

/// Waits (up to 5 s) until every worker of `rt` runs callbacks and none sleeps: two readings
/// 20 ms apart in which every worker's callback count grew and no park count changed. Returns
/// the second reading.
fn wait_until_all_busy(rt: &Runtime, what: &str) -> Vec<(u64, u64)> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut prev = worker_counts(rt);
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let now = worker_counts(rt);
        let busy = prev.iter().zip(&now).all(|(p, n)| n.0 > p.0 && n.1 == p.1);
        if busy {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the workers never all stayed busy for 20 ms: {prev:?} then {now:?}"
        );
        prev = now;
    }
}

/// No thread of its own polls for I/O or fires timers: the workers do, also while each of them
/// always has work queued (they look at the driver now and then, not only when idle).
///
/// The premise is checked, not assumed: from before the timer is armed until after it fired
/// and the connection was answered, no worker went to sleep (a sleeping worker waits in the
/// driver, which would serve both without any look from a busy worker) and every worker ran
/// callbacks. Margins: the timer may fire anywhere from 20 ms to 1 s (50x), the connection be
/// answered within 1 s; the busy check allows 5 s to settle and has no time limit of its own
/// once settled (the park counts must simply not move).
#[test]
fn timers_and_io_are_served_while_every_worker_stays_busy() {
    // One endless color per worker (a worker keeps a color that never drains when nothing
    // else waits), and two (it switches between them); and streams that hop between two
    // colors, which their worker keeps (it looks at the driver between kept colors' runs).
    for (workers, streams, hop) in [
        (1, 1, false),
        (1, 2, false),
        (2, 2, false),
        (2, 4, false),
        (1, 1, true),
        (2, 2, true),
    ] {
        let rt = Runtime::builder().workers(workers).build().unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        keep_busy(&rt, streams, hop, &stop);
        let what = format!("{workers} busy workers, {streams} streams (hop: {hop})");
        let before = wait_until_all_busy(&rt, &what);
        // A timer due in 20 ms fires long before the 2 s the busy streams would run.
        let fired = Arc::new(Mutex::new(None));
        let f = fired.clone();
        let armed = Instant::now();
        rt.handle()
            .after(Duration::from_millis(20), Handler::new("tick"), move |_| {
                *f.lock().unwrap() = Some(armed.elapsed());
            })
            .unwrap();
        // And a connection is accepted and answered while the streams run.
        let answered = greeting_round_trip(&rt, Handler::new("accept"), Duration::from_secs(2));
        let deadline = Instant::now() + Duration::from_secs(2);
        while fired.lock().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Every worker ran callbacks since `before` (a descheduled worker gets 2 s to show
        // it), and none of them slept in between.
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut after = worker_counts(&rt);
        while !before.iter().zip(&after).all(|(b, a)| a.0 > b.0) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
            after = worker_counts(&rt);
        }
        stop.store(true, Ordering::SeqCst);
        let fired = *fired.lock().unwrap();
        rt.shutdown();
        for (w, (b, a)) in before.iter().zip(&after).enumerate() {
            assert!(
                a.0 > b.0 && a.1 == b.1,
                "{what}: worker {w} did not stay busy (callbacks, parks) {b:?} -> {a:?}"
            );
        }
        assert!(
            answered < Duration::from_secs(1),
            "{what}: the connection waited {answered:?}"
        );
        let fired = fired.unwrap_or_else(|| panic!("{what}: the timer never fired"));
        assert!(
            fired >= Duration::from_millis(20) && fired < Duration::from_secs(1),
            "{what}: the 20 ms timer fired after {fired:?}"
        );
    }
}

/// With two workers, one stuck in a long callback does not hold up I/O: the other drives it.
#[test]
fn io_is_served_while_another_worker_runs_a_long_callback() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    rt.spawn(Handler::new("long"), move |_| {
        started_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(1500));
    })
    .unwrap();
    started_rx.recv().unwrap();
    let answered = greeting_round_trip(
        &rt,
        Handler::new("accept").color(Color::fresh()),
        Duration::from_secs(5),
    );
    rt.shutdown();
    assert!(
        answered < Duration::from_millis(1000),
        "the answer waited {answered:?} for the long callback"
    );
}

/// A worker that leaves the I/O driver with a source to run lets a worker parked elsewhere take
/// the driver: what becomes ready while the first runs that source's long callback is served
/// by the other. (Without the hand-over the second worker slept on its parker while nobody
/// polled, and the answer waited for the long callback.) Two rounds, more than
/// `HANDOVER_MIN_NS` apart.
#[test]
fn io_is_served_while_the_worker_that_polled_runs_a_long_io_callback() {
    let rt = Runtime::builder().workers(2).build().unwrap();
    for round in 0..2 {
        // Both asleep: one in the driver, the other on its parker.
        assert!(
            rt.wait_idle_timeout(Duration::from_secs(5)),
            "round {round}: idle"
        );
        let long = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = long.local_addr().unwrap();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        rt.handle()
            .register(
                long,
                Interest::READABLE,
                Handler::new("long accept").color(Color::fresh()),
                move |_, ev| {
                    while ev.source().accept().is_ok() {}
                    let _ = started_tx.send(());
                    std::thread::sleep(Duration::from_millis(1500));
                },
            )
            .unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        started_rx.recv().unwrap();
        let answered = greeting_round_trip(
            &rt,
            Handler::new("accept").color(Color::fresh()),
            Duration::from_secs(5),
        );
        assert!(
            answered < Duration::from_millis(1000),
            "round {round}: the answer waited {answered:?} for the long callback"
        );
    }
    rt.shutdown();
}

/// An echo server on `rt` whose connections' callbacks run in `color(connection)`.
fn echo_server(rt: &Runtime, color: fn(u64) -> Color) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let next = Arc::new(AtomicU64::new(0));
    rt.handle()
        .register(
            listener,
            Interest::READABLE,
            Handler::new("accept"),
            move |cx, ev| {
                while let Ok((stream, _)) = ev.source().accept() {
                    let conn = next.fetch_add(1, Ordering::SeqCst);
                    let target = Handler::new("echo").color(color(conn)).key(conn);
                    cx.register(stream, Interest::READABLE, target, |_, ev| {
                        let mut buf = [0u8; 512];
                        loop {
                            match ev.source().read(&mut buf) {
                                Ok(0) => return ev.close(),
                                Ok(n) => ev.source().write_all(&buf[..n]).unwrap(),
                                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                                Err(_) => return ev.close(),
                            }
                        }
                    })
                    .unwrap();
                }
            },
        )
        .unwrap();
    addr
}

/// Round trips of `clients` clients at once against `addr`.
fn echo_round_trips(addr: std::net::SocketAddr, clients: usize, trips: usize) {
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut got = [0u8; 5];
                for _ in 0..trips {
                    s.write_all(b"hello").unwrap();
                    s.read_exact(&mut got).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// The driver hand-over's two limits: never for sources whose work all lands in the default
/// color (a serial program: a second worker in the driver would only queue behind the one
/// running it, and under a client on the same cores the two woke each other 330–420 times
/// per 1000 requests), and at most once per 300 µs per worker. With a color per connection it
/// happens.
#[test]
fn the_driver_is_handed_over_for_colored_work_only_and_at_a_bounded_rate() {
    let handovers =
        |rt: &Runtime| -> Vec<u64> { rt.metrics().workers.iter().map(|w| w.handovers).collect() };
    let rt = Runtime::builder().workers(2).build().unwrap();
    let addr = echo_server(&rt, |_| Color::DEFAULT);
    // One client: every round trip finds the worker that ran the last one parked, the
    // pattern that hands the driver over most often.
    echo_round_trips(addr, 1, 2000);
    assert!(rt.wait_idle_timeout(Duration::from_secs(5)));
    assert_eq!(
        handovers(&rt),
        vec![0, 0],
        "the driver was handed over for work in the default color"
    );
    rt.shutdown();

    let rt = Runtime::builder().workers(2).build().unwrap();
    let addr = echo_server(&rt, |conn| Color::of(&conn));
    let started = Instant::now();
    echo_round_trips(addr, 1, 2000);
    let elapsed = started.elapsed();
    assert!(rt.wait_idle_timeout(Duration::from_secs(5)));
    let per_worker = handovers(&rt);
    assert!(
        per_worker.iter().sum::<u64>() > 0,
        "never handed over with a color per connection"
    );
    // One per 300 µs per worker, the first at once, by the runtime's clock (its TSC rate is
    // calibrated, hence a quarter more here): with the limit this load comes within 5% of
    // that rate, and without it makes five to seven times as many.
    let bound = (elapsed.as_micros() * 5 / 4 / 300) as u64 + 2;
    assert!(
        per_worker.iter().all(|&n| n <= bound),
        "{per_worker:?} hand-overs in {elapsed:?} (at most {bound} per worker)"
    );
    rt.shutdown();
}

/// A worker asleep in the I/O driver's `poll` (the only worker, idle) is woken by work queued
/// from outside and by a timer armed from outside, not only by I/O: the producer wakes it
/// through the driver's waker.
#[test]
fn a_worker_asleep_in_the_driver_is_woken_by_outside_work_and_new_timers() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    for round in 0..20 {
        assert!(
            rt.wait_idle_timeout(Duration::from_secs(5)),
            "round {round}: idle"
        );
        // The worker now sleeps in the driver (it is the only one, so it holds it).
        let (tx, rx) = std::sync::mpsc::channel();
        let t = tx.clone();
        rt.spawn(Handler::new("outside"), move |_| t.send("spawn").unwrap())
            .unwrap();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Ok("spawn"),
            "round {round}: an outside spawn did not wake the worker in the driver"
        );
        assert!(
            rt.wait_idle_timeout(Duration::from_secs(5)),
            "round {round}: idle again"
        );
        rt.handle()
            .after(Duration::from_millis(1), Handler::new("tick"), move |_| {
                tx.send("timer").unwrap()
            })
            .unwrap();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Ok("timer"),
            "round {round}: a timer armed from outside did not wake the worker in the driver"
        );
    }
    rt.shutdown();
}
