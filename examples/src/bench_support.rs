//! Entry points for the workload benchmarks (`examples/benches/workloads.rs`) and the
//! integration tests, which need the crate's private load generator to drive a server that is
//! not one of the crate's own (an equivalent tokio web server, a test's fake or corrupting
//! one). Hidden from the docs and not a stable API.

use std::net::SocketAddr;

use crate::fileserver::{self, ServerConfig};
use crate::webserver::{self, Site};
use crate::{Load, Result, Summary};

/// The thread-name prefix whose threads count as the server in [`Summary::server_cpu`]: a
/// server driven by [`drive_webserver`] names its threads with it to have its CPU time
/// measured (the kernel keeps 15 bytes of a name).
pub const SERVER_THREADS: &str = crate::SERVER_THREADS;

/// Drives the HTTP/1.1 server at `addr`, which must serve `site` as
/// [`webserver::Server`] does (200 with a `Content-Length`, keep-alive), with the load
/// generator of [`webserver::run`]: the same requests for the files of at most `max_file`
/// bytes, each response checked for status and length. The summary's runtime fields
/// (callbacks, steals, conflicts, ...) are zero; `variant` and `workers` are only labels.
pub fn drive_webserver(
    addr: SocketAddr,
    load: &Load,
    site: &Site,
    max_file: usize,
    variant: &str,
    workers: usize,
) -> Result<Summary> {
    crate::check_common(workers.max(1), load, &crate::Limits::default())?;
    let paths = webserver::client_paths(site, max_file)?;
    let report = webserver::drive(addr, load, &paths)?;
    Ok(Summary::external(
        "webserver",
        variant.to_owned(),
        workers,
        report,
    ))
}

/// Drives the file server at `addr`, which must serve the files of `config` under its secret,
/// with the load generator of [`fileserver::run`]: every response's head checked, one block in
/// `verify_every` opened and compared with the file, the others discarded unread. The
/// summary's runtime fields are zero.
pub fn drive_fileserver(
    addr: SocketAddr,
    load: &Load,
    config: &ServerConfig,
    verify_every: u64,
) -> Result<Summary> {
    crate::check_common(1, load, &crate::Limits::default())?;
    if verify_every == 0 {
        return Err(crate::Error::config("verify_every must be at least 1"));
    }
    let report = fileserver::drive(addr, load, config, verify_every)?;
    Ok(Summary::external(
        "fileserver",
        "external".to_owned(),
        0,
        report,
    ))
}

/// The web server's HTTP work done inline, for an equivalent server on another runtime (the
/// workloads benchmark's tokio server): the same parser, the same responses and the same
/// access-log lines as [`webserver::Server`]'s `parse`, `respond` and `log` stages, so that a
/// comparison measures the runtimes, not two HTTP implementations.
pub struct InlineHttp {
    site: Site,
    limits: crate::Limits,
    started: std::time::Instant,
    log: std::sync::Mutex<webserver::AccessLog>,
}

/// One connection's unparsed input, for [`InlineHttp::input`].
#[derive(Default)]
pub struct InlineConn(crate::http::RequestStream);

impl InlineHttp {
    /// Serves `site` with the default limits.
    pub fn new(site: Site) -> InlineHttp {
        InlineHttp {
            site,
            limits: crate::Limits::default(),
            started: std::time::Instant::now(),
            log: std::sync::Mutex::new(webserver::AccessLog::default()),
        }
    }

    /// Takes `data` read from `conn`'s peer, appends the responses to every request it
    /// completes to `out` and logs them. Returns whether the connection stays open.
    pub fn input(
        &self,
        conn: &mut InlineConn,
        peer: SocketAddr,
        data: Vec<u8>,
        out: &mut Vec<u8>,
    ) -> bool {
        let mut keep = true;
        for req in conn.0.split(data, &self.limits) {
            let (entry, k) = webserver::render(&self.site, Some(peer), req, out);
            let logged = webserver::Logged::new(self.started, &entry);
            self.log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .record(logged);
            keep = k;
            if !keep {
                // The connection's last response, as in the web server: the rest is dropped.
                break;
            }
        }
        keep
    }

    /// Responses logged so far.
    pub fn logged(&self) -> u64 {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .requests
    }
}

/// What a comparison `a / b` of the workloads benchmark must reach (issue 12, item 7: the goals restated for a machine
/// whose load generator shares its cores).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Goal {
    /// The req/s ratio above this.
    Above(f64),
    /// The req/s ratio at least this share of the ceiling (the cores over the cores `b` used):
    /// the efficiency of `a` against what the machine can give at `b`'s CPU per request.
    Efficiency(f64),
    /// Requests per CPU second (server and generator) of `a` at least this multiple of `b`'s:
    /// throughput at equal CPU per request.
    PerCpu(f64),
}

impl Goal {
    /// The goal as the benchmark's table states it.
    pub fn text(self) -> String {
        match self {
            Goal::Above(x) => format!("> {x:.1}x"),
            Goal::Efficiency(x) => format!("≥ {x:.1} of the ceiling"),
            Goal::PerCpu(x) => format!("≥ {x:.1}x requests per CPU second"),
        }
    }

    /// Whether a median `ratio` with this `ceiling` and CPU per request `cost` (a ÷ b) meets it.
    pub fn met(self, ratio: f64, ceiling: f64, cost: f64) -> bool {
        match self {
            Goal::Above(x) => ratio > x,
            Goal::Efficiency(x) => ratio / ceiling >= x,
            Goal::PerCpu(x) => cost > 0.0 && 1.0 / cost >= x,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Goal;

    #[test]
    fn goals_are_judged_against_the_ceiling_and_the_cpu_per_request() {
        // 1.59x under a ceiling of 1.73x: 0.92 of it.
        assert!(Goal::Efficiency(0.9).met(1.59, 1.73, 1.03));
        assert!(!Goal::Efficiency(0.9).met(1.50, 1.73, 1.0));
        // The ratio of requests per second does not decide it; requests per CPU second do.
        assert!(Goal::PerCpu(1.0).met(0.9, 1.7, 0.98));
        assert!(!Goal::PerCpu(1.0).met(1.1, 1.7, 1.05));
        assert!(!Goal::PerCpu(1.0).met(1.1, 1.7, 0.0));
        assert!(Goal::Above(1.0).met(1.01, 1.7, 2.0));
        assert!(!Goal::Above(1.0).met(1.0, 1.7, 1.0));
        assert_eq!(Goal::Efficiency(0.9).text(), "≥ 0.9 of the ceiling");
    }
}
