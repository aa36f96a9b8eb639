//! Bad input and faults: clients that vanish, idle, crowd in or read slowly. In each case the
//! server keeps serving everyone else and nothing panics.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{PATIENCE, closed_within, connect, eventually, get, read_response, web};
use hue_examples::Limits;
use hue_examples::webserver::{Coloring, ServerConfig, Site};
use hue_runtime::Runtime;

/// The demo site plus a file too big for the socket buffers of both ends together.
fn big_site() -> (Site, Vec<u8>) {
    let mut site = Site::demo();
    let huge: Vec<u8> = (0..24u32 << 20).map(|i| (i % 253) as u8).collect();
    site.insert("/huge.bin", "application/octet-stream", huge.clone());
    (site, huge)
}

fn assert_healthy(rt: &Runtime, server: &hue_examples::webserver::Server) {
    let r = get(server.addr(), "/files/0.html");
    assert_eq!(r.status, 200, "the server stopped serving others");
    assert_eq!(rt.metrics().panics, 0, "a callback panicked");
    assert_eq!(server.stats().conflicts, 0);
}

#[test]
fn clients_vanishing_mid_request() {
    let (rt, server) = web(2, ServerConfig::default());
    let partial: [&[u8]; 4] = [
        b"GET /files/1.html HTTP/1.1\r\nHo",
        b"GET /files/1.html HTT",
        b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly part of the body",
        b"G",
    ];
    for raw in partial {
        let mut s = connect(server.addr());
        s.write_all(raw).unwrap();
        drop(s);
    }
    // A client that half-closes after a whole request still gets its answer.
    let mut s = connect(server.addr());
    s.write_all(b"GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let r = read_response(&mut s, &mut Vec::new());
    assert_eq!(r.status, 200);
    assert!(closed_within(&mut s, PATIENCE));

    eventually("every vanished connection is closed", || {
        server.stats().conns.open == 0
    });
    let stats = server.stats().conns;
    assert_eq!(stats.accepted, 5);
    assert_eq!(stats.closed_by_peer + stats.reset, 5, "{stats:?}");
    assert_healthy(&rt, &server);
}

#[test]
fn clients_vanishing_mid_response() {
    let (site, _) = big_site();
    let (rt, server) = web(
        2,
        ServerConfig {
            site,
            coloring: Coloring::ByConnection,
            ..ServerConfig::default()
        },
    );
    for _ in 0..3 {
        let mut s = connect(server.addr());
        s.write_all(b"GET /huge.bin HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut first = [0u8; 16 * 1024];
        s.read_exact(&mut first).unwrap();
        assert!(first.starts_with(b"HTTP/1.1 200 OK\r\n"));
        // Gone, with most of the response unread: the server's writes start failing.
    }
    eventually("the abandoned connections are closed", || {
        server.stats().conns.open == 0
    });
    assert_eq!(server.stats().conns.reset, 3, "{:?}", server.stats().conns);
    assert_healthy(&rt, &server);
}

/// Whether the server has not closed `s`: nothing to read yet, without waiting.
fn still_open(s: &mut std::net::TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let open = matches!(
        s.read(&mut [0u8; 1]),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
    );
    s.set_nonblocking(false).unwrap();
    open
}

#[test]
fn idle_connections_are_closed_by_the_timeout() {
    let limits = Limits {
        idle_timeout: Some(Duration::from_millis(300)),
        ..Limits::default()
    };
    let (rt, server) = web(
        1,
        ServerConfig {
            limits,
            ..ServerConfig::default()
        },
    );
    let start = Instant::now();
    // One that never sends, one that goes quiet after a request.
    let mut silent = connect(server.addr());
    let mut quiet = connect(server.addr());
    quiet
        .write_all(b"GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut quiet, &mut Vec::new()).status, 200);
    // Not before the timeout: halfway to it (no connection was accepted before `start`), both
    // are still open. Margin: the check is made 150 ms after `start`, 150 ms before the
    // earliest the timeout may close them, and it must end before that.
    std::thread::sleep(Duration::from_millis(150).saturating_sub(start.elapsed()));
    let (silent_open, quiet_open) = (still_open(&mut silent), still_open(&mut quiet));
    let checked = start.elapsed();
    assert!(
        checked < Duration::from_millis(300),
        "the early check came {checked:?} after the start, too late to tell"
    );
    assert!(
        silent_open && quiet_open,
        "closed before the 300 ms timeout (at {checked:?}): silent {silent_open}, quiet {quiet_open}"
    );
    // And one that keeps talking, more often than the timeout.
    let mut busy = connect(server.addr());
    let mut buf = Vec::new();
    while start.elapsed() < Duration::from_millis(900) {
        busy.write_all(b"GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(&mut busy, &mut buf).status, 200);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(closed_within(&mut silent, PATIENCE));
    assert!(closed_within(&mut quiet, PATIENCE));
    // The busy one outlived both.
    busy.write_all(b"GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut busy, &mut buf).status, 200);
    assert_eq!(server.stats().conns.timed_out, 2);
    assert_healthy(&rt, &server);
}

/// A download that the client reads slowly is progress: the server's writes count, so the idle
/// timer leaves it open for as long as bytes move, here about ten timeouts (the idle timer
/// counts reads and writes instead of reading a clock; without the writes counted, it closed
/// the connection after its fourth look, mid-body).
#[test]
fn a_slow_download_outlives_the_idle_timeout() {
    let (site, huge) = big_site();
    let limits = Limits {
        idle_timeout: Some(Duration::from_millis(200)),
        ..Limits::default()
    };
    let (rt, server) = web(
        1,
        ServerConfig {
            site,
            limits,
            ..ServerConfig::default()
        },
    );
    let start = Instant::now();
    let mut slow = connect(server.addr());
    slow.write_all(b"GET /huge.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // 128 KiB every 10 ms: 24 MiB take about two seconds, far beyond the socket buffers.
    let mut got = Vec::new();
    let mut chunk = vec![0u8; 128 << 10];
    while got.len() < huge.len() {
        let n = slow.read(&mut chunk).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&chunk[..n]);
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = start.elapsed();
    let r = read_response(&mut slow, &mut got);
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), huge.len(), "cut off after {took:?}");
    assert!(r.body == huge, "the slow download's body differs");
    assert!(
        took > Duration::from_millis(800),
        "the download took only {took:?}: not slow enough to outlast the 200 ms timeout"
    );
    // (Once the last bytes are in the kernel's buffers the server has nothing left to move,
    // and the timer may close the connection while the client still reads them: that loses
    // nothing.)
    assert_healthy(&rt, &server);
}

#[test]
fn connections_over_the_limit_are_refused_cleanly() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let (rt, server) = web(
        2,
        ServerConfig {
            limits,
            coloring: Coloring::ByConnection,
            ..ServerConfig::default()
        },
    );
    let mut a = connect(server.addr());
    let mut b = connect(server.addr());
    eventually("two connections are in", || {
        server.stats().conns.accepted == 2
    });
    // The third gets a 503 that says it closes, then the end of the stream.
    let mut c = connect(server.addr());
    let r = read_response(&mut c, &mut Vec::new());
    assert_eq!(r.status, 503);
    assert!(r.closes());
    assert!(closed_within(&mut c, PATIENCE));
    assert_eq!(server.stats().conns.refused, 1);
    // The two inside are served as before.
    for s in [&mut a, &mut b] {
        s.write_all(b"GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(s, &mut Vec::new()).status, 200);
    }
    // One leaves; a newcomer gets its place.
    drop(a);
    eventually("the leaver is closed", || server.stats().conns.open == 1);
    let r = get(server.addr(), "/style.css");
    assert_eq!(r.status, 200);
    assert_eq!(rt.metrics().panics, 0);
}

#[test]
fn a_slow_reader_does_not_block_other_clients() {
    // The serial coloring is the hard case: one event loop for everyone.
    let (site, huge) = big_site();
    let (rt, server) = web(
        1,
        ServerConfig {
            site,
            ..ServerConfig::default()
        },
    );
    let mut slow = connect(server.addr());
    slow.write_all(b"GET /huge.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // It reads a little now and then; meanwhile others are served promptly.
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    let others = Instant::now();
    for i in 0..40 {
        let r = get(server.addr(), "/files/2.html");
        assert_eq!(r.status, 200);
        if i % 10 == 0 {
            let n = slow.read(&mut chunk).unwrap();
            got.extend_from_slice(&chunk[..n]);
        }
    }
    assert!(
        others.elapsed() < Duration::from_secs(5),
        "40 requests took {:?} beside a slow reader",
        others.elapsed()
    );
    // The slow reader still gets every byte, in order.
    let r = read_response(&mut slow, &mut got);
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), huge.len());
    assert!(r.body == huge, "the slow reader's body differs");
    assert_healthy(&rt, &server);
}

#[test]
fn a_pipelined_flood_is_answered_in_full() {
    // A client that sends far more requests than it reads for a while (16 MiB of responses):
    // the server stops reading it once 1 MiB of them waits, and starts again as the client
    // catches up.
    let (rt, server) = web(
        2,
        ServerConfig {
            coloring: Coloring::ByConnection,
            ..ServerConfig::default()
        },
    );
    let mut s = connect(server.addr());
    let n = 2000;
    let req = b"GET /files/4.html HTTP/1.1\r\nHost: t\r\n\r\n";
    let writer = {
        let mut s = s.try_clone().unwrap();
        // In bursts, so that requests are still arriving when the server stops reading.
        std::thread::spawn(move || {
            for _ in 0..n / 50 {
                s.write_all(&req.repeat(50)).unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(400));
    let want = Site::demo().get("/files/4.html").unwrap().to_vec();
    let mut buf = Vec::new();
    for _ in 0..n {
        let r = read_response(&mut s, &mut buf);
        assert_eq!((r.status, r.body.len()), (200, want.len()));
    }
    writer.join().unwrap();
    assert_healthy(&rt, &server);
}

#[test]
fn garbage_never_panics_the_server() {
    let (rt, server) = web(2, ServerConfig::default());
    let mut x = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let pieces: [&[u8]; 10] = [
        b"GET ",
        b"/",
        b" HTTP/1.1",
        b"\r\n",
        b"Host: t",
        b":",
        b"Content-Length: 3",
        b"\0\xff",
        b"\n",
        b"%",
    ];
    for _ in 0..60 {
        let mut raw = Vec::new();
        for _ in 0..next() % 24 {
            raw.extend_from_slice(pieces[(next() % pieces.len() as u64) as usize]);
        }
        let mut s = connect(server.addr());
        let _ = s.write_all(&raw);
        let _ = s.shutdown(std::net::Shutdown::Write);
        // Whatever it answers, the connection ends.
        assert!(closed_within(&mut s, PATIENCE), "{raw:?}");
    }
    eventually("every connection is closed", || {
        server.stats().conns.open == 0
    });
    assert_healthy(&rt, &server);
}
