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
