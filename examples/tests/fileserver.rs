//! The file server's blocks: sealed under the session key, opened and checked by a client.

mod common;

use std::io::{Read, Write};

use common::{PATIENCE, closed_within, eventually};
use hue_examples::ErrorKind;
use hue_examples::fileserver::{Client, Coloring, MAGIC, Server, ServerConfig, SessionKey, Status};
use hue_runtime::Runtime;

/// Small files, so debug-build crypto stays quick; the last block is short.
fn small(coloring: Coloring) -> ServerConfig {
    ServerConfig {
        files: 3,
        file_size: 100 * 1024 + 123,
        block_size: 16 * 1024,
        coloring,
        ..ServerConfig::default()
    }
}

fn start(workers: usize, config: &ServerConfig) -> (Runtime, Server) {
    let rt = Runtime::builder().workers(workers).build().unwrap();
    let server = Server::start(&rt.handle(), config.clone()).unwrap();
    (rt, server)
}

#[test]
fn blocks_decrypt_and_verify_with_the_right_key() {
    for coloring in [Coloring::Serial, Coloring::ByConnection] {
        let config = small(coloring);
        let (rt, server) = start(2, &config);
        let mut client = Client::connect(server.addr(), &config.secret).unwrap();
        let last = config.blocks() - 1;
        for (file, block) in [(0, 0), (2, 3), (1, last), (0, 1), (0, 0)] {
            let plain = client.fetch(file, block).unwrap();
            assert_eq!(
                Some(plain),
                config.block_contents(file, block),
                "block {block} of file {file}"
            );
        }
        assert_eq!(
            config.block_contents(1, last).unwrap().len(),
            config.file_size % config.block_size
        );
        // A block that does not exist is refused, unsealed.
        let missing = client.fetch_sealed(1, last + 1).unwrap();
        assert_eq!(missing.status, Status::NotFound);
        assert!(missing.payload.is_empty());
        assert_eq!(server.stats().sealed, 5);
        assert_eq!(server.stats().conflicts, 0);
        assert_eq!(rt.shutdown().panics_total(), 0);
    }
}

#[test]
fn blocks_fail_to_open_with_a_wrong_key() {
    let config = small(Coloring::ByConnection);
    let (_rt, server) = start(2, &config);
    let mut wrong = config.secret;
    wrong[0] ^= 1;
    let mut client = Client::connect(server.addr(), &wrong).unwrap();
    let err = client.fetch(0, 2).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Verify, "{err}");

    // With the right key, the same sealed bytes open; with a key of another session, or
    // altered in any field, they do not.
    let mut client = Client::connect(server.addr(), &config.secret).unwrap();
    let sealed = client.fetch_sealed(0, 2).unwrap();
    assert_eq!(
        Some(sealed.open(client.key()).unwrap()),
        config.block_contents(0, 2)
    );
    let other = Client::connect(server.addr(), &config.secret).unwrap();
    assert_ne!(other.key(), client.key(), "two sessions share a key");
    assert_eq!(
        sealed.open(other.key()).unwrap_err().kind(),
        ErrorKind::Verify
    );
    let mut flipped = sealed.clone();
    flipped.payload[100] ^= 0x40;
    assert_eq!(
        flipped.open(client.key()).unwrap_err().kind(),
        ErrorKind::Verify
    );
    let mut moved = sealed.clone();
    moved.block = 3;
    assert_eq!(
        moved.open(client.key()).unwrap_err().kind(),
        ErrorKind::Verify
    );
    let mut replayed = sealed;
    replayed.seq += 1;
    assert_eq!(
        replayed.open(client.key()).unwrap_err().kind(),
        ErrorKind::Verify
    );
}

#[test]
fn the_session_key_depends_on_secret_and_nonce() {
    let a = SessionKey::derive(&[1; 32], &[2; 32]);
    assert_eq!(a, SessionKey::derive(&[1; 32], &[2; 32]));
    assert_ne!(a, SessionKey::derive(&[1; 32], &[3; 32]));
    assert_ne!(a, SessionKey::derive(&[4; 32], &[2; 32]));
}

#[test]
fn requests_pipelined_on_one_connection_come_back_in_order() {
    let config = small(Coloring::ByConnection);
    let (_rt, server) = start(2, &config);
    // A raw client: hello and 20 requests in one write.
    let mut s = common::connect(server.addr());
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[7; 32]);
    let key = SessionKey::derive(&config.secret, &[7; 32]);
    let want: Vec<(u32, u32)> = (0..20).map(|i| (i % 3, (i * 5) % 7)).collect();
    for (f, b) in &want {
        out.extend_from_slice(&f.to_le_bytes());
        out.extend_from_slice(&b.to_le_bytes());
    }
    s.write_all(&out).unwrap();
    for (client_seq, &(file, block)) in (0u64..).zip(&want) {
        let mut head = [0u8; 24];
        s.read_exact(&mut head).unwrap();
        let len = u32::from_le_bytes(head[12..16].try_into().unwrap()) as usize;
        let mut payload = vec![0u8; len];
        s.read_exact(&mut payload).unwrap();
        let sealed = hue_examples::fileserver::Sealed {
            status: Status::Ok,
            file: u32::from_le_bytes(head[4..8].try_into().unwrap()),
            block: u32::from_le_bytes(head[8..12].try_into().unwrap()),
            seq: u64::from_le_bytes(head[16..24].try_into().unwrap()),
            payload,
        };
        assert_eq!(
            (sealed.file, sealed.block, sealed.seq),
            (file, block, client_seq)
        );
        assert_eq!(
            Some(sealed.open(&key).unwrap()),
            config.block_contents(file, block)
        );
    }
}

#[test]
fn a_bad_hello_closes_the_connection() {
    let config = small(Coloring::Serial);
    let (rt, server) = start(1, &config);
    let mut s = common::connect(server.addr());
    s.write_all(&[b'X'; 64]).unwrap();
    assert!(closed_within(&mut s, PATIENCE));
    eventually("the connection is closed", || {
        server.stats().conns.open == 0
    });
    // Others are still served.
    let mut client = Client::connect(server.addr(), &config.secret).unwrap();
    assert!(client.fetch(0, 0).is_ok());
    assert_eq!(rt.metrics().panics, 0);
}
