//! Every workload's `run` on 1 and 2 workers, in every variant: it completes, by itself, every
//! request of its budget answered, with no panics and (under these safe colorings) no conflicts.

use std::time::Duration;

use hue_examples::{Load, Summary, fileserver, pipeline, webserver};

/// The request budget of [`load`]: every run must answer all of it.
const REQUESTS: u64 = 400;

/// Small and short: a debug build, two cores, a whole suite to fit in about a minute.
///
/// The load generator stops at its budget or at its deadline, whichever comes first, and
/// returns what it got: the deadline here is only a bound on how long a hung server holds the
/// test up, and `check` asserts that the budget, not the deadline, ended the run. Margin: the
/// slowest run here (the file server, serial, debug build) answers its 400 requests in about
/// a second on a loaded 2-core machine, a thirtieth of the deadline.
fn load() -> Load {
    Load {
        connections: 4,
        requests: REQUESTS,
        duration: Duration::from_secs(30),
        threads: 2,
        depth: 1,
    }
}

fn check(s: &Summary, workers: usize) {
    assert_eq!(s.workers, workers);
    // All of them: a server that stops answering after a few responses would otherwise pass
    // with whatever it answered before the deadline.
    assert_eq!(s.requests, REQUESTS, "{s}");
    assert!(s.requests_per_sec() > 0.0, "{s}");
    assert!(s.bytes > 0 && s.elapsed > Duration::ZERO, "{s}");
    assert!(s.callbacks >= 3 * s.requests, "{s}");
    assert_eq!((s.panics, s.conflicts), (0, 0), "{s}");
    let shown = s.to_string();
    assert!(shown.contains("req/s"), "{shown}");
}

#[test]
fn webserver_runs() {
    for (workers, coloring) in [
        (1, webserver::Coloring::Serial),
        (2, webserver::Coloring::ByConnection),
    ] {
        let s = webserver::run(webserver::Config {
            workers,
            coloring,
            load: load(),
            ..webserver::Config::default()
        })
        .unwrap();
        check(&s, workers);
        assert_eq!(s.variant, coloring.name());
    }
}

#[test]
fn fileserver_runs() {
    for (workers, coloring) in [
        (1, fileserver::Coloring::Serial),
        (2, fileserver::Coloring::ByConnection),
    ] {
        let s = fileserver::run(fileserver::Config {
            workers,
            coloring,
            load: load(),
            server: fileserver::ServerConfig {
                files: 2,
                file_size: 256 * 1024,
                block_size: 8 * 1024,
                ..fileserver::ServerConfig::default()
            },
            verify_every: 4,
        })
        .unwrap();
        check(&s, workers);
        assert!(s.verified >= s.requests / 4 - 1, "{s}");
    }
}

#[test]
fn pipeline_runs() {
    for (workers, coloring, stages) in [
        (1, pipeline::Coloring::Serial, pipeline::Stages::Fine),
        (2, pipeline::Coloring::Staged, pipeline::Stages::Coarse),
    ] {
        let s = pipeline::run(pipeline::Config {
            workers,
            coloring,
            stages,
            load: load(),
            ..pipeline::Config::default()
        })
        .unwrap();
        check(&s, workers);
    }
}

#[test]
fn configs_that_cannot_run_are_refused() {
    let too_many = webserver::Config {
        load: Load {
            connections: 10,
            ..load()
        },
        server: webserver::ServerConfig {
            limits: hue_examples::Limits {
                max_connections: 5,
                ..hue_examples::Limits::default()
            },
            ..webserver::ServerConfig::default()
        },
        ..webserver::Config::default()
    };
    let err = webserver::run(too_many).unwrap_err();
    assert_eq!(err.kind(), hue_examples::ErrorKind::Config);
    assert!(err.to_string().contains("limit of 5"), "{err}");
    let no_workers = fileserver::Config {
        workers: 0,
        ..fileserver::Config::default()
    };
    assert_eq!(
        fileserver::run(no_workers).unwrap_err().kind(),
        hue_examples::ErrorKind::Config
    );
}

/// The policy `hue suggest` writes from an uncolored web server trace colors `open`, `read`,
/// `parse` and `respond` by connection and says nothing of `write`, which never ran in that
/// trace (uncolored, `respond` writes the socket itself). Applied, `respond` now runs in the
/// connection's key color, and the socket is written from there or from a `write` stage
/// queued in that same color, never from the default color the program gave `write`: every
/// access to a connection's state comes from the connection's color.
#[test]
fn under_a_policy_without_a_write_rule_the_connection_state_stays_in_its_color() {
    use hue_runtime::trace::{NameKind, Record, TraceReader};
    use hue_runtime::{Key, Policy, Rule, Runtime};
    let dir = std::env::temp_dir().join(format!("hue-examples-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("web.hue");
    let policy = ["open", "read", "parse", "respond"]
        .into_iter()
        .fold(Policy::new(), |p, h| p.with_rule(h, Rule::ByKey));
    let s = webserver::run_with(
        Runtime::builder().policy(policy).trace_file(&path),
        webserver::Config {
            workers: 2,
            coloring: webserver::Coloring::Serial,
            load: Load { depth: 4, ..load() },
            ..webserver::Config::default()
        },
    )
    .unwrap();
    assert_eq!(s.requests, REQUESTS, "{s}");
    assert_eq!((s.panics, s.conflicts), (0, 0), "{s}");
    let mut reader = TraceReader::open(&path).unwrap();
    let mut colors = std::collections::HashMap::new();
    let mut accesses = Vec::new();
    let mut connections = None;
    while let Some(r) = reader.next_record() {
        match r.unwrap() {
            Record::Name(n) if n.kind == NameKind::State && n.name == "connections" => {
                connections = Some(n.id)
            }
            Record::Callback(c) => {
                colors.insert(c.id, c.color);
            }
            Record::Access(a) => accesses.push(a),
            _ => {}
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let connections = connections.expect("the connections state is named in the trace");
    let mut checked = 0;
    for a in accesses.iter().filter(|a| a.state == connections) {
        let key = a.key.expect("connection state is keyed");
        assert_eq!(
            colors[&a.callback],
            Key(key).color().raw(),
            "an access to connection {key}'s state from outside its color"
        );
        checked += 1;
    }
    assert!(checked > 400, "only {checked} accesses to connection state");
}
