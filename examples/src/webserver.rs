//! An event-driven HTTP/1.1 server for small files cached in memory: libasync-smp's web
//! server experiment.
//!
//! Each stage is a handler: `accept` (new connections), `open` (a connection's setup), `read`
//! (socket readiness: write what waits, read what came), `parse` (split the input into
//! requests), `respond` (look the file up, render the response, write it), `log` (an access log
//! shared by all connections), plus the plumbing's `write` and `timeout`.
//!
//! It keeps connections alive, answers pipelined requests in order, and sends 200, 404, 405,
//! 400 (malformed), 431 (head too large), 413 (body too large), 501 (`Transfer-Encoding`) and
//! 505 (HTTP/2 and up), each with a `Content-Length`; a connection over the limit gets a 503.
//!
//! # Colorings
//!
//! - [`Coloring::Serial`]: everything in the default color, a single-threaded event loop.
//! - [`Coloring::ByConnection`]: `open`, `read`, `parse`, `respond` (and `write`, `timeout`)
//!   in the connection's color, so connections proceed in parallel; `accept` and `log` stay in the
//!   default color. Safe because a connection's stages touch only that connection's state and
//!   the read-only file cache; the access log, the one shared thing they write, is only
//!   written by `log`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hue_runtime::{Builder, Color, Cx, Handle, Handler, Runtime, Shared};

use crate::error::{Error, Result};
use crate::http::{self, Request, RequestStream, Status};
use crate::loadgen::{self, Frame, Protocol};
use crate::net::{self, Input, Reply, Then};
use crate::{ConnStats, Limits, Load, Served, Summary, Workload};

/// Where the web server's stages run: [`Coloring::Serial`], everything in the default color,
/// or [`Coloring::ByConnection`], each connection's stages in that connection's color and
/// `accept` and `log` in the default color.
pub use crate::catalogue::Coloring;

/// The color of connection `id`'s stages under `coloring`.
fn color_fn(coloring: Coloring) -> fn(u64) -> Color {
    match coloring {
        Coloring::Serial => |_| Color::DEFAULT,
        Coloring::ByConnection => |id| Color::of(&id),
    }
}

#[derive(Clone, Debug)]
struct File {
    body: Arc<[u8]>,
    content_type: &'static str,
}

/// The files a server serves, all in memory. Cloning is cheap (the contents are shared).
#[derive(Clone, Debug, Default)]
pub struct Site {
    files: HashMap<String, File>,
}

impl Site {
    /// A site of small generated pages: `/index.html` (also served for `/`), 16 small files
    /// `/files/0.html` … `/files/15.html` of 512 B to 8 KiB, `/style.css`, and one large file
    /// `/large.bin` of 2 MiB for slow-reader tests.
    pub fn demo() -> Site {
        let mut site = Site::default();
        let mut index = String::from("<!doctype html>\n<title>hue</title>\n<ul>\n");
        for i in 0..16 {
            let size = 512 << (i % 5);
            let path = format!("/files/{i}.html");
            let _ = writeln!(
                index,
                "<li><a href=\"{path}\">{path}</a> ({size} bytes)</li>"
            );
            site.insert(path, "text/html", page(i, size));
        }
        index.push_str("</ul>\n");
        site.insert("/index.html", "text/html", index);
        site.insert(
            "/style.css",
            "text/css",
            "body { font-family: sans-serif; }\n",
        );
        let large: Vec<u8> = (0..2u32 << 20).map(|i| (i % 251) as u8).collect();
        site.insert("/large.bin", "application/octet-stream", large);
        site
    }

    /// Adds (or replaces) the file at `path` (which starts with `/`).
    pub fn insert(
        &mut self,
        path: impl Into<String>,
        content_type: &'static str,
        body: impl Into<Vec<u8>>,
    ) {
        let body: Vec<u8> = body.into();
        self.files.insert(
            path.into(),
            File {
                body: body.into(),
                content_type,
            },
        );
    }

    /// The contents of the file at `path`.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(|f| &*f.body)
    }

    /// The paths of the files no larger than `max` bytes, sorted.
    pub fn small_paths(&self, max: usize) -> Vec<String> {
        let mut paths: Vec<String> = self
            .files
            .iter()
            .filter(|(_, f)| f.body.len() <= max)
            .map(|(p, _)| p.clone())
            .collect();
        paths.sort();
        paths
    }

    fn lookup(&self, path: &str) -> Option<&File> {
        let path = if path == "/" { "/index.html" } else { path };
        self.files.get(path)
    }
}

fn page(i: usize, size: usize) -> String {
    let mut s = format!("<!doctype html>\n<title>file {i}</title>\n<p>");
    let words = [
        "colors",
        "callbacks",
        "handlers",
        "workers",
        "queues",
        "events",
    ];
    let mut k = i;
    while s.len() + 16 < size {
        s.push_str(words[k % words.len()]);
        s.push(' ');
        k = k.wrapping_mul(31).wrapping_add(7);
    }
    while s.len() < size - 1 {
        s.push('.');
    }
    s.push('\n');
    s
}

/// A web server's setup.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// What it serves.
    pub site: Site,
    /// Connection and request limits.
    pub limits: Limits,
    /// Where its stages run.
    pub coloring: Coloring,
    /// Where it listens. Default: `127.0.0.1:0` (an ephemeral port).
    pub addr: SocketAddr,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            site: Site::demo(),
            limits: Limits::default(),
            coloring: Coloring::default(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

/// A web server benchmark run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Runtime workers.
    pub workers: usize,
    /// Where the server's stages run (overrides `server.coloring`).
    pub coloring: Coloring,
    /// The load.
    pub load: Load,
    /// The server. Its `addr` is ignored: `run` always listens on `127.0.0.1:0`.
    pub server: ServerConfig,
    /// The largest file the load generator asks for (it asks for every file up to this size,
    /// in turn).
    pub max_file: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            workers: 1,
            coloring: Coloring::default(),
            load: Load::default(),
            server: ServerConfig::default(),
            max_file: 8 * 1024,
        }
    }
}

/// The access log, shared by every connection: written only by the `log` stage.
#[derive(Default)]
pub(crate) struct AccessLog {
    pub(crate) requests: u64,
    bytes: u64,
    by_status: BTreeMap<u16, u64>,
    /// The last [`RECENT_LINES`] lines, in Common Log Format.
    recent: VecDeque<String>,
}

const RECENT_LINES: usize = 256;

/// One response, as the `log` stage records it.
pub(crate) struct Entry {
    peer: Option<SocketAddr>,
    method: String,
    target: String,
    minor: u8,
    status: Status,
    bytes: usize,
}

struct Web {
    site: Site,
    log: Shared<AccessLog>,
    /// Copies of the log's totals for [`Server::stats`], which must not take the log's lock:
    /// a `log` callback finding it held would count a conflict that no coloring caused.
    logged: AtomicU64,
    logged_bytes: AtomicU64,
    parse: Handler,
    respond: Handler,
    log_stage: Handler,
    started: Instant,
}

type Net = net::Server<Web>;

impl net::Service for Web {
    type State = RequestStream;

    fn refusal(&self) -> &'static [u8] {
        http::REFUSAL
    }

    fn input(server: &Arc<Net>, cx: &mut Cx<'_>, id: u64, data: Vec<u8>) -> Input {
        let s = server.clone();
        let target = server.service.parse.color(server.color_of(id)).key(id);
        cx.spawn(target, move |cx| parse(&s, cx, id, data));
        Input::Deferred
    }
}

/// The `parse` stage: splits the connection's input into requests, answered in order by one
/// `respond` callback (pipelined requests that arrived together are answered together).
fn parse(server: &Arc<Net>, cx: &mut Cx<'_>, id: u64, data: Vec<u8>) {
    let limits = &server.limits;
    // Once per chunk, requests or not: the connection counts chunks in flight.
    let Some((requests, peer)) = server.parse_chunk(cx, id, |s| s.split(data, limits)) else {
        return;
    };
    if requests.is_empty() {
        return;
    }
    let target = server.service.respond.color(server.color_of(id)).key(id);
    let s = server.clone();
    cx.spawn(target, move |cx| respond(&s, cx, id, peer, requests));
}

/// The `respond` stage: for each request in order, looks the file up and renders the
/// response; sends them all at once (one write for pipelined requests that arrived together);
/// then hands what the log records of them to one `log` callback.
fn respond(
    server: &Arc<Net>,
    cx: &mut Cx<'_>,
    id: u64,
    peer: Option<SocketAddr>,
    requests: Vec<std::result::Result<Request, Status>>,
) {
    let web = &server.service;
    // Every request of the chunk is accounted for by this send, those after a closing
    // response included: they are dropped unanswered.
    let answers = requests.len() as u32;
    let mut entries = Vec::with_capacity(requests.len());
    let mut out = net::out_buffer();
    let mut then = Then::KeepOpen;
    for req in requests {
        let (entry, keep) = render(&web.site, peer, req, &mut out);
        // The line is made here, in the connection's color: the serialized `log` stage only
        // appends it.
        entries.push(Logged::new(web.started, &entry));
        if !keep {
            // The connection's last response: what follows it is not answered.
            then = Then::Close;
            break;
        }
    }
    if !entries.is_empty() {
        server.send(
            cx,
            id,
            Reply {
                data: out,
                answers,
                then,
            },
        );
    }
    let s = server.clone();
    cx.spawn(web.log_stage.key(id), move |cx| log(&s, cx, entries));
}

/// Appends the response to one parsed request (or to a parse failure) to `out`; returns what
/// the access log records of it and whether the connection stays open. The work of the
/// `respond` stage, shared with the benchmark's tokio server so that both answer with the
/// same code.
pub(crate) fn render(
    site: &Site,
    peer: Option<SocketAddr>,
    req: std::result::Result<Request, Status>,
    out: &mut Vec<u8>,
) -> (Entry, bool) {
    let start = out.len();
    let (entry, keep) = match req {
        Err(status) => {
            out.extend_from_slice(&http::error_response(status, &[]));
            let entry = Entry {
                peer,
                method: "-".into(),
                target: "-".into(),
                minor: 1,
                status,
                bytes: 0,
            };
            (entry, false)
        }
        Ok(req) => {
            let head_only = req.method == "HEAD";
            let found = req.path().map(|p| site.lookup(&p));
            let status = match found {
                _ if req.method != "GET" && !head_only => {
                    out.extend_from_slice(&http::error_response(
                        Status::METHOD_NOT_ALLOWED,
                        &[("Allow", "GET, HEAD")],
                    ));
                    Status::METHOD_NOT_ALLOWED
                }
                None => {
                    out.extend_from_slice(&http::error_response(Status::BAD_REQUEST, &[]));
                    Status::BAD_REQUEST
                }
                Some(None) => {
                    let body = b"404 Not Found\n";
                    http::head(
                        out,
                        Status::NOT_FOUND,
                        "text/plain",
                        body.len(),
                        req.keep_alive,
                        &[],
                    );
                    if !head_only {
                        out.extend_from_slice(body);
                    }
                    Status::NOT_FOUND
                }
                Some(Some(file)) => {
                    out.reserve(160 + file.body.len());
                    http::head(
                        out,
                        Status::OK,
                        file.content_type,
                        file.body.len(),
                        req.keep_alive,
                        &[],
                    );
                    if !head_only {
                        out.extend_from_slice(&file.body);
                    }
                    Status::OK
                }
            };
            // 405 and 400 close the connection (their helper says so); 404 keeps it.
            let keep = req.keep_alive && matches!(status, Status::OK | Status::NOT_FOUND);
            let entry = Entry {
                peer,
                bytes: 0,
                method: req.method,
                target: req.target,
                minor: req.minor,
                status,
            };
            (entry, keep)
        }
    };
    let entry = Entry {
        bytes: out.len() - start,
        ..entry
    };
    (entry, keep)
}

/// The `log` stage: one line per response into the shared access log.
fn log(server: &Arc<Net>, cx: &mut Cx<'_>, entries: Vec<Logged>) {
    let web = &server.service;
    let n = entries.len() as u64;
    let bytes: u64 = entries.iter().map(|e| e.bytes as u64).sum();
    cx.write(&web.log, |log| {
        for e in entries {
            log.record(e);
        }
    });
    web.logged.fetch_add(n, Ordering::Relaxed);
    web.logged_bytes.fetch_add(bytes, Ordering::Relaxed);
}

/// What the access log keeps of one response: its status, its size and its line.
pub(crate) struct Logged {
    status: Status,
    bytes: usize,
    line: String,
}

impl Logged {
    /// `entry`'s record, its line stamped with the time since `started`.
    pub(crate) fn new(started: Instant, entry: &Entry) -> Logged {
        Logged {
            status: entry.status,
            bytes: entry.bytes,
            line: log_line(started, entry),
        }
    }
}

/// The access-log line of one response, in Common Log Format with the time as seconds since
/// `started`.
fn log_line(started: Instant, e: &Entry) -> String {
    let t = started.elapsed();
    let mut line = String::with_capacity(96);
    match e.peer {
        Some(p) => {
            let _ = write!(line, "{}", p.ip());
        }
        None => line.push('-'),
    }
    let _ = write!(
        line,
        " - - [+{}.{:03}] \"{} {} HTTP/1.{}\" {} {}",
        t.as_secs(),
        t.subsec_millis(),
        e.method,
        e.target,
        e.minor,
        e.status.0,
        e.bytes
    );
    line
}

impl AccessLog {
    /// Counts one response and keeps its line among the last [`RECENT_LINES`].
    pub(crate) fn record(&mut self, e: Logged) {
        self.requests += 1;
        self.bytes += e.bytes as u64;
        *self.by_status.entry(e.status.0).or_default() += 1;
        if self.recent.len() == RECENT_LINES {
            self.recent.pop_front();
        }
        self.recent.push_back(e.line);
    }
}

/// What a web server has done so far.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ServerStats {
    /// Connections.
    pub conns: ConnStats,
    /// Responses logged.
    pub requests: u64,
    /// Response bytes logged.
    pub bytes: u64,
    /// Conflicts on the server's state (the access log and the connections).
    pub conflicts: u64,
}

/// A copy of a web server's access log.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct AccessLogCopy {
    /// Responses logged.
    pub requests: u64,
    /// Response bytes logged.
    pub bytes: u64,
    /// Responses by status code.
    pub by_status: BTreeMap<u16, u64>,
    /// The last lines (up to 256), oldest first, in Common Log Format (with the time as
    /// seconds since the server started).
    pub recent: Vec<String>,
}

/// A running web server.
///
/// It serves until its runtime shuts down or it is dropped. Dropping it stops accepting at
/// once; a connection already open is closed at its first event after the server's last
/// queued callback and timer are gone.
pub struct Server {
    net: Arc<Net>,
    listening: net::Listening,
}

impl Server {
    /// Starts a server on `handle`'s runtime.
    pub fn start(handle: &Handle, config: ServerConfig) -> Result<Server> {
        let web = Web {
            site: config.site,
            log: Shared::new("access_log", AccessLog::default()),
            logged: AtomicU64::new(0),
            logged_bytes: AtomicU64::new(0),
            parse: Handler::new("parse"),
            respond: Handler::new("respond"),
            log_stage: Handler::new("log"),
            started: Instant::now(),
        };
        let net = net::Server::new(web, color_fn(config.coloring), config.limits);
        let listening = net.listen(handle, config.addr)?;
        Ok(Server { net, listening })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.listening.addr()
    }

    /// What it has done so far. Cheap, and never in the way of the server's handlers.
    pub fn stats(&self) -> ServerStats {
        let web = &self.net.service;
        ServerStats {
            conns: self.net.stats(),
            requests: web.logged.load(Ordering::Relaxed),
            bytes: web.logged_bytes.load(Ordering::Relaxed),
            conflicts: web.log.conflicts() + self.net.conflicts(),
        }
    }

    /// A copy of the access log. It takes the log's lock, so a `log` callback running
    /// meanwhile waits and counts a conflict: call it when the server is quiet.
    pub fn access_log(&self) -> AccessLogCopy {
        self.net.service.log.inspect(|l| AccessLogCopy {
            requests: l.requests,
            bytes: l.bytes,
            by_status: l.by_status.clone(),
            recent: l.recent.iter().cloned().collect(),
        })
    }
}

/// Runs the server and the load generator on a runtime of `config.workers` workers.
pub fn run(config: Config) -> Result<Summary> {
    run_with(Runtime::builder(), config)
}

/// Like [`run`], on a runtime from `builder` (whose worker count and thread names `run_with`
/// sets).
pub fn run_with(builder: Builder, config: Config) -> Result<Summary> {
    let server_config = ServerConfig {
        coloring: config.coloring,
        addr: crate::loopback(),
        ..config.server
    };
    let paths = client_paths(&server_config.site, config.max_file)?;
    let workload = Workload {
        name: "webserver",
        variant: config.coloring.name().to_owned(),
        workers: config.workers,
        load: &config.load,
        limits: &server_config.limits,
    };
    crate::run_workload(
        builder,
        workload,
        |handle| Server::start(handle, server_config.clone()),
        |addr| drive(addr, &config.load, &paths),
    )
}

impl Served for Server {
    fn addr(&self) -> SocketAddr {
        self.addr()
    }

    fn conflicts(&self) -> u64 {
        self.stats().conflicts
    }
}

/// The files of `site` the load generator asks for (those of at most `max_file` bytes), with
/// their lengths, sorted.
pub(crate) fn client_paths(site: &Site, max_file: usize) -> Result<Arc<[(String, usize)]>> {
    let mut paths: Vec<(String, usize)> = site
        .small_paths(max_file)
        .into_iter()
        .filter_map(|p| Some((p.clone(), site.get(&p)?.len())))
        .collect();
    if paths.is_empty() {
        return Err(Error::config(format!(
            "the site has no file of at most {max_file} bytes to ask for"
        )));
    }
    paths.sort();
    Ok(paths.into())
}

/// Drives the HTTP server at `addr` with `load`, asking for `paths` in turn.
pub(crate) fn drive(
    addr: SocketAddr,
    load: &Load,
    paths: &Arc<[(String, usize)]>,
) -> Result<loadgen::Report> {
    loadgen::run(addr, load, |_| WebClient {
        paths: paths.clone(),
        conns: Vec::new(),
    })
}

/// The load generator's side: GETs of the small files in turn, each response checked for its
/// status and its length, which tells the files apart well enough to catch a response out of
/// order. The bodies are not looked at, so they are discarded.
struct WebClient {
    paths: Arc<[(String, usize)]>,
    conns: Vec<WebConn>,
}

#[derive(Default)]
struct WebConn {
    /// The index of the next path.
    next: usize,
    /// The body lengths the outstanding requests should get, oldest first.
    expect: VecDeque<usize>,
}

impl Protocol for WebClient {
    fn request(&mut self, conn: usize, out: &mut Vec<u8>) {
        if self.conns.len() <= conn {
            self.conns.resize_with(conn + 1, WebConn::default);
        }
        let c = &mut self.conns[conn];
        // Connections start at different files so the mix is even from the start.
        let i = (c.next + conn) % self.paths.len();
        c.next += 1;
        let (path, len) = &self.paths[i];
        c.expect.push_back(*len);
        let _ = std::io::Write::write_fmt(
            out,
            format_args!(
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: hue-loadgen\r\nAccept: */*\r\n\r\n"
            ),
        );
    }

    fn frame(&mut self, conn: usize, buf: &[u8]) -> Result<Frame> {
        let Some(r) = http::response_head(buf)? else {
            return Ok(Frame::Partial { need: 1 });
        };
        let expect = self
            .conns
            .get_mut(conn)
            .and_then(|c| c.expect.pop_front())
            .ok_or_else(|| Error::protocol("a response came for no request"))?;
        let body = r.len - r.head_len;
        if r.status != 200 || body != expect {
            return Err(Error::protocol(format!(
                "expected 200 with {expect} bytes, got {} with {body}",
                r.status
            )));
        }
        Ok(Frame::Discard {
            head: r.head_len,
            body,
        })
    }

    /// Never called: every response is framed with [`Frame::Discard`].
    fn check(&mut self, _conn: usize, _response: &[u8]) -> Result<()> {
        Ok(())
    }
}
