//! The live source against peers that are not what it hopes for: it says why on screen and
//! keeps trying, and follows a server that appears later.

use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use hue_tui::source::{Event, live};

/// A peer on a free port that greets every connection with `greeting`; what the live
/// source first says about it.
fn first_word_about(greeting: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { return };
            let _ = s.write_all(greeting);
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let t = live::spawn(addr, tx, stop.clone());
    let e = rx.recv_timeout(Duration::from_secs(10)).expect("an event");
    stop.store(true, Ordering::Relaxed);
    drop(rx);
    let _ = t.join();
    match e {
        Event::Waiting(why) => why,
        other => panic!("expected a reason to wait, got {other:?}"),
    }
}

#[test]
fn a_peer_that_is_not_hue_is_named_as_such() {
    let why = first_word_about(b"SSH-2.0-OpenSSH_9.6\r\n");
    assert!(why.contains("is not a hue telemetry server"), "{why}");
}

#[test]
fn another_protocol_version_is_named_with_both_versions() {
    let why = first_word_about(b"HUE-TELEMETRY 2\n");
    assert!(
        why.contains("version 2") && why.contains("version 1"),
        "{why}"
    );
}

#[test]
fn a_refusal_is_shown_with_its_reason() {
    let why = first_word_about(b"HUE-TELEMETRY-REFUSED too many viewers: at most 8\n");
    assert!(
        why.contains("refused") && why.contains("too many viewers"),
        "{why}"
    );
}

#[test]
fn nothing_listening_says_so_and_keeps_trying() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let t = live::spawn(addr, tx, stop.clone());
    for _ in 0..2 {
        match rx.recv_timeout(Duration::from_secs(10)).unwrap() {
            Event::Waiting(why) => assert!(why.contains("nothing listens there"), "{why}"),
            other => panic!("{other:?}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    drop(rx);
    let _ = t.join();
}
