//! Every workload's `run` on 1 and 2 workers, in every variant: it completes, by itself, with
//! nonzero throughput, no panics and (under these safe colorings) no conflicts.

use std::time::Duration;

use hue_examples::{Load, Summary, fileserver, pipeline, webserver};

/// Small and short: a debug build, two cores, a whole suite to fit in about a minute.
fn load() -> Load {
    Load {
        connections: 4,
        requests: 400,
        duration: Duration::from_secs(5),
        threads: 2,
        depth: 1,
    }
}

fn check(s: &Summary, workers: usize) {
    assert_eq!(s.workers, workers);
    assert!(s.requests > 0 && s.requests <= 400, "{s}");
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
