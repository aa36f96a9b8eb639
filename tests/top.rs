//! `hue top` as a user runs it: in a real terminal (tmux), following a traced program's
//! telemetry, and replaying a trace. Needs tmux (`.ci/run` installs it).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

const HUE: &str = env!("CARGO_BIN_EXE_hue");

/// A tmux session running one command, killed when dropped.
struct Tmux {
    name: String,
}

impl Tmux {
    fn start(name: &str, command: &str) -> Tmux {
        assert!(
            Command::new("tmux").arg("-V").output().is_ok(),
            "this test needs tmux (apt-get install tmux; .ci/run installs it)"
        );
        let name = format!("{name}-{}", std::process::id());
        let ok = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &name,
                "-x",
                "120",
                "-y",
                "40",
                command,
            ])
            .env_remove("NO_COLOR")
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session failed");
        Tmux { name }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        Command::new("tmux")
            .args(["send-keys", "-t", &self.name, keys])
            .status()
            .unwrap();
    }

    fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["has-session", "-t", &self.name])
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    }

    /// Waits up to `secs` for the screen to satisfy `f`; returns the screen.
    fn wait_for(&self, secs: u64, what: &str, f: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if f(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "waited {secs} s for {what}; the screen:\n{s}"
            );
            sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `calls/s` cell of `handler`'s row on the handlers view.
fn rate(screen: &str, handler: &str) -> Option<String> {
    let line = screen
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(handler))?;
    line.split_whitespace().nth(2).map(str::to_owned)
}

#[test]
fn top_waits_for_a_program_then_follows_its_handlers_live() {
    let addr = format!("127.0.0.1:{}", free_port());
    let tmux = Tmux::start("hue-top-live", &format!("{HUE} top {addr}"));
    let s = tmux.wait_for(10, "the waiting screen", |s| {
        s.contains("Waiting for a hue program")
    });
    assert!(s.contains(&format!("HUE_TELEMETRY={addr}")), "{s}");

    let _demo = Killed(
        Command::new(HUE)
            .args([
                "demo",
                "--workload",
                "pipeline",
                "--seconds",
                "4",
                "--no-trace",
            ])
            .args(["--telemetry", &addr])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    tmux.wait_for(20, "the first snapshot", |s| s.contains("callbacks/s"));
    tmux.keys("3");
    let first = tmux.wait_for(10, "the parse handler", |s| rate(s, "parse").is_some());
    assert!(
        first.contains("query") && first.contains("respond"),
        "{first}"
    );
    // The counts move: some later screen shows another rate for `parse`.
    let before = rate(&first, "parse");
    tmux.wait_for(10, "a new rate for parse", |s| {
        rate(s, "parse").is_some_and(|r| Some(r) != before)
    });
    tmux.keys("q");
    let deadline = Instant::now() + Duration::from_secs(5);
    while tmux.alive() && Instant::now() < deadline {
        sleep(Duration::from_millis(100));
    }
    assert!(!tmux.alive(), "q quits hue top");
}

#[test]
fn top_replays_a_trace_and_quits_on_ctrl_c() {
    let trace = concat!(env!("CARGO_MANIFEST_DIR"), "/tui/tests/data/small.hue");
    let tmux = Tmux::start("hue-top-replay", &format!("{HUE} top --replay {trace}"));
    tmux.wait_for(10, "the replay", |s| {
        s.contains("replay small.hue") && s.contains("render")
    });
    tmux.keys("C-c");
    let deadline = Instant::now() + Duration::from_secs(5);
    while tmux.alive() && Instant::now() < deadline {
        sleep(Duration::from_millis(100));
    }
    assert!(!tmux.alive(), "Ctrl-C quits hue top");
}

#[test]
fn top_refuses_a_file_that_is_not_a_trace_with_status_1() {
    let dir = std::env::temp_dir().join(format!("hue-top-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.hue");
    std::fs::write(&bad, b"not a trace at all").unwrap();
    let out = Command::new(HUE)
        .args(["top", "--replay"])
        .arg(&bad)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.hue") && err.starts_with("hue: cannot replay"),
        "{err}"
    );
}
