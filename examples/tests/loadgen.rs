//! The load generator: pipelined requests come back matched in order, the file server's
//! client discards the blocks it does not open and still counts every byte, and a check that
//! should fail does (a corrupted block, responses out of order).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use hue_examples::bench_support;
use hue_examples::fileserver::{self, HEAD_LEN, ServerConfig};
use hue_examples::webserver::Site;
use hue_examples::{ErrorKind, Load, pipeline, webserver};
use hue_runtime::Runtime;

fn load(connections: usize, requests: u64, depth: usize) -> Load {
    Load {
        connections,
        requests,
        duration: Duration::from_secs(10),
        threads: 1,
        depth,
    }
}

/// Whole blocks only (the file size is a multiple of the block size), so every response has
/// the same length.
fn fs_config() -> ServerConfig {
    ServerConfig {
        files: 2,
        file_size: 32 * 8 * 1024,
        block_size: 8 * 1024,
        ..ServerConfig::default()
    }
}

/// A sealed block's response: head, block, tag.
const FS_RESPONSE: u64 = (HEAD_LEN + 8 * 1024 + 16) as u64;

#[test]
fn the_file_client_discards_unopened_blocks_and_counts_every_byte() {
    for depth in [1, 4] {
        let s = fileserver::run(fileserver::Config {
            workers: 2,
            coloring: fileserver::Coloring::ByConnection,
            load: load(4, 400, depth),
            server: fs_config(),
            verify_every: 8,
        })
        .unwrap();
        assert_eq!(s.requests, 400, "depth {depth}: {s}");
        assert_eq!(s.bytes, 400 * FS_RESPONSE, "depth {depth}: {s}");
        // One generator thread counts responses across its connections: every 8th is opened.
        assert_eq!(s.verified, 50, "depth {depth}: {s}");
        assert_eq!(
            s.discarded,
            350 * (FS_RESPONSE - HEAD_LEN as u64),
            "depth {depth}: the bodies of the unopened blocks, and only those: {s}"
        );
        assert_eq!((s.panics, s.conflicts), (0, 0), "{s}");
    }
}

/// A proxy in front of `server` that flips the first payload byte of every block it passes
/// to the client. Returns its address.
fn corrupting_proxy(server: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let mut upstream = TcpStream::connect(server).unwrap();
            let (mut up_w, mut client_r) =
                (upstream.try_clone().unwrap(), client.try_clone().unwrap());
            thread::spawn(move || {
                let _ = std::io::copy(&mut client_r, &mut up_w);
                let _ = up_w.shutdown(std::net::Shutdown::Write);
            });
            thread::spawn(move || {
                let mut head = [0u8; HEAD_LEN];
                while upstream.read_exact(&mut head).is_ok() {
                    let len = u32::from_le_bytes(head[12..16].try_into().unwrap()) as usize;
                    let mut payload = vec![0u8; len];
                    if upstream.read_exact(&mut payload).is_err() {
                        break;
                    }
                    if let Some(b) = payload.first_mut() {
                        *b ^= 0x40;
                    }
                    if client.write_all(&head).is_err() || client.write_all(&payload).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn a_corrupted_block_that_is_opened_fails_the_check() {
    let config = fs_config();
    let rt = Runtime::builder().workers(1).build().unwrap();
    let server = fileserver::Server::start(&rt.handle(), config.clone()).unwrap();
    // Straight to the server the same load passes; through the proxy the opened blocks fail.
    let direct = bench_support::drive_fileserver(server.addr(), &load(2, 40, 2), &config, 4);
    let direct = direct.unwrap();
    assert_eq!((direct.requests, direct.verified), (40, 10), "{direct}");
    let proxy = corrupting_proxy(server.addr());
    let err = bench_support::drive_fileserver(proxy, &load(2, 40, 2), &config, 4).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Verify, "{err}");
    assert!(err.to_string().contains("failed to authenticate"), "{err}");
}

#[test]
fn pipelined_loads_are_answered_in_order() {
    for (workers, coloring) in [
        (1, webserver::Coloring::Serial),
        (2, webserver::Coloring::ByConnection),
    ] {
        let s = webserver::run(webserver::Config {
            workers,
            coloring,
            load: load(4, 400, 8),
            ..webserver::Config::default()
        })
        .unwrap();
        assert_eq!(s.requests, 400, "{s}");
        assert_eq!((s.panics, s.conflicts), (0, 0), "{s}");
    }
    for (coloring, stages) in [
        (pipeline::Coloring::Serial, pipeline::Stages::Fine),
        (pipeline::Coloring::Staged, pipeline::Stages::Fine),
        (pipeline::Coloring::Staged, pipeline::Stages::Coarse),
    ] {
        let s = pipeline::run(pipeline::Config {
            workers: 2,
            coloring,
            stages,
            load: load(4, 400, 8),
            ..pipeline::Config::default()
        })
        .unwrap();
        assert_eq!(s.requests, 400, "{s}");
        assert_eq!((s.panics, s.conflicts), (0, 0), "{s}");
    }
}

/// A web server that answers pipelined GETs of `site`'s files two at a time, the second
/// request's response first if `swap`. Returns its address. (A client must send an even
/// number of requests on each connection: one connection with an even budget.)
fn pairing_server(site: Site, swap: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let site = site.clone();
            thread::spawn(move || {
                let mut input = Vec::new();
                let mut paths = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    while let Some(end) = input.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8(input[..end].to_vec()).unwrap();
                        paths.push(head.split(' ').nth(1).unwrap().to_owned());
                        input.drain(..end + 4);
                    }
                    if paths.len() >= 2 {
                        let mut pair: Vec<String> = paths.drain(..2).collect();
                        if swap {
                            pair.reverse();
                        }
                        for p in pair {
                            let body = site.get(&p).unwrap();
                            let head = format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                                body.len()
                            );
                            if conn.write_all(head.as_bytes()).is_err()
                                || conn.write_all(body).is_err()
                            {
                                return;
                            }
                        }
                        continue;
                    }
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => input.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn responses_out_of_order_fail_the_check() {
    let site = Site::demo();
    let drive =
        |addr| bench_support::drive_webserver(addr, &load(1, 40, 2), &site, 8 * 1024, "fake", 1);
    let in_order = drive(pairing_server(site.clone(), false)).unwrap();
    assert_eq!(in_order.requests, 40, "{in_order}");
    let err = drive(pairing_server(site.clone(), true)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
    assert!(err.to_string().contains("expected 200 with"), "{err}");
}
