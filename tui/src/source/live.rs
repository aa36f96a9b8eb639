//! Following a running program's telemetry: connect, read snapshots, and on any failure say
//! why and try again, so `hue top` can be started before the program and survives its restart.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use hue_formats::telemetry::{TelemetryClient, TelemetryErrorKind};

use super::Event;

/// The standard loopback address telemetry is served on (`HUE_TELEMETRY=127.0.0.1:7797`).
pub const DEFAULT_ADDR: &str = "127.0.0.1:7797";

/// How long to wait between connection attempts: short enough that a restarted program is
/// seen within a second, long enough that a viewer left waiting costs nothing.
const RETRY: Duration = Duration::from_millis(500);

/// How long a read waits before it looks at the stop flag again.
const READ_TIMEOUT: Duration = Duration::from_millis(200);

/// A thread following `addr`, sending to `tx` until `stop` is set or the app is gone.
pub fn spawn(addr: SocketAddr, tx: Sender<Event>, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    thread::Builder::new()
        .name("hue-top-live".into())
        .spawn(move || follow(addr, &tx, &stop))
        .expect("spawning the telemetry thread")
}

fn follow(addr: SocketAddr, tx: &Sender<Event>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let mut client = match TelemetryClient::connect_timeout(addr, Duration::from_secs(1)) {
            Ok(c) => c,
            Err(e) => {
                if tx.send(Event::Waiting(e.to_string())).is_err() {
                    return;
                }
                thread::sleep(RETRY);
                continue;
            }
        };
        if tx.send(Event::Connected(addr)).is_err() {
            return;
        }
        if let Err(e) = client.set_read_timeout(Some(READ_TIMEOUT)) {
            let _ = tx.send(Event::Disconnected(e.to_string()));
            continue;
        }
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            match client.next_snapshot() {
                Ok(s) => {
                    if tx.send(Event::Snapshot(s)).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == TelemetryErrorKind::TimedOut => {}
                Err(e) => {
                    if tx.send(Event::Disconnected(e.to_string())).is_err() {
                        return;
                    }
                    thread::sleep(RETRY);
                    break;
                }
            }
        }
    }
}
