//! The terminal is restored when `hue top` ends: after `q`, after Ctrl-C, and after a panic
//! inside the UI. Each case runs in a tmux pane of a private tmux server, and the test reads
//! the pane's state after the program has exited: out of the alternate screen
//! (`#{alternate_on}` is 0), the cursor visible (`#{cursor_flag}` is 1), the line
//! discipline back in cooked mode (`stty` in the pane after the program: `icanon`, `echo`
//! and `isig` on), and, after the panic, its message readable on the restored screen.
//!
//! No harness: this binary is also the program the pane runs (`restore --child replay` or
//! `--child panic`), so the panic comes from a test-only program, not from a switch in
//! `hue`. `replay` is `hue_tui::run_replay`, what `hue top --replay` calls; `panic` sets the
//! terminal up with `hue_tui::terminal::with_terminal`, the function every `hue top` screen
//! goes through, draws, and panics. Skipped, saying why, where tmux is not installed
//! (`.ci/run` installs it).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::thread::sleep;
use std::time::{Duration, Instant};

use ratatui::widgets::Paragraph;

const PANIC_MESSAGE: &str = "a panic inside the UI (tui/tests/restore.rs)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        child(args.get(1).map_or("", String::as_str));
        return;
    }
    if Command::new("tmux").arg("-V").output().is_err() {
        println!(
            "restore: skipped: tmux is not installed (apt-get install tmux; .ci/run installs it)"
        );
        return;
    }
    quits_on(&["q"], "q");
    quits_on(&["C-c"], "Ctrl-C");
    restores_after_a_panic();
    println!("restore: 3 passed (q, Ctrl-C, panic)");
}

/// What the pane runs.
fn child(role: &str) {
    match role {
        "replay" => hue_tui::run_replay(&small()).expect("the replay runs"),
        "panic" => {
            let _: hue_tui::Result<()> = hue_tui::terminal::with_terminal(|t| {
                t.draw(|f| f.render_widget(Paragraph::new("about to panic"), f.area()))
                    .expect("drawing");
                // Let the test see the alternate screen on before the panic.
                sleep(Duration::from_millis(1500));
                panic!("{PANIC_MESSAGE}");
            });
        }
        other => panic!("unknown child role {other:?}"),
    }
}

fn small() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/small.hue")
}

/// `hue top --replay` quits on `keys` and leaves the terminal as it found it.
fn quits_on(keys: &[&str], what: &str) {
    let pane = Pane::start(&format!("quit-{what}"), "replay");
    // The UI is up: the alternate screen on, the cursor hidden, the replay drawn.
    pane.wait_for(&format!("the replay before {what}"), |p| {
        p.alternate_on() && !p.cursor_visible() && p.screen().contains("replay small.hue")
    });
    pane.keys(keys);
    let screen = pane.wait_for(&format!("the program to end after {what}"), |p| {
        p.screen().contains("modes:")
    });
    pane.assert_restored(what, &screen);
    assert!(screen.contains("exit status 0"), "{what}: {screen}");
}

fn restores_after_a_panic() {
    let pane = Pane::start("panic", "panic");
    pane.wait_for("the UI before the panic", |p| {
        p.alternate_on() && !p.cursor_visible() && p.screen().contains("about to panic")
    });
    let screen = pane.wait_for("the program to end after its panic", |p| {
        p.screen().contains("modes:")
    });
    pane.assert_restored("panic", &screen);
    assert!(screen.contains("exit status 101"), "panic: {screen}");
    // Readable: the message starts a line of its own on the main screen (raw mode would
    // have left it where the cursor was, and its next line not at the start).
    let lines: Vec<&str> = screen.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("thread 'main'") && l.contains("panicked at"))
        .unwrap_or_else(|| panic!("the panic message, at the start of a line:\n{screen}"));
    assert!(
        lines[at + 1].starts_with(PANIC_MESSAGE),
        "the message on the next line, at its start:\n{screen}"
    );
}

/// A pane of a tmux server of its own, running this binary as `role` and then, in the same
/// shell, printing its exit status and the line discipline's modes; the server is killed
/// when dropped.
struct Pane {
    socket: String,
}

impl Pane {
    fn start(name: &str, role: &str) -> Pane {
        let socket = format!("hue-restore-{name}-{}", std::process::id());
        let exe = std::env::current_exe().expect("this test's path");
        let script = format!(
            "RUST_BACKTRACE=0 '{}' --child {role}; echo \"exit status $?\"; \
             echo \"modes: $(stty -a | tr ' ;' '\\n\\n' | grep -xE -- '-?(icanon|echo|isig)' | tr '\\n' ' ')\"; \
             sleep 60",
            exe.display()
        );
        let pane = Pane { socket };
        let out = pane.tmux(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "100",
            "-y",
            "30",
            &script,
        ]);
        assert!(
            out.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pane
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("running tmux")
    }

    fn format(&self, f: &str) -> String {
        let out = self.tmux(&["display", "-p", "-t", "t", f]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn alternate_on(&self) -> bool {
        self.format("#{alternate_on}") == "1"
    }

    fn cursor_visible(&self) -> bool {
        self.format("#{cursor_flag}") == "1"
    }

    fn screen(&self) -> String {
        // With what scrolled off the top.
        let out = self.tmux(&["capture-pane", "-p", "-S", "-200", "-t", "t"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend(keys);
        assert!(self.tmux(&args).status.success());
    }

    /// Waits up to 30 s for `f`; returns the screen then.
    fn wait_for(&self, what: &str, f: impl Fn(&Pane) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if f(self) {
                return self.screen();
            }
            assert!(
                Instant::now() < deadline,
                "waited 30 s for {what}; the screen:\n{}",
                self.screen()
            );
            sleep(Duration::from_millis(100));
        }
    }

    /// Out of the alternate screen, the cursor shown, cooked mode.
    fn assert_restored(&self, what: &str, screen: &str) {
        assert_eq!(
            self.format("#{alternate_on}"),
            "0",
            "{what}: still in the alternate screen:\n{screen}"
        );
        assert!(
            self.cursor_visible(),
            "{what}: the cursor is hidden:\n{screen}"
        );
        let modes = screen
            .lines()
            .find_map(|l| l.strip_prefix("modes: "))
            .unwrap_or_else(|| panic!("{what}: no modes line:\n{screen}"));
        let mut modes: Vec<&str> = modes.split_whitespace().collect();
        modes.sort_unstable();
        assert_eq!(
            modes,
            ["echo", "icanon", "isig"],
            "{what}: the terminal is left in raw mode:\n{screen}"
        );
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}
