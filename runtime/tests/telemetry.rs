//! Live telemetry: the server, the client and the protocol between them (runtime/formats/TELEMETRY.md).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use hue_runtime::telemetry::{
    ColorSnapshot, HandlerSnapshot, MachineSnapshot, ServerOptions, Snapshot, StateSnapshot,
    TelemetryClient, TelemetryError, TelemetryErrorKind, TelemetryServer, WorkerSnapshot,
};
use proptest::prelude::*;

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn serve(options: ServerOptions) -> TelemetryServer {
    TelemetryServer::bind(loopback(), options).unwrap()
}

/// A snapshot with `handlers` handlers: about 250 bytes of JSON per handler.
fn snapshot(seq: u64, handlers: usize) -> Snapshot {
    Snapshot {
        seq,
        at_ns: seq * 100_000_000,
        period_ns: 100_000_000,
        workers: (0..4)
            .map(|w| WorkerSnapshot {
                worker: w,
                busy_ns: seq * 1000 + u64::from(w),
                parked_ns: 5,
                cpu_ns: 7,
                cpu_wait_ns: 3,
                callbacks: seq,
                steals: u64::from(w),
                serial_bound_ns: (w > 0).then_some(seq * 10),
            })
            .collect(),
        handlers: (0..handlers)
            .map(|h| HandlerSnapshot {
                name: format!("handler-{h:04}-with-a-name-as-long-as-real-ones-get"),
                callbacks: seq + h as u64,
                busy_ns: 123_456_789,
                cpu_ns: 98_765_432,
                cpu_wall_ns: 123_000_000,
                serial_wait_ns: 4_000_000,
                worker_wait_ns: 1_000,
                panics: 0,
                blocking: h % 7 == 0,
                ..HandlerSnapshot::default()
            })
            .collect(),
        colors: (0..3)
            .map(|c| ColorSnapshot {
                color: c,
                callbacks: 10 * c,
                busy_ns: 1_000 * c,
                serial_wait_ns: c,
                ..ColorSnapshot::default()
            })
            .collect(),
        active_colors: 3,
        states: vec![StateSnapshot {
            name: "sessions \"quoted\" \u{1F600}".into(),
            accesses: 10,
            conflicts: 2,
            wait_ns: 300,
            ..StateSnapshot::default()
        }],
        machine: Some(MachineSnapshot {
            at_ns: seq * 100_000_000,
            process_cpu_ns: seq * 90_000_000,
            machine_cpu_ns: Some(seq * 150_000_000),
            cores: 2,
        }),
        dropped_records: seq / 2,
        dropped_snapshots: 0,
    }
}

/// Waits up to 10 s for `done`.
#[track_caller]
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

#[track_caller]
fn expect_error<T: std::fmt::Debug>(
    res: Result<T, TelemetryError>,
    kind: TelemetryErrorKind,
) -> String {
    let err = res.expect_err("an error");
    assert_eq!(err.kind(), kind, "error: {err}");
    err.to_string()
}

/// Reads from a raw connection until the server closes it; returns what it sent.
#[track_caller]
fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the server did not close the connection; it sent {got:?}")
            }
            // A server closing with our bytes unread resets the connection.
            Err(_) => return got,
        }
    }
}

#[test]
fn snapshots_reach_three_viewers_at_once_unchanged() {
    let server = serve(ServerOptions::default());
    let mut viewers: Vec<TelemetryClient> = (0..3)
        .map(|_| TelemetryClient::connect(server.local_addr()).unwrap())
        .collect();
    wait_until("three viewers joined", || server.stats().viewers == 3);

    let published: Vec<Snapshot> = (0..50).map(|seq| snapshot(seq, seq as usize % 5)).collect();
    for s in &published {
        // The server owns this field; what the publisher puts there is replaced per viewer.
        server.publish(&Snapshot {
            dropped_snapshots: 12345,
            ..s.clone()
        });
    }
    for viewer in &mut viewers {
        for want in &published {
            assert_eq!(&viewer.next_snapshot().unwrap(), want);
        }
    }
    let stats = server.stats();
    assert_eq!((stats.published, stats.dropped_snapshots), (50, 0));
}

#[test]
fn a_viewer_that_joins_late_gets_the_latest_snapshot_first() {
    let server = serve(ServerOptions::default());
    for seq in 0..3 {
        server.publish(&snapshot(seq, 1));
    }
    let mut viewer = TelemetryClient::connect(server.local_addr()).unwrap();
    wait_until("the viewer joined", || server.stats().viewers == 1);
    server.publish(&snapshot(3, 1));
    let seqs: Vec<u64> = (0..2)
        .map(|_| viewer.next_snapshot().unwrap().seq)
        .collect();
    assert_eq!(seqs, [2, 3]);
}

#[test]
fn a_stuck_viewer_loses_snapshots_and_is_disconnected_while_a_fast_viewer_gets_every_one() {
    const SNAPSHOTS: u64 = 1000;
    // At most this many snapshots in flight to the fast viewer, so its queue never fills.
    const AHEAD: u64 = 4;
    let server = serve(ServerOptions {
        max_queued_bytes_per_viewer: 1 << 20,
        stall_timeout: Duration::from_millis(500),
        ..ServerOptions::default()
    });
    let mut stuck = TelemetryClient::connect(server.local_addr()).unwrap();
    let mut fast = TelemetryClient::connect(server.local_addr()).unwrap();
    wait_until("both viewers joined", || server.stats().viewers == 2);

    let (received, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        for seq in 0..=SNAPSHOTS {
            let got = fast.next_snapshot().unwrap();
            assert_eq!(got.seq, seq, "the fast viewer missed a snapshot");
            assert_eq!(got.dropped_snapshots, 0);
            received.send(seq).unwrap();
        }
    });

    // About 50 KB each: 50 MB in all, far more than the stuck viewer's socket buffers hold.
    let big = snapshot(0, 200);
    let mut slowest_publish = Duration::ZERO;
    let mut acked = 0;
    for seq in 0..SNAPSHOTS {
        let started = Instant::now();
        server.publish(&Snapshot { seq, ..big.clone() });
        slowest_publish = slowest_publish.max(started.elapsed());
        while seq + 1 - acked > AHEAD {
            rx.recv_timeout(Duration::from_secs(10))
                .expect("the fast viewer stopped receiving");
            acked += 1;
        }
    }
    // Publishing went on while the stuck viewer read nothing; its queue overflowed and every
    // overflowing publish returned instead of waiting (a waiting publish would never return).
    let stats = server.stats();
    assert!(stats.dropped_snapshots > 0, "{stats:?}");
    assert!(
        slowest_publish < Duration::from_secs(1),
        "a publish took {slowest_publish:?}"
    );

    wait_until("the stuck viewer is disconnected", || {
        server.stats().disconnected_slow == 1
    });
    assert_eq!(server.stats().viewers, 1);
    server.publish(&snapshot(SNAPSHOTS, 1));
    reader.join().unwrap();

    // The stuck viewer finds the connection closed once it reads what reached it.
    let mut read = 0;
    let err = loop {
        match stuck.next_snapshot() {
            Ok(_) => read += 1,
            Err(e) => break e,
        }
        assert!(read <= SNAPSHOTS, "the stuck viewer was not disconnected");
    };
    assert_eq!(err.kind(), TelemetryErrorKind::Closed, "{err}");
}

#[test]
fn a_viewer_that_pauses_is_told_how_many_snapshots_it_missed() {
    const SNAPSHOTS: u64 = 1000;
    let server = serve(ServerOptions {
        max_queued_bytes_per_viewer: 256 << 10,
        stall_timeout: Duration::from_secs(60),
        ..ServerOptions::default()
    });
    let mut viewer = TelemetryClient::connect(server.local_addr()).unwrap();
    wait_until("the viewer joined", || server.stats().viewers == 1);
    let big = snapshot(0, 200);
    for seq in 0..SNAPSHOTS {
        server.publish(&Snapshot { seq, ..big.clone() });
    }

    viewer
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut got = Vec::new();
    let err = loop {
        match viewer.next_snapshot() {
            Ok(s) => got.push((s.seq, s.dropped_snapshots)),
            Err(e) => break e,
        }
    };
    assert!(err.is_timeout(), "{err}");

    // Each snapshot counts at least the ones missing before it; the last counts them all.
    let mut missing_before = 0;
    let mut next_seq = 0;
    for &(seq, dropped) in &got {
        missing_before += seq - next_seq;
        next_seq = seq + 1;
        assert!(
            dropped >= missing_before,
            "seq {seq} says {dropped} dropped"
        );
    }
    let stats = server.stats();
    let (_, last_dropped) = *got.last().unwrap();
    assert!(stats.dropped_snapshots > 0);
    assert_eq!(stats.dropped_snapshots, SNAPSHOTS - got.len() as u64);
    assert_eq!(last_dropped, stats.dropped_snapshots);
}

#[test]
fn garbage_clients_are_disconnected_and_counted_and_the_server_keeps_serving() {
    let server = serve(ServerOptions {
        handshake_timeout: Duration::from_millis(300),
        ..ServerOptions::default()
    });
    let addr = server.local_addr();
    let mut viewer = TelemetryClient::connect(addr).unwrap();
    wait_until("the viewer joined", || server.stats().viewers == 1);

    let mut random = vec![0u8; 4096];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in &mut random {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let garbage: [&[u8]; 5] = [
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        &random,
        b"HELLO 2\n",
        b"HELLO 1\nand more",
        &[b'x'; 100],
    ];
    for bytes in garbage {
        let mut stream = TcpStream::connect(addr).unwrap();
        // The server may close the connection before taking everything.
        let _ = stream.write_all(bytes);
        let got = read_until_closed(&mut stream);
        assert!(
            got.is_empty() || got == b"HUE-TELEMETRY 1\n",
            "sent {got:?} to a garbage client"
        );
    }
    let mut silent = TcpStream::connect(addr).unwrap();
    assert_eq!(read_until_closed(&mut silent), b"HUE-TELEMETRY 1\n");
    // Hanging up before the hello (a port probe) is garbage too.
    drop(TcpStream::connect(addr).unwrap());

    wait_until("every bad connection is counted", || {
        let stats = server.stats();
        stats.rejected_garbage == 6 && stats.handshake_timeouts == 1
    });
    let stats = server.stats();
    assert_eq!((stats.viewers, stats.accepted), (1, 8), "{stats:?}");

    let mut late = TelemetryClient::connect(addr).unwrap();
    wait_until("the late viewer joined", || server.stats().viewers == 2);
    server.publish(&snapshot(1, 3));
    assert_eq!(viewer.next_snapshot().unwrap(), snapshot(1, 3));
    assert_eq!(late.next_snapshot().unwrap(), snapshot(1, 3));
}

#[test]
fn a_viewer_that_talks_after_its_hello_is_disconnected() {
    let server = serve(ServerOptions::default());
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    stream.write_all(b"HELLO 1\n").unwrap();
    wait_until("the viewer joined", || server.stats().viewers == 1);
    stream.write_all(b"?").unwrap();
    assert_eq!(read_until_closed(&mut stream), b"HUE-TELEMETRY 1\n");
    wait_until("the viewer left", || server.stats().viewers == 0);
    assert_eq!(server.stats().rejected_garbage, 1);
}

#[test]
fn binding_a_non_loopback_address_needs_the_opt_in() {
    let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let msg = expect_error(
        TelemetryServer::bind(any, ServerOptions::default()),
        TelemetryErrorKind::NonLoopback,
    );
    assert!(
        msg.starts_with("refusing to serve telemetry on 0.0.0.0:0: it is not a loopback address"),
        "{msg}"
    );
    assert!(msg.contains("allow_non_loopback"), "{msg}");

    let server = TelemetryServer::bind(
        any,
        ServerOptions {
            allow_non_loopback: true,
            ..ServerOptions::default()
        },
    )
    .unwrap();
    let port = server.local_addr().port();
    let mut viewer = TelemetryClient::connect(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    wait_until("the viewer joined", || server.stats().viewers == 1);
    server.publish(&snapshot(9, 1));
    assert_eq!(viewer.next_snapshot().unwrap().seq, 9);

    // All of 127.0.0.0/8 is loopback.
    TelemetryServer::bind("127.0.0.2:0".parse().unwrap(), ServerOptions::default()).unwrap();
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let first = serve(ServerOptions::default());
    let addr = first.local_addr();
    let msg = expect_error(
        TelemetryServer::bind(addr, ServerOptions::default()),
        TelemetryErrorKind::AddrInUse,
    );
    assert!(
        msg.starts_with(&format!("telemetry address {addr} is already in use")),
        "{msg}"
    );

    let other = TcpListener::bind(loopback()).unwrap();
    let addr = other.local_addr().unwrap();
    let msg = expect_error(
        TelemetryServer::bind(addr, ServerOptions::default()),
        TelemetryErrorKind::AddrInUse,
    );
    assert!(msg.contains(&addr.to_string()), "{msg}");
}

/// A server that greets its one connection with `greeting`, then waits for it to hang up.
fn fake_server(greeting: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind(loopback()).unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let _ = stream.write_all(greeting);
        let _ = stream.read_to_end(&mut Vec::new());
    });
    addr
}

#[test]
fn connecting_to_something_other_than_a_hue_telemetry_server_is_a_clear_error() {
    let ssh = fake_server(b"SSH-2.0-OpenSSH_9.6\r\n");
    let msg = expect_error(
        TelemetryClient::connect(ssh),
        TelemetryErrorKind::NotTelemetry,
    );
    assert_eq!(
        msg,
        format!(
            "{ssh} is not a hue telemetry server: it greeted with \"SSH-2.0-OpenSSH_9.6\" \
             instead of \"HUE-TELEMETRY 1\""
        )
    );

    let newer = fake_server(b"HUE-TELEMETRY 2\n");
    let msg = expect_error(TelemetryClient::connect(newer), TelemetryErrorKind::Version);
    assert!(
        msg.starts_with(&format!(
            "the telemetry server at {newer} speaks protocol version 2, this client speaks \
             version 1"
        )),
        "{msg}"
    );

    let silent = fake_server(b"");
    let msg = expect_error(
        TelemetryClient::connect_timeout(silent, Duration::from_millis(200)),
        TelemetryErrorKind::NotTelemetry,
    );
    assert!(
        msg.starts_with(&format!("{silent} sent no greeting within 200ms")),
        "{msg}"
    );

    let binary = fake_server(&[0xff; 100]);
    expect_error(
        TelemetryClient::connect(binary),
        TelemetryErrorKind::NotTelemetry,
    );

    let nobody = TcpListener::bind(loopback()).unwrap().local_addr().unwrap();
    let msg = expect_error(
        TelemetryClient::connect(nobody),
        TelemetryErrorKind::Connect,
    );
    assert!(
        msg.starts_with(&format!(
            "cannot connect to the telemetry server at {nobody}"
        )),
        "{msg}"
    );
}

#[test]
fn viewers_beyond_the_limit_are_refused_with_a_reason() {
    let server = serve(ServerOptions {
        max_viewers: 1,
        ..ServerOptions::default()
    });
    let _first = TelemetryClient::connect(server.local_addr()).unwrap();
    wait_until("the first viewer joined", || server.stats().viewers == 1);
    let msg = expect_error(
        TelemetryClient::connect(server.local_addr()),
        TelemetryErrorKind::Refused,
    );
    assert_eq!(
        msg,
        format!(
            "the telemetry server at {} refused this viewer: too many viewers: this program \
             serves at most 1 at once",
            server.local_addr()
        )
    );
    assert_eq!(server.stats().refused, 1);
}

#[test]
fn a_read_timeout_in_the_middle_of_a_frame_loses_nothing() {
    let listener = TcpListener::bind(loopback()).unwrap();
    let addr = listener.local_addr().unwrap();
    let (go_on, wait) = mpsc::channel::<()>();
    let json = serde_json::to_vec(&snapshot(5, 2)).unwrap();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(b"HUE-TELEMETRY 1\n").unwrap();
        let mut hello = [0; 8];
        stream.read_exact(&mut hello).unwrap();
        assert_eq!(&hello, b"HELLO 1\n");
        let mut frame = (json.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&json);
        for part in [&frame[..2], &frame[2..100], &frame[100..]] {
            stream.write_all(part).unwrap();
            wait.recv().unwrap();
        }
    });

    let mut viewer = TelemetryClient::connect(addr).unwrap();
    viewer
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    for _ in 0..2 {
        let err = viewer.next_snapshot().unwrap_err();
        assert!(err.is_timeout(), "{err}");
        go_on.send(()).unwrap();
    }
    viewer.set_read_timeout(None).unwrap();
    assert_eq!(viewer.next_snapshot().unwrap(), snapshot(5, 2));
    go_on.send(()).unwrap();
    server.join().unwrap();
    expect_error(viewer.next_snapshot(), TelemetryErrorKind::Closed);
}

#[test]
fn shutting_the_server_down_closes_its_viewers_and_frees_its_port() {
    let server = serve(ServerOptions::default());
    let addr = server.local_addr();
    let mut viewer = TelemetryClient::connect(addr).unwrap();
    wait_until("the viewer joined", || server.stats().viewers == 1);
    server.shutdown();
    let msg = expect_error(viewer.next_snapshot(), TelemetryErrorKind::Closed);
    assert_eq!(
        msg,
        format!("the telemetry server at {addr} closed the connection")
    );
    TelemetryServer::bind(addr, ServerOptions::default()).unwrap();
}

/// A server that sends `greeting` to its one connection; then, if `frames` is not empty,
/// waits for the hello and sends `frames`; then hangs up.
fn scripted_server(greeting: &[u8], frames: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind(loopback()).unwrap();
    let addr = listener.local_addr().unwrap();
    let greeting = greeting.to_vec();
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let _ = stream.write_all(&greeting);
        if !frames.is_empty() {
            let _ = stream.read_exact(&mut [0; 8]);
            let _ = stream.write_all(&frames);
        }
    });
    addr
}

#[test]
fn a_viewer_reads_snapshots_with_fields_it_does_not_know_or_that_lack_some() {
    // What a newer server (new fields) and an older one (fewer fields) of version 1 send.
    let json = br#"{"seq":3,"gpu_ns":5,"workers":[{"worker":1,"busy_ns":2,"queue":[1,2]}]}"#;
    let mut frame = (json.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(json);
    let server = scripted_server(b"HUE-TELEMETRY 1\n", frame);
    let mut viewer = TelemetryClient::connect(server).unwrap();
    assert_eq!(
        viewer.next_snapshot().unwrap(),
        Snapshot {
            seq: 3,
            workers: vec![WorkerSnapshot {
                worker: 1,
                busy_ns: 2,
                ..WorkerSnapshot::default()
            }],
            ..Snapshot::default()
        }
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever a server sends, the client returns snapshots or errors, never panics, and
    /// never believes a length it should not.
    #[test]
    fn the_client_survives_any_bytes(
        greet in any::<bool>(),
        length in prop_oneof![Just(None), (0u32..64).prop_map(Some), any::<u32>().prop_map(Some)],
        rest in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = Vec::new();
        if let Some(length) = length {
            bytes.extend_from_slice(&length.to_be_bytes());
        }
        bytes.extend_from_slice(&rest);
        // With the banner, the bytes are frames; without, they are the greeting.
        let addr = if greet {
            scripted_server(b"HUE-TELEMETRY 1\n", bytes)
        } else {
            scripted_server(&bytes, Vec::new())
        };
        match TelemetryClient::connect(addr) {
            Ok(mut viewer) => {
                for _ in 0..64 {
                    if viewer.next_snapshot().is_err() {
                        break;
                    }
                }
            }
            Err(e) => prop_assert_ne!(e.kind(), TelemetryErrorKind::Io, "{}", e),
        }
    }
}
