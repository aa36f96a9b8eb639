//! A staged request pipeline: Figure 1 of Jannotti and Pamnany's *Safe at Any Speed*.
//!
//! A small bank over HTTP: `GET /account/42?op=deposit&amount=250&memo=lunch` with a signed
//! session cookie. Each request goes through six stages, each a handler:
//!
//! | stage | work | state it touches |
//! | --- | --- | --- |
//! | `accept`, `open` | accepts connections, sets them up | — / the connection's (`Keyed`) |
//! | `read` | reads the socket | the connection's (`Keyed`) |
//! | `parse` | parses HTTP and the query, checks the cookie (SHA-256) | the connection's |
//! | `query` | reads or updates the account | **the database (`Shared`)** |
//! | `respond` | renders the page (HTML), its ETag (SHA-256), sends it | the connection's |
//! | `log` | appends a line to the access log | **the log (`Shared`)** |
//!
//! Only `query` and `log` touch global state, and they touch different state. So the paper's
//! policy, [`Coloring::Staged`], runs `query` in one color (the database's), `log` in another
//! (the log's), and every other stage in its connection's color: requests of different
//! connections parse and render in parallel while the database and the log each see one
//! callback at a time, and [`hue_runtime::Shared::conflicts`] stays zero.
//!
//! [`Stages::Coarse`] merges `query` and `respond` into one `query_respond` handler. It
//! touches the database, so it must run in the database's color, and the rendering that
//! could have run in parallel is serialized with every query: finer stages expose more
//! parallelism.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hue_runtime::{Builder, Color, Cx, Handle, Handler, Runtime, Shared};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::http::{self, Request, RequestStream, Status};
use crate::loadgen::{self, Frame, Protocol, Rng};
use crate::net::{self, Input, Reply, Then};
use crate::{ConnStats, Limits, Load, Served, Summary, Workload};

/// Where the stages run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Coloring {
    /// Everything in the default color.
    #[default]
    Serial,
    /// The paper's policy: `query` (or `query_respond`) in the database's color, `log` in the
    /// log's color, every other stage in its connection's color.
    Staged,
}

/// How finely a request is split into stages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stages {
    /// `query` and `respond` are separate handlers.
    #[default]
    Fine,
    /// One `query_respond` handler does both.
    Coarse,
}

impl Coloring {
    /// A short name: `serial`, `staged`.
    pub fn name(self) -> &'static str {
        match self {
            Coloring::Serial => "serial",
            Coloring::Staged => "staged",
        }
    }
}

impl Stages {
    /// A short name: `fine`, `coarse`.
    pub fn name(self) -> &'static str {
        match self {
            Stages::Fine => "fine",
            Stages::Coarse => "coarse",
        }
    }
}

/// The color of the stages that touch the database under [`Coloring::Staged`].
pub fn db_color() -> Color {
    Color::of("pipeline/db")
}

/// The color of the `log` stage under [`Coloring::Staged`].
pub fn log_color() -> Color {
    Color::of("pipeline/log")
}

/// A pipeline server's setup.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Accounts in the database, numbered from 0.
    pub accounts: u32,
    /// Transactions each account remembers (and its page shows).
    pub history: usize,
    /// The key session cookies are signed with.
    pub secret: [u8; 32],
    /// Connection and request limits.
    pub limits: Limits,
    /// Where the stages run.
    pub coloring: Coloring,
    /// How finely requests are staged.
    pub stages: Stages,
    /// Where it listens. Default: `127.0.0.1:0` (an ephemeral port).
    pub addr: SocketAddr,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            accounts: 1024,
            history: 24,
            secret: *b"pipeline cookie key: demo only!!",
            limits: Limits::default(),
            coloring: Coloring::default(),
            stages: Stages::default(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

/// A pipeline benchmark run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Runtime workers.
    pub workers: usize,
    /// Where the stages run (overrides `server.coloring`).
    pub coloring: Coloring,
    /// How finely requests are staged (overrides `server.stages`).
    pub stages: Stages,
    /// The load.
    pub load: Load,
    /// The server. Its `addr` is ignored: `run` always listens on `127.0.0.1:0`.
    pub server: ServerConfig,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            workers: 1,
            coloring: Coloring::default(),
            stages: Stages::default(),
            load: Load::default(),
            server: ServerConfig::default(),
        }
    }
}

/// The session cookie value (`<account>.<signature>`) for `account` under `secret`.
pub fn session_cookie(secret: &[u8; 32], account: u32) -> String {
    let mut s = format!("{account}.");
    hex(&signature(secret, account), &mut s);
    s
}

fn signature(secret: &[u8; 32], account: u32) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(secret);
    h.update(account.to_le_bytes());
    let d = h.finalize();
    let mut sig = [0u8; 16];
    sig.copy_from_slice(&d[..16]);
    sig
}

fn hex(bytes: &[u8], out: &mut String) {
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

// --- the database and the log: the only global state ----------------------------------------

#[derive(Clone, Debug)]
struct Txn {
    seq: u64,
    amount: i64,
    balance_after: i64,
    memo: String,
}

struct Account {
    owner: String,
    balance: i64,
    history: VecDeque<Txn>,
    next_seq: u64,
}

struct Db {
    accounts: Vec<Account>,
    history: usize,
}

impl Db {
    fn new(accounts: u32, history: usize) -> Db {
        const NAMES: [&str; 6] = ["Ada", "Barbara", "Edsger", "Grace", "Leslie", "Tony"];
        Db {
            accounts: (0..accounts)
                .map(|i| Account {
                    owner: format!("{} <{}> & Co.", NAMES[i as usize % NAMES.len()], 1000 + i),
                    balance: 10_000,
                    history: VecDeque::new(),
                    next_seq: 1,
                })
                .collect(),
            history,
        }
    }
}

/// The access log: written only by `log`.
#[derive(Default)]
struct Log {
    requests: u64,
    bytes: u64,
    declined: u64,
    recent: VecDeque<String>,
}

const RECENT_LINES: usize = 256;

// --- per-request data, passed by value from stage to stage -----------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Balance,
    Deposit,
    Withdraw,
}

/// What `parse` makes of a request.
#[derive(Debug)]
struct Order {
    account: u32,
    op: Op,
    amount: i64,
    memo: String,
}

/// What every stage after `parse` carries along for `respond` and `log`.
struct Meta {
    peer: Option<SocketAddr>,
    method: String,
    target: String,
    keep_alive: bool,
}

/// The work for `query`: an order, or an error found earlier, passed along so that responses
/// leave in request order.
enum Work {
    Order(Order),
    Fail(Status),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Read,
    Applied,
    Declined,
}

/// What `query` found: a copy of the account as the request left it.
struct View {
    account: u32,
    owner: String,
    balance: i64,
    history: Vec<Txn>,
    outcome: Outcome,
}

// --- the server ------------------------------------------------------------------------------

struct Bank {
    db: Shared<Db>,
    log: Shared<Log>,
    /// Copies of the log's totals for [`Server::stats`], which must not take the log's lock
    /// (a `log` callback finding it held would count a conflict no coloring caused).
    logged: AtomicU64,
    declined: AtomicU64,
    config: ServerConfig,
    parse: Handler,
    query: Handler,
    respond: Handler,
    query_respond: Handler,
    log_stage: Handler,
    started: Instant,
}

type Net = net::Server<Bank>;

impl Bank {
    fn db_color(&self) -> Color {
        match self.config.coloring {
            Coloring::Serial => Color::DEFAULT,
            Coloring::Staged => db_color(),
        }
    }

    fn log_color(&self) -> Color {
        match self.config.coloring {
            Coloring::Serial => Color::DEFAULT,
            Coloring::Staged => log_color(),
        }
    }
}

impl net::Service for Bank {
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

/// The `parse` stage: HTTP, the query string, the session cookie.
fn parse(server: &Arc<Net>, cx: &mut Cx<'_>, id: u64, data: Vec<u8>) {
    let bank = &server.service;
    let limits = &server.limits;
    let Some((requests, peer)) = server.parse_chunk(cx, id, |s| s.split(data, limits)) else {
        return;
    };
    for req in requests {
        let (work, meta) = match req {
            Err(status) => (
                Work::Fail(status),
                Meta {
                    peer,
                    method: "-".into(),
                    target: "-".into(),
                    keep_alive: false,
                },
            ),
            Ok(req) => {
                let work = match order(&req, &bank.config) {
                    Ok(o) => Work::Order(o),
                    Err(status) => Work::Fail(status),
                };
                let meta = Meta {
                    peer,
                    keep_alive: req.keep_alive,
                    method: req.method,
                    target: req.target,
                };
                (work, meta)
            }
        };
        let s = server.clone();
        match bank.config.stages {
            Stages::Fine => {
                let target = bank.query.color(bank.db_color()).key(id);
                cx.spawn(target, move |cx| query(&s, cx, id, work, meta));
            }
            Stages::Coarse => {
                let target = bank.query_respond.color(bank.db_color()).key(id);
                cx.spawn(target, move |cx| query_respond(&s, cx, id, work, meta));
            }
        }
    }
}

/// Turns a request into an order, or the status that refuses it.
fn order(req: &Request, config: &ServerConfig) -> std::result::Result<Order, Status> {
    if req.method != "GET" {
        return Err(Status::METHOD_NOT_ALLOWED);
    }
    let path = req.path().ok_or(Status::BAD_REQUEST)?;
    let account: u32 = path
        .strip_prefix("/account/")
        .and_then(|n| n.parse().ok())
        .filter(|&n| n < config.accounts)
        .ok_or(Status::NOT_FOUND)?;
    let cookie_ok = req
        .header("cookie")
        .into_iter()
        .flat_map(|c| c.split(';'))
        .filter_map(|kv| kv.trim().strip_prefix("session="))
        .any(|v| v == session_cookie(&config.secret, account));
    if !cookie_ok {
        return Err(Status::FORBIDDEN);
    }
    let mut o = Order {
        account,
        op: Op::Balance,
        amount: 0,
        memo: String::new(),
    };
    for pair in req.query().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = http::percent_decode(v, true).ok_or(Status::BAD_REQUEST)?;
        match k {
            "op" => {
                o.op = match v.as_str() {
                    "balance" => Op::Balance,
                    "deposit" => Op::Deposit,
                    "withdraw" => Op::Withdraw,
                    _ => return Err(Status::BAD_REQUEST),
                }
            }
            "amount" => {
                o.amount = v
                    .parse()
                    .ok()
                    .filter(|a| (1..=1_000_000).contains(a))
                    .ok_or(Status::BAD_REQUEST)?;
            }
            "memo" => {
                if v.chars().count() > 200 {
                    return Err(Status::BAD_REQUEST);
                }
                o.memo = v;
            }
            _ => {} // unknown parameters are ignored, as browsers' extras are
        }
    }
    if o.op != Op::Balance && o.amount == 0 {
        return Err(Status::BAD_REQUEST);
    }
    Ok(o)
}

/// The `query` stage: the only stage that touches the database.
fn query(server: &Arc<Net>, cx: &mut Cx<'_>, id: u64, work: Work, meta: Meta) {
    let bank = &server.service;
    let result = run_query(cx, bank, work);
    let s = server.clone();
    let target = bank.respond.color(server.color_of(id)).key(id);
    cx.spawn(target, move |cx| respond(&s, cx, id, result, meta));
}

/// `query` and `respond` in one handler (the coarse variant), in the database's color.
fn query_respond(server: &Arc<Net>, cx: &mut Cx<'_>, id: u64, work: Work, meta: Meta) {
    let result = run_query(cx, &server.service, work);
    respond(server, cx, id, result, meta);
}

fn run_query(cx: &mut Cx<'_>, bank: &Bank, work: Work) -> std::result::Result<View, Status> {
    let o = match work {
        Work::Fail(status) => return Err(status),
        Work::Order(o) => o,
    };
    let i = o.account as usize;
    let view = |db: &Db, outcome| {
        let a = &db.accounts[i];
        View {
            account: o.account,
            owner: a.owner.clone(),
            balance: a.balance,
            history: a.history.iter().cloned().collect(),
            outcome,
        }
    };
    match o.op {
        Op::Balance => Ok(cx.read(&bank.db, |db| view(db, Outcome::Read))),
        Op::Deposit | Op::Withdraw => Ok(cx.write(&bank.db, |db| {
            let limit = db.history;
            let a = &mut db.accounts[i];
            let amount = if o.op == Op::Deposit {
                o.amount
            } else {
                -o.amount
            };
            let outcome = if a.balance + amount < 0 {
                Outcome::Declined
            } else {
                a.balance += amount;
                let seq = a.next_seq;
                a.next_seq += 1;
                if a.history.len() == limit {
                    a.history.pop_back();
                }
                a.history.push_front(Txn {
                    seq,
                    amount,
                    balance_after: a.balance,
                    memo: o.memo.clone(),
                });
                Outcome::Applied
            };
            view(db, outcome)
        })),
    }
}

/// The `respond` stage: renders the page, signs it with an ETag, sends it.
fn respond(
    server: &Arc<Net>,
    cx: &mut Cx<'_>,
    id: u64,
    result: std::result::Result<View, Status>,
    meta: Meta,
) {
    let bank = &server.service;
    let (out, status, declined, keep) = match result {
        Err(status) => {
            // Refusals of well-formed requests keep the connection; malformed ones close it.
            let keep = meta.keep_alive
                && matches!(
                    status,
                    Status::NOT_FOUND | Status::FORBIDDEN | Status::BAD_REQUEST
                )
                && meta.method != "-";
            let body = format!("{} {}\n", status.0, status.reason());
            let mut out = Vec::with_capacity(160 + body.len());
            http::head(&mut out, status, "text/plain", body.len(), keep, &[]);
            out.extend_from_slice(body.as_bytes());
            (out, status, false, keep)
        }
        Ok(view) => {
            let body = render(&view);
            let mut etag = String::with_capacity(34);
            etag.push('"');
            hex(&Sha256::digest(body.as_bytes())[..16], &mut etag);
            etag.push('"');
            let status = if view.outcome == Outcome::Declined {
                Status::CONFLICT
            } else {
                Status::OK
            };
            let mut out = Vec::with_capacity(200 + body.len());
            http::head(
                &mut out,
                status,
                "text/html; charset=utf-8",
                body.len(),
                meta.keep_alive,
                &[("ETag", &etag), ("Cache-Control", "no-store")],
            );
            out.extend_from_slice(body.as_bytes());
            (out, status, status == Status::CONFLICT, meta.keep_alive)
        }
    };
    let bytes = out.len();
    let then = if keep { Then::KeepOpen } else { Then::Close };
    server.send(
        cx,
        id,
        Reply {
            data: out,
            answers: 1,
            then,
        },
    );
    let s = server.clone();
    let target = bank.log_stage.color(bank.log_color()).key(id);
    cx.spawn(target, move |cx| log(&s, cx, meta, status, bytes, declined));
}

fn render(v: &View) -> String {
    let mut h = String::with_capacity(4096);
    let _ = write!(
        h,
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Account {}</title></head>\n\
         <body>\n<h1>Account {}: ",
        v.account, v.account
    );
    escape(&v.owner, &mut h);
    h.push_str("</h1>\n<p class=\"balance\">Balance: ");
    money(v.balance, &mut h);
    h.push_str("</p>\n");
    h.push_str(match v.outcome {
        Outcome::Read => "",
        Outcome::Applied => "<p class=\"ok\">Done.</p>\n",
        Outcome::Declined => "<p class=\"declined\">Declined: insufficient funds.</p>\n",
    });
    h.push_str(
        "<table>\n<thead><tr><th>#</th><th>Amount</th><th>Balance</th><th>Memo</th></tr></thead>\n<tbody>\n",
    );
    for t in &v.history {
        let _ = write!(h, "<tr><td>{}</td><td class=\"amount\">", t.seq);
        money(t.amount, &mut h);
        h.push_str("</td><td>");
        money(t.balance_after, &mut h);
        h.push_str("</td><td>");
        escape(&t.memo, &mut h);
        h.push_str("</td></tr>\n");
    }
    h.push_str("</tbody>\n</table>\n</body></html>\n");
    h
}

/// Cents as `-1,234.56`.
fn money(cents: i64, out: &mut String) {
    if cents < 0 {
        out.push('-');
    }
    let c = cents.unsigned_abs();
    let units = (c / 100).to_string();
    for (i, ch) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    let _ = write!(out, ".{:02}", c % 100);
}

fn escape(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// The `log` stage: the only stage that touches the log.
fn log(
    server: &Arc<Net>,
    cx: &mut Cx<'_>,
    meta: Meta,
    status: Status,
    bytes: usize,
    declined: bool,
) {
    let bank = &server.service;
    let t = bank.started.elapsed();
    let mut line = String::with_capacity(128);
    match meta.peer {
        Some(p) => {
            let _ = write!(line, "{}", p.ip());
        }
        None => line.push('-'),
    }
    let _ = write!(
        line,
        " - - [+{}.{:03}] \"{} {}\" {} {bytes}",
        t.as_secs(),
        t.subsec_millis(),
        meta.method,
        meta.target,
        status.0
    );
    cx.write(&bank.log, |log| {
        log.requests += 1;
        log.bytes += bytes as u64;
        log.declined += u64::from(declined);
        if log.recent.len() == RECENT_LINES {
            log.recent.pop_front();
        }
        log.recent.push_back(line);
    });
    bank.logged.fetch_add(1, Ordering::Relaxed);
    bank.declined
        .fetch_add(u64::from(declined), Ordering::Relaxed);
}

/// What a pipeline server has done so far.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ServerStats {
    /// Connections.
    pub conns: ConnStats,
    /// Responses logged.
    pub requests: u64,
    /// Withdrawals declined for insufficient funds.
    pub declined: u64,
    /// Accesses to the database that found it in use by a parallel callback.
    pub db_conflicts: u64,
    /// Accesses to the log that found it in use by a parallel callback.
    pub log_conflicts: u64,
    /// Accesses to a connection's state that found it in use by a parallel callback.
    pub conn_conflicts: u64,
}

impl ServerStats {
    /// All conflicts.
    pub fn conflicts(&self) -> u64 {
        self.db_conflicts + self.log_conflicts + self.conn_conflicts
    }
}

/// A running pipeline server. See [`crate::webserver::Server`] for its lifetime.
pub struct Server {
    net: Arc<Net>,
    listening: net::Listening,
}

impl Server {
    /// Starts a server on `handle`'s runtime.
    pub fn start(handle: &Handle, config: ServerConfig) -> Result<Server> {
        if config.accounts == 0 {
            return Err(Error::config("the pipeline needs at least one account"));
        }
        let color: fn(u64) -> Color = match config.coloring {
            Coloring::Serial => |_| Color::DEFAULT,
            Coloring::Staged => |id| Color::of(&id),
        };
        let limits = config.limits.clone();
        let addr = config.addr;
        let bank = Bank {
            db: Shared::new("db", Db::new(config.accounts, config.history)),
            log: Shared::new("log", Log::default()),
            logged: AtomicU64::new(0),
            declined: AtomicU64::new(0),
            config,
            parse: Handler::new("parse"),
            query: Handler::new("query"),
            respond: Handler::new("respond"),
            query_respond: Handler::new("query_respond"),
            log_stage: Handler::new("log"),
            started: Instant::now(),
        };
        let net = net::Server::new(bank, color, limits);
        let listening = net.listen(handle, addr)?;
        Ok(Server { net, listening })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.listening.addr()
    }

    /// What it has done so far. Cheap, and never in the way of the server's handlers.
    pub fn stats(&self) -> ServerStats {
        let bank = &self.net.service;
        ServerStats {
            conns: self.net.stats(),
            requests: bank.logged.load(Ordering::Relaxed),
            declined: bank.declined.load(Ordering::Relaxed),
            db_conflicts: bank.db.conflicts(),
            log_conflicts: bank.log.conflicts(),
            conn_conflicts: self.net.conflicts(),
        }
    }

    /// An account's balance in cents. It takes the database's lock, so a `query` running
    /// meanwhile waits and counts a conflict: call it when the server is quiet.
    pub fn balance(&self, account: u32) -> Option<i64> {
        self.net
            .service
            .db
            .inspect(|db| db.accounts.get(account as usize).map(|a| a.balance))
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
        stages: config.stages,
        addr: crate::loopback(),
        ..config.server
    };
    let (accounts, secret) = (server_config.accounts, server_config.secret);
    let workload = Workload {
        name: "pipeline",
        variant: format!("{}, {}", config.coloring.name(), config.stages.name()),
        workers: config.workers,
        load: &config.load,
        limits: &server_config.limits,
    };
    crate::run_workload(
        builder,
        workload,
        |handle| Server::start(handle, server_config.clone()),
        |addr| {
            loadgen::run(addr, &config.load, |t| BankClient {
                accounts,
                secret,
                rng: Rng::new(0xba4c ^ t as u64),
                conns: Vec::new(),
                checking: 0,
                title: String::new(),
            })
        },
    )
}

impl Served for Server {
    fn addr(&self) -> SocketAddr {
        self.addr()
    }

    fn conflicts(&self) -> u64 {
        self.stats().conflicts()
    }
}

/// The load generator's side: a mix of balance checks, deposits and withdrawals on random
/// accounts, with memos that need escaping. Each response must be the page of the account its
/// request asked for, in request order.
struct BankClient {
    accounts: u32,
    secret: [u8; 32],
    rng: Rng,
    /// Per connection: the accounts of the outstanding requests, oldest first.
    conns: Vec<VecDeque<u32>>,
    /// The account of the response framed for a check.
    checking: u32,
    /// Reused for the page title the check expects.
    title: String,
}

const MEMOS: [&str; 6] = [
    "lunch",
    "rent & utilities",
    "<b>bonus</b>",
    "coffee, two \"large\"",
    "books: Lamport's",
    "",
];

impl Protocol for BankClient {
    fn request(&mut self, conn: usize, out: &mut Vec<u8>) {
        let account = self.rng.below(u64::from(self.accounts)) as u32;
        if self.conns.len() <= conn {
            self.conns.resize_with(conn + 1, VecDeque::new);
        }
        self.conns[conn].push_back(account);
        let roll = self.rng.below(100);
        let mut target = format!("/account/{account}");
        if roll >= 60 {
            let op = if roll < 85 { "deposit" } else { "withdraw" };
            let amount = 1 + self.rng.below(5_000);
            let memo = MEMOS[self.rng.below(MEMOS.len() as u64) as usize];
            let _ = write!(
                target,
                "?op={op}&amount={amount}&memo={}",
                http::percent_encode(memo)
            );
        }
        let cookie = session_cookie(&self.secret, account);
        let _ = std::io::Write::write_fmt(
            out,
            format_args!(
                "GET {target} HTTP/1.1\r\nHost: bank.example\r\nUser-Agent: hue-loadgen\r\n\
                 Accept: text/html\r\nAccept-Language: en\r\nCookie: theme=dark; session={cookie}\r\n\r\n"
            ),
        );
    }

    fn frame(&mut self, conn: usize, buf: &[u8]) -> Result<Frame> {
        let Some(r) = http::response_head(buf)? else {
            return Ok(Frame::Partial { need: 1 });
        };
        self.checking = self
            .conns
            .get_mut(conn)
            .and_then(VecDeque::pop_front)
            .ok_or_else(|| Error::protocol("a response came for no request"))?;
        Ok(Frame::Check(r.len))
    }

    fn check(&mut self, _conn: usize, response: &[u8]) -> Result<()> {
        let r = http::response(response)?
            .ok_or_else(|| Error::protocol("an incomplete response was framed"))?;
        let body = &response[r.head_len..];
        self.title.clear();
        let _ = write!(
            self.title,
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Account {}</title>",
            self.checking
        );
        if !matches!(r.status, 200 | 409) || !body.starts_with(self.title.as_bytes()) {
            return Err(Error::protocol(format!(
                "expected the page of account {}, got status {} with {} bytes",
                self.checking,
                r.status,
                body.len()
            )));
        }
        Ok(())
    }
}
