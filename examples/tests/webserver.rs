//! The web server's HTTP behaviour, as a client on a raw socket sees it.

mod common;

use std::io::{Read, Write};

use common::{closed_within, connect, get, read_response, request, web};
use hue_examples::Limits;
use hue_examples::webserver::{Coloring, ServerConfig, Site};

fn config(coloring: Coloring) -> ServerConfig {
    ServerConfig {
        coloring,
        ..ServerConfig::default()
    }
}

#[test]
fn serves_a_file_with_its_length() {
    for coloring in [Coloring::Serial, Coloring::ByConnection] {
        let (rt, server) = web(2, config(coloring));
        let r = get(server.addr(), "/files/3.html");
        assert_eq!(r.status, 200);
        let want = Site::demo().get("/files/3.html").unwrap().to_vec();
        assert_eq!(r.body, want);
        assert_eq!(r.header("content-length"), Some(&*want.len().to_string()));
        assert_eq!(r.header("content-type"), Some("text/html"));
        assert!(!r.closes());
        // `/` is the index.
        let index = get(server.addr(), "/");
        assert_eq!(index.status, 200);
        assert!(String::from_utf8_lossy(&index.body).contains("/files/15.html"));
        drop(server);
        let report = rt.shutdown();
        assert_eq!(report.panics_total(), 0);
    }
}

#[test]
fn unknown_paths_are_404() {
    let (_rt, server) = web(1, ServerConfig::default());
    let r = get(server.addr(), "/no/such/file");
    assert_eq!(r.status, 404);
    assert_eq!(r.body, b"404 Not Found\n");
}

#[test]
fn head_and_other_methods() {
    let (_rt, server) = web(1, ServerConfig::default());
    let mut s = connect(server.addr());
    s.write_all(
        b"HEAD /style.css HTTP/1.1\r\nHost: t\r\n\r\nGET /style.css HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .unwrap();
    let mut buf = Vec::new();
    // A HEAD response has the file's length but no body: read the head alone.
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = std::io::Read::read(&mut s, &mut chunk).unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Length: 34\r\n"), "{head}");
    buf.drain(..head_end);
    let get = read_response(&mut s, &mut buf);
    assert_eq!((get.status, get.body.len()), (200, 34));

    let r = request(
        server.addr(),
        b"DELETE /style.css HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
}

#[test]
fn malformed_requests_are_400_and_close() {
    let (_rt, server) = web(1, ServerConfig::default());
    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n", // HTTP/1.1 without Host
        b"GET /%zz HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
    ] {
        let mut s = connect(server.addr());
        s.write_all(raw).unwrap();
        let r = read_response(&mut s, &mut Vec::new());
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(raw));
        assert!(r.closes());
        assert!(closed_within(&mut s, common::PATIENCE));
    }
    let r = request(server.addr(), b"GET / HTTP/2.0\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 505);
}

#[test]
fn oversized_header_is_431() {
    let (_rt, server) = web(1, ServerConfig::default());
    let mut s = connect(server.addr());
    let big = "x".repeat(Limits::default().max_header_bytes + 100);
    // The head never ends: the server answers as soon as it is over the limit.
    s.write_all(format!("GET / HTTP/1.1\r\nHost: t\r\nX-Big: {big}").as_bytes())
        .unwrap();
    let r = read_response(&mut s, &mut Vec::new());
    assert_eq!(r.status, 431);
    assert!(r.closes());
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(closed_within(&mut s, common::PATIENCE));
}

#[test]
fn oversized_body_is_413() {
    let (_rt, server) = web(1, ServerConfig::default());
    let mut s = connect(server.addr());
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n")
        .unwrap();
    // The client starts on its body; the server answers without waiting for it.
    s.write_all(&[b'a'; 32 * 1024]).unwrap();
    let r = read_response(&mut s, &mut Vec::new());
    assert_eq!(r.status, 413);
    assert!(r.closes());
}

#[test]
fn a_small_body_is_read_and_skipped() {
    let (_rt, server) = web(1, ServerConfig::default());
    let mut s = connect(server.addr());
    s.write_all(
        b"GET /style.css HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhelloGET /nope HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .unwrap();
    let mut buf = Vec::new();
    assert_eq!(read_response(&mut s, &mut buf).status, 200);
    assert_eq!(read_response(&mut s, &mut buf).status, 404);
}

#[test]
fn keep_alive_serves_two_requests_on_one_connection() {
    let (_rt, server) = web(2, config(Coloring::ByConnection));
    let mut s = connect(server.addr());
    let mut buf = Vec::new();
    for path in ["/files/1.html", "/files/2.html"] {
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        let r = read_response(&mut s, &mut buf);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, Site::demo().get(path).unwrap());
    }
    assert_eq!(server.stats().conns.accepted, 1);
    // `Connection: close` is honoured: the response says so and the connection ends.
    s.write_all(b"GET /style.css HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s, &mut buf);
    assert_eq!(r.status, 200);
    assert!(r.closes());
    assert!(closed_within(&mut s, common::PATIENCE));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    for coloring in [Coloring::Serial, Coloring::ByConnection] {
        let (_rt, server) = web(2, config(coloring));
        let mut s = connect(server.addr());
        let paths = [
            "/files/0.html",
            "/nope",
            "/files/4.html",
            "/style.css",
            "/files/9.html",
        ];
        let all: String = paths
            .iter()
            .map(|p| format!("GET {p} HTTP/1.1\r\nHost: t\r\n\r\n"))
            .collect();
        // In one write, and again split at awkward places.
        s.write_all(all.as_bytes()).unwrap();
        for (i, chunk) in all.as_bytes().chunks(7).enumerate() {
            s.write_all(chunk).unwrap();
            if i % 5 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        let site = Site::demo();
        let mut buf = Vec::new();
        for _ in 0..2 {
            for p in paths {
                let r = read_response(&mut s, &mut buf);
                match site.get(p) {
                    Some(body) => assert_eq!((r.status, &*r.body), (200, body), "{p}"),
                    None => assert_eq!(r.status, 404, "{p}"),
                }
            }
        }
        assert_eq!(
            server.stats().conflicts,
            0,
            "{coloring:?} touched state from two colors"
        );
    }
}

#[test]
fn a_pipelined_request_that_closes_is_the_last_one_answered() {
    for coloring in [Coloring::Serial, Coloring::ByConnection] {
        let (rt, server) = web(2, config(coloring));
        let mut s = connect(server.addr());
        // Three requests in one write: the second is answered with 405, which closes the
        // connection, so the third is not answered (nor logged).
        s.write_all(
            b"GET /style.css HTTP/1.1\r\nHost: t\r\n\r\n\
              DELETE /style.css HTTP/1.1\r\nHost: t\r\n\r\n\
              GET /files/0.html HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .unwrap();
        let mut buf = Vec::new();
        let first = read_response(&mut s, &mut buf);
        assert_eq!((first.status, first.closes()), (200, false), "{coloring:?}");
        let second = read_response(&mut s, &mut buf);
        assert_eq!(
            (second.status, second.closes()),
            (405, true),
            "{coloring:?}"
        );
        // Nothing more comes, up to the server's close.
        s.set_read_timeout(Some(common::PATIENCE)).unwrap();
        let mut rest = [0u8; 4096];
        loop {
            match s.read(&mut rest) {
                Ok(0) => break,
                Ok(n) => buf.extend_from_slice(&rest[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("{coloring:?}: the connection did not close: {e}"),
            }
        }
        assert!(
            buf.is_empty(),
            "{coloring:?}: bytes after the last response: {:?}",
            String::from_utf8_lossy(&buf)
        );
        drop(s);
        rt.wait_idle_timeout(common::PATIENCE);
        common::eventually("both responses are logged", || server.stats().requests == 2);
        let log = server.access_log();
        assert_eq!(log.recent.len(), 2, "{coloring:?}: {:?}", log.recent);
        assert_eq!(log.by_status.get(&200), Some(&1));
        assert_eq!(log.by_status.get(&405), Some(&1));
    }
}

#[test]
fn http_1_0_closes_unless_asked_to_keep_alive() {
    let (_rt, server) = web(1, ServerConfig::default());
    let mut s = connect(server.addr());
    s.write_all(b"GET /style.css HTTP/1.0\r\n\r\n").unwrap();
    let r = read_response(&mut s, &mut Vec::new());
    assert_eq!(r.status, 200);
    assert!(r.closes());
    assert!(closed_within(&mut s, common::PATIENCE));

    let mut s = connect(server.addr());
    let mut buf = Vec::new();
    for _ in 0..2 {
        s.write_all(b"GET /style.css HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let r = read_response(&mut s, &mut buf);
        assert_eq!(r.status, 200);
        assert!(!r.closes());
    }
}

#[test]
fn the_access_log_records_each_response() {
    let (rt, server) = web(2, config(Coloring::ByConnection));
    get(server.addr(), "/style.css");
    get(server.addr(), "/nope");
    rt.wait_idle_timeout(common::PATIENCE);
    common::eventually("both responses are logged", || server.stats().requests == 2);
    let log = server.access_log();
    assert_eq!(log.by_status.get(&200), Some(&1));
    assert_eq!(log.by_status.get(&404), Some(&1));
    // Two connections, two colors: the lines may be in either order.
    let log = log.recent;
    assert_eq!(log.len(), 2);
    for want in [
        "\"GET /style.css HTTP/1.1\" 200",
        "\"GET /nope HTTP/1.1\" 404",
    ] {
        assert!(
            log.iter().any(|l| l.contains(want)),
            "{want} not in {log:?}"
        );
    }
}
