//! The staged pipeline: its bank behaves, and the paper's coloring has no conflicts.

mod common;

use std::io::Write;
use std::net::SocketAddr;

use common::{connect, read_response};
use hue_examples::pipeline::{self, Coloring, Server, ServerConfig, Stages, session_cookie};
use hue_examples::{Limits, Load};
use hue_runtime::Runtime;

fn start(workers: usize, coloring: Coloring, stages: Stages) -> (Runtime, Server) {
    let rt = Runtime::builder().workers(workers).build().unwrap();
    let config = ServerConfig {
        accounts: 64,
        coloring,
        stages,
        ..ServerConfig::default()
    };
    let server = Server::start(&rt.handle(), config).unwrap();
    (rt, server)
}

fn req(account: u32, query: &str, cookie_for: u32) -> String {
    let cookie = session_cookie(&ServerConfig::default().secret, cookie_for);
    format!("GET /account/{account}{query} HTTP/1.1\r\nHost: b\r\nCookie: session={cookie}\r\n\r\n")
}

fn ask(addr: SocketAddr, raw: &str) -> common::Response {
    common::request(addr, raw.as_bytes())
}

#[test]
fn deposits_withdrawals_and_refusals() {
    for stages in [Stages::Fine, Stages::Coarse] {
        let (rt, server) = start(2, Coloring::Staged, stages);
        let addr = server.addr();
        let r = ask(
            addr,
            &req(7, "?op=deposit&amount=250&memo=%3Cb%3Elunch%3C%2Fb%3E", 7),
        );
        assert_eq!(r.status, 200);
        let page = String::from_utf8(r.body).unwrap();
        assert!(page.contains("Balance: 102.50"), "{page}");
        // The memo is escaped, the owner too.
        assert!(page.contains("&lt;b&gt;lunch&lt;/b&gt;"), "{page}");
        assert!(page.contains("&lt;1007&gt; &amp; Co."), "{page}");
        assert!(r.headers.iter().any(|(n, _)| n == "ETag"));
        assert_eq!(server.balance(7), Some(10_250));

        let r = ask(addr, &req(7, "?op=withdraw&amount=999999", 7));
        assert_eq!(r.status, 409, "an overdraft is declined");
        assert_eq!(server.balance(7), Some(10_250));

        assert_eq!(ask(addr, &req(7, "", 8)).status, 403, "another's cookie");
        assert_eq!(ask(addr, &req(64, "", 64)).status, 404, "no such account");
        assert_eq!(ask(addr, &req(7, "?op=steal&amount=1", 7)).status, 400);
        assert_eq!(ask(addr, &req(7, "?op=deposit", 7)).status, 400);
        let r = ask(addr, "GET /account/7 HTTP/1.1\r\nHost: b\r\n\r\n");
        assert_eq!(r.status, 403, "no cookie");

        // `log` runs after the response is out: give it a moment.
        common::eventually("every response is logged", || server.stats().requests >= 7);
        let stats = server.stats();
        assert_eq!(stats.requests, 7);
        assert_eq!(stats.declined, 1);
        assert_eq!(stats.conflicts(), 0);
        assert_eq!(rt.shutdown().panics_total(), 0);
    }
}

#[test]
fn responses_leave_in_request_order_across_colors() {
    for stages in [Stages::Fine, Stages::Coarse] {
        let (_rt, server) = start(2, Coloring::Staged, stages);
        let mut s = connect(server.addr());
        // Deposits of 1..=30 cents, a refused request in the middle, all in one write.
        let mut all = String::new();
        for i in 1..=30 {
            if i == 15 {
                all.push_str(&req(3, "", 4));
            }
            all.push_str(&req(3, &format!("?op=deposit&amount={i}"), 3));
        }
        s.write_all(all.as_bytes()).unwrap();
        let mut buf = Vec::new();
        let mut balance = 10_000;
        for i in 1..=30 {
            if i == 15 {
                assert_eq!(read_response(&mut s, &mut buf).status, 403);
            }
            let r = read_response(&mut s, &mut buf);
            assert_eq!(r.status, 200);
            balance += i;
            let want = format!("Balance: {}.{:02}", balance / 100, balance % 100);
            let page = String::from_utf8(r.body).unwrap();
            assert!(page.contains(&want), "response {i}: want {want}");
        }
    }
}

#[test]
fn the_staged_coloring_has_no_conflicts_on_shared_state() {
    // Many clients at once, so that under a wrong coloring queries would overlap.
    let (rt, server) = start(2, Coloring::Staged, Stages::Fine);
    let addr = server.addr();
    const CLIENTS: u32 = 16;
    // Rounds of clients until both workers have run callbacks, so that the stages had the
    // chance to overlap. (A worker with nothing to do takes ready connections from the I/O
    // driver; in a release build one worker often keeps up with a round on its own.)
    let ran_on_both = || rt.metrics().workers.iter().all(|w| w.callbacks > 0);
    let mut rounds = 0;
    while rounds == 0 || (!ran_on_both() && rounds < 20) {
        rounds += 1;
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                std::thread::spawn(move || {
                    let mut s = connect(addr);
                    let mut buf = Vec::new();
                    for i in 0..100u32 {
                        let account = (c * 7 + i) % 64;
                        let q = if i % 2 == 0 {
                            "?op=deposit&amount=5"
                        } else {
                            ""
                        };
                        s.write_all(req(account, q, account).as_bytes()).unwrap();
                        assert_eq!(read_response(&mut s, &mut buf).status, 200);
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
    }
    let per_worker: Vec<u64> = rt.metrics().workers.iter().map(|w| w.callbacks).collect();
    assert!(
        ran_on_both(),
        "a worker ran nothing in {rounds} rounds: {per_worker:?}"
    );
    let total: i64 = (0..64).map(|a| server.balance(a).unwrap()).sum();
    let deposits = (rounds * CLIENTS * 50) as i64;
    assert_eq!(total, 64 * 10_000 + deposits * 5, "a deposit was lost");
    let stats = server.stats();
    assert_eq!(
        (
            stats.db_conflicts,
            stats.log_conflicts,
            stats.conn_conflicts
        ),
        (0, 0, 0)
    );

    // And through `run`, fine and coarse.
    for stages in [Stages::Fine, Stages::Coarse] {
        let summary = pipeline::run(pipeline::Config {
            workers: 2,
            coloring: Coloring::Staged,
            stages,
            // The deadline only bounds a hung server: the budget must end the run (600 answers
            // take well under a second here, loaded 2-core machine, debug build).
            load: Load {
                connections: 8,
                requests: 600,
                duration: std::time::Duration::from_secs(30),
                threads: 1,
                depth: 1,
            },
            server: ServerConfig {
                limits: Limits::default(),
                ..ServerConfig::default()
            },
        })
        .unwrap();
        assert_eq!(summary.requests, 600, "every request answered: {summary}");
        assert_eq!(summary.conflicts, 0, "{summary}");
        assert_eq!(summary.panics, 0);
    }
}
