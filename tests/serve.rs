//! `hue serve` as a user runs it: real curl and wrk against it, Ctrl-C to stop it, and the
//! trace it leaves read back by `hue stats`.
//!
//! curl and wrk are outside programs: `.ci/run` installs them, and the test that drives them
//! requires them. A missing one fails it, naming the program, rather than letting it pass
//! without having run (a test that is green whatever happened checks nothing).

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::TempDir;

const HUE: &str = env!("CARGO_BIN_EXE_hue");

/// Fails unless `program` runs here.
fn require(program: &str) {
    let found = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "{program} is not installed: this test drives `hue serve` with curl and wrk \
         (`.ci/run` installs them; on Debian or Ubuntu: apt-get install curl wrk)"
    );
}

/// Starts `hue serve` with `args` on an ephemeral port and returns it with its base URL
/// (read from its first line of output) and the rest of its stdout.
fn serve(args: &[&str]) -> (Child, String, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(HUE)
        .arg("serve")
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .trim_end_matches('/')
        .to_owned();
    (child, url, out)
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "-S"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "curl {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Sends SIGINT (what Ctrl-C sends) and waits up to 20 s for the process to end.
fn interrupt(mut child: Child, mut out: impl Read) -> (Output, String) {
    // SAFETY: `kill` with a pid this test spawned and a valid signal number.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("hue serve did not stop on SIGINT within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    (child.wait_with_output().unwrap(), rest)
}

#[test]
fn curl_and_wrk_are_served_ctrl_c_stops_it_and_the_trace_reads_back() {
    require("curl");
    require("wrk");
    let dir = TempDir::new("curl-wrk");
    let trace = dir.join("serve.hue");
    let (child, url, out) = serve(&[
        "--coloring",
        "by-connection",
        "--workers",
        "2",
        "--trace",
        trace.to_str().unwrap(),
    ]);

    let status_and_size = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{size_download}",
        &format!("{url}/files/3.html"),
    ]);
    assert_eq!(status_and_size, "200 4096");
    let index = curl(&[&format!("{url}/")]);
    assert!(index.contains("/files/15.html"), "{index}");
    let missing = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{url}/nope"),
    ]);
    assert_eq!(missing, "404");

    let wrk = Command::new("wrk")
        .args([
            "-t",
            "1",
            "-c",
            "8",
            "-d",
            "1",
            &format!("{url}/files/1.html"),
        ])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&wrk.stdout);
    assert!(wrk.status.success(), "{report}");
    assert!(!report.contains("Non-2xx"), "{report}");
    assert!(!report.contains("Socket errors"), "{report}");
    let wrk_requests: u64 = report
        .split_whitespace()
        .zip(report.split_whitespace().skip(1))
        .find(|(_, next)| *next == "requests")
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in {report}"));
    assert!(wrk_requests > 100, "{report}");

    let (output, rest) = interrupt(child, out);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{rest}\n{stderr}");
    let served: u64 = rest
        .split("Served ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary in {rest}"));
    assert!(served >= wrk_requests + 3, "served {served}: {rest}");
    assert!(rest.contains("conflicts: 0"), "{rest}");
    assert!(
        rest.contains(&format!("hue stats {}", trace.display())),
        "{rest}"
    );

    let stats = Command::new(HUE).arg("stats").arg(&trace).output().unwrap();
    let text = String::from_utf8_lossy(&stats.stdout);
    assert!(stats.status.success(), "{text}");
    for handler in ["read", "parse", "respond", "log"] {
        assert!(text.contains(handler), "{handler} missing from\n{text}");
    }
    assert!(text.contains("hue serve (by-connection)"), "{text}");
}

#[test]
fn seconds_stops_it_and_a_policy_is_applied() {
    let dir = TempDir::new("policy");
    let policy = dir.join("hue-recolor.toml");
    std::fs::write(&policy, "version = 1\n\n[rules]\nrespond = \"by-key\"\n").unwrap();
    let trace = dir.join("policy.hue");
    let out = Command::new(HUE)
        .args(["serve", "--addr", "127.0.0.1:0", "--seconds", "0.3"])
        .arg("--policy")
        .arg(&policy)
        .arg("--trace")
        .arg(&trace)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("Served 0 response(s)"), "{stdout}");
    let stats = Command::new(HUE).arg("stats").arg(&trace).output().unwrap();
    let text = String::from_utf8_lossy(&stats.stdout);
    assert!(text.contains("respond = \"by-key\""), "{text}");
}

#[test]
fn an_address_in_use_and_a_bad_policy_are_clear_errors() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(HUE)
        .args(["serve", "--addr", &addr, "--seconds", "5"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("could not listen on {addr}")),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let dir = TempDir::new("bad-policy");
    let policy = dir.join("bad.toml");
    std::fs::write(&policy, "version = 1\n[rules]\nrespond = \"sideways\"\n").unwrap();
    let out = Command::new(HUE)
        .args(["serve", "--addr", "127.0.0.1:0", "--seconds", "5"])
        .arg("--policy")
        .arg(&policy)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("bad.toml:3"), "{stderr}");
    assert!(stderr.contains("sideways"), "{stderr}");
}
