//! A crypto file server: libasync-smp's SFS experiment.
//!
//! Clients fetch blocks of large files the server holds in memory. Every block leaves the
//! server sealed with ChaCha20-Poly1305 under the connection's session key, so the server's
//! work is mostly cryptography, as in SFS, where encryption and MACs dominated. The client
//! checks a sample of the blocks: it opens them with its copy of the key and compares them
//! with the file's contents.
//!
//! Stages: `accept`, `open`, `read` (parses the hello and the block requests), `encrypt` (seals
//! one block), `write` (sends it), `timeout`.
//!
//! # One code base, two colorings
//!
//! Everything runs in the default color except, in [`Coloring::ByConnection`], `encrypt`,
//! which runs in its connection's color. That is the whole change, in [`encrypt_target`]:
//!
//! ```text
//!  let target = match coloring {
//!      Coloring::Serial => encrypt.key(conn),
//! -                                               (nothing else changes)
//! +    Coloring::ByConnection => encrypt.color(Color::of(&conn)).key(conn),
//!  };
//! ```
//!
//! It is safe because `encrypt` touches no mutable state: it gets its block's location, the
//! connection's cipher and a sequence number by value, reads the immutable file contents, and
//! hands the sealed block to the `write` stage, which runs in the default color with the rest.
//! Blocks of one connection are sealed in order (one color, FIFO), so they reach `write` in
//! order too.
//!
//! # Protocol
//!
//! - Client hello: `HUE1` and a 32-byte client nonce. Both sides derive the session key
//!   `SHA-256("hue-fileserver v1" ‖ secret ‖ nonce)` from a secret they share ([`SessionKey`]).
//! - Request: file and block, each a little-endian `u32`.
//! - Response: a 24-byte head (status, 3 zero bytes, file, block, payload length as `u32`, the
//!   connection's response sequence number as `u64`), then the payload: the block sealed with
//!   nonce = sequence number, associated data = the head's first 12 bytes, tag appended.

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use hue_runtime::{Builder, Color, Cx, Handle, Handler, Runtime, Target};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::loadgen::{self, Frame, Protocol, Rng, mix};
use crate::net::{self, Input, Reply, Then};
use crate::{ConnStats, Limits, Load, Served, Summary, Workload};

/// Where `encrypt` runs: [`Coloring::Serial`], in the default color with everything else, or
/// [`Coloring::ByConnection`], in its connection's color.
pub use crate::catalogue::Coloring;

/// Where connection `conn`'s `encrypt` callbacks go. The one place the two colorings differ.
pub fn encrypt_target(coloring: Coloring, encrypt: Handler, conn: u64) -> Target {
    // ---- the coloring (libasync-smp's SFS change) ------------------------------------------
    match coloring {
        Coloring::Serial => encrypt.key(conn),
        Coloring::ByConnection => encrypt.color(Color::of(&conn)).key(conn),
    }
    // -----------------------------------------------------------------------------------------
}

/// The first bytes of a client's hello.
pub const MAGIC: [u8; 4] = *b"HUE1";
const HELLO_LEN: usize = 4 + 32;
const REQUEST_LEN: usize = 8;
/// The length of a response head.
pub const HEAD_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// The largest block a server may be configured with.
pub const MAX_BLOCK: usize = 1 << 20;

/// What a response says about its request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// The payload is the sealed block.
    Ok,
    /// No such file or block; no payload.
    NotFound,
    /// The server is at its connection limit and closes this connection.
    Busy,
}

impl Status {
    fn byte(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::NotFound => 1,
            Status::Busy => 2,
        }
    }

    fn from_byte(b: u8) -> Option<Status> {
        match b {
            0 => Some(Status::Ok),
            1 => Some(Status::NotFound),
            2 => Some(Status::Busy),
            _ => None,
        }
    }
}

/// A connection's session key.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    /// The key both sides derive from their shared `secret` and the client's nonce.
    pub fn derive(secret: &[u8; 32], client_nonce: &[u8; 32]) -> SessionKey {
        let mut h = Sha256::new();
        h.update(b"hue-fileserver v1");
        h.update(secret);
        h.update(client_nonce);
        SessionKey(h.finalize().into())
    }

    /// The key's bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(&Key::from(self.0))
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

/// A response as it travels: the head's fields and the sealed payload.
#[derive(Clone, Debug)]
pub struct Sealed {
    /// What the server says.
    pub status: Status,
    /// The file asked for.
    pub file: u32,
    /// The block asked for.
    pub block: u32,
    /// The connection's response sequence number (the nonce).
    pub seq: u64,
    /// The ciphertext with its 16-byte tag.
    pub payload: Vec<u8>,
}

impl Sealed {
    fn head(status: Status, file: u32, block: u32, len: usize, seq: u64) -> [u8; HEAD_LEN] {
        let mut h = [0u8; HEAD_LEN];
        h[0] = status.byte();
        h[4..8].copy_from_slice(&file.to_le_bytes());
        h[8..12].copy_from_slice(&block.to_le_bytes());
        h[12..16].copy_from_slice(&(len as u32).to_le_bytes());
        h[16..24].copy_from_slice(&seq.to_le_bytes());
        h
    }

    /// Parses the response at the front of `buf`: `None` until all of it is there.
    fn parse(buf: &[u8]) -> Result<Option<(Sealed, usize)>> {
        if buf.len() < HEAD_LEN {
            return Ok(None);
        }
        let head = Head::parse(buf)?;
        let len = HEAD_LEN + head.len;
        if buf.len() < len {
            return Ok(None);
        }
        let sealed = Sealed {
            status: head.status,
            file: head.file,
            block: head.block,
            seq: head.seq,
            payload: buf[HEAD_LEN..len].to_vec(),
        };
        Ok(Some((sealed, len)))
    }

    /// Opens the payload with `key`: the block's contents, or a
    /// [`crate::ErrorKind::Verify`] error if the key is wrong or anything (payload, head
    /// fields) was changed.
    pub fn open(&self, key: &SessionKey) -> Result<Vec<u8>> {
        open_with(&key.cipher(), self)
    }
}

/// A response head's fields.
struct Head {
    status: Status,
    file: u32,
    block: u32,
    /// Of the payload.
    len: usize,
    seq: u64,
}

impl Head {
    /// Parses the head at the front of `buf`, which holds at least [`HEAD_LEN`] bytes.
    fn parse(buf: &[u8]) -> Result<Head> {
        let Some(h) = buf.get(..HEAD_LEN) else {
            return Err(Error::protocol("a response head was cut short"));
        };
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let status = Status::from_byte(h[0])
            .ok_or_else(|| Error::protocol(format!("unknown response status {}", h[0])))?;
        let len = u32_at(12) as usize;
        if len > MAX_BLOCK + TAG_LEN {
            return Err(Error::protocol(format!(
                "a response claims a {len}-byte payload"
            )));
        }
        Ok(Head {
            status,
            file: u32_at(4),
            block: u32_at(8),
            len,
            seq: u64::from_le_bytes([h[16], h[17], h[18], h[19], h[20], h[21], h[22], h[23]]),
        })
    }
}

fn open_with(cipher: &ChaCha20Poly1305, s: &Sealed) -> Result<Vec<u8>> {
    let head = Head {
        status: s.status,
        file: s.file,
        block: s.block,
        len: s.payload.len(),
        seq: s.seq,
    };
    let mut plain = Vec::new();
    open_into(cipher, &head, &s.payload, &mut plain)?;
    Ok(plain)
}

/// Opens `payload` (the ciphertext and its tag), sent under `head`, into `plain`.
fn open_into(
    cipher: &ChaCha20Poly1305,
    head: &Head,
    payload: &[u8],
    plain: &mut Vec<u8>,
) -> Result<()> {
    if head.status != Status::Ok {
        return Err(Error::protocol(format!(
            "block has status {:?}",
            head.status
        )));
    }
    let Some(split) = payload.len().checked_sub(TAG_LEN) else {
        return Err(Error::verify("a sealed block is shorter than its tag"));
    };
    let aad = Sealed::head(head.status, head.file, head.block, payload.len(), head.seq);
    plain.clear();
    plain.extend_from_slice(&payload[..split]);
    let tag = Tag::try_from(&payload[split..])
        .map_err(|_| Error::verify("a sealed block's tag is malformed"))?;
    cipher
        .decrypt_inout_detached(
            &nonce(head.seq),
            &aad[..12],
            plain.as_mut_slice().into(),
            &tag,
        )
        .map_err(|_| {
            Error::verify(format!(
                "block {} of file {} failed to authenticate (wrong key or altered bytes)",
                head.block, head.file
            ))
        })
}

fn nonce(seq: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(&seq.to_le_bytes());
    Nonce::from(n)
}

/// The refusal of a connection over the limit: a `Busy` head.
const REFUSAL: [u8; HEAD_LEN] = {
    let mut h = [0u8; HEAD_LEN];
    h[0] = 2;
    h
};

/// A file server's setup.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// How many files it holds.
    pub files: usize,
    /// The size of each file.
    pub file_size: usize,
    /// The size of a block (the last block of a file may be shorter).
    pub block_size: usize,
    /// The secret session keys are derived from.
    pub secret: [u8; 32],
    /// Connection limits (the HTTP limits do not apply).
    pub limits: Limits,
    /// Where `encrypt` runs.
    pub coloring: Coloring,
    /// Where it listens. Default: `127.0.0.1:0` (an ephemeral port).
    pub addr: SocketAddr,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            files: 4,
            file_size: 4 << 20,
            block_size: 64 * 1024,
            secret: *b"hue demo secret: not for real!!!",
            limits: Limits::default(),
            coloring: Coloring::default(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

impl ServerConfig {
    /// Blocks per file.
    pub fn blocks(&self) -> u32 {
        self.file_size.div_ceil(self.block_size) as u32
    }

    /// The contents of block `block` of file `file`, as the server holds it.
    pub fn block_contents(&self, file: u32, block: u32) -> Option<Vec<u8>> {
        let (start, end) = self.block_range(file, block)?;
        let mut out = vec![0u8; end - start];
        fill(file, start, &mut out);
        Some(out)
    }

    fn block_range(&self, file: u32, block: u32) -> Option<(usize, usize)> {
        if file as usize >= self.files || block >= self.blocks() {
            return None;
        }
        let start = block as usize * self.block_size;
        Some((start, (start + self.block_size).min(self.file_size)))
    }

    fn check(&self) -> Result<()> {
        if self.files == 0 || self.file_size == 0 {
            return Err(Error::config(
                "the file server needs at least one nonempty file",
            ));
        }
        if self.block_size == 0 || self.block_size > MAX_BLOCK {
            return Err(Error::config(format!(
                "a block must be 1 to {MAX_BLOCK} bytes, not {}",
                self.block_size
            )));
        }
        if self.files > u32::MAX as usize || self.file_size / self.block_size >= u32::MAX as usize {
            return Err(Error::config("too many files or blocks"));
        }
        Ok(())
    }
}

/// File contents: a keyed pseudo-random stream (bytes `8k..8k + 8` of file `f` are
/// [`word`]`(f, k)`, little-endian), so the client can check a block without holding the files.
fn fill(file: u32, start: usize, out: &mut [u8]) {
    let (head, words, tail) = split_at_words(start, out.len());
    for (k, b) in out[..head].iter_mut().enumerate() {
        *b = byte(file, start + k);
    }
    let first = (start + head) / 8;
    let (middle, rest) = out[head..].split_at_mut(8 * words);
    for (k, w) in middle.chunks_exact_mut(8).enumerate() {
        w.copy_from_slice(&word(file, (first + k) as u64).to_le_bytes());
    }
    let at = start + head + 8 * words;
    for (k, b) in rest[..tail].iter_mut().enumerate() {
        *b = byte(file, at + k);
    }
}

/// Whether `data` is file `file`'s contents from byte `start` on. A word at a time, with no
/// copy: the client checks blocks with it.
fn matches(file: u32, start: usize, data: &[u8]) -> bool {
    let (head, words, _) = split_at_words(start, data.len());
    let first = (start + head) / 8;
    let (front, rest) = data.split_at(head);
    let (middle, back) = rest.split_at(8 * words);
    let at = start + head + 8 * words;
    front
        .iter()
        .enumerate()
        .all(|(k, &b)| b == byte(file, start + k))
        && middle.chunks_exact(8).enumerate().all(|(k, w)| {
            let got = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            got == word(file, (first + k) as u64)
        })
        && back
            .iter()
            .enumerate()
            .all(|(k, &b)| b == byte(file, at + k))
}

/// `len` bytes from offset `start`: how many come before the first word boundary, how many
/// whole words follow, and how many bytes after them.
fn split_at_words(start: usize, len: usize) -> (usize, usize, usize) {
    let head = ((8 - start % 8) % 8).min(len);
    let words = (len - head) / 8;
    (head, words, len - head - 8 * words)
}

fn word(file: u32, index: u64) -> u64 {
    mix((0x5eed_f11e_u64 ^ (u64::from(file) << 40)) ^ index)
}

fn byte(file: u32, i: usize) -> u8 {
    (word(file, (i / 8) as u64) >> (8 * (i % 8))) as u8
}

/// A file server benchmark run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Runtime workers.
    pub workers: usize,
    /// Where `encrypt` runs (overrides `server.coloring`).
    pub coloring: Coloring,
    /// The load.
    pub load: Load,
    /// The server. Its `addr` is ignored: `run` always listens on `127.0.0.1:0`.
    pub server: ServerConfig,
    /// The client opens and checks one block in this many (1: every block).
    pub verify_every: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            workers: 1,
            coloring: Coloring::default(),
            load: Load::default(),
            server: ServerConfig::default(),
            verify_every: 16,
        }
    }
}

struct Fs {
    files: Vec<Vec<u8>>,
    config: ServerConfig,
    encrypt: Handler,
    sealed: AtomicU64,
}

/// Per connection: input not yet parsed, the session (after the hello), the next sequence
/// number.
#[derive(Default)]
struct FsConn {
    input: Vec<u8>,
    cipher: Option<Arc<ChaCha20Poly1305>>,
    seq: u64,
}

type Net = net::Server<Fs>;

impl net::Service for Fs {
    type State = FsConn;

    fn refusal(&self) -> &'static [u8] {
        &REFUSAL
    }

    /// Requests are eight bytes: the `read` stage parses them itself and queues one `encrypt`
    /// per block.
    fn input(server: &Arc<Net>, cx: &mut Cx<'_>, id: u64, data: Vec<u8>) -> Input {
        let fs = &server.service;
        let mut jobs = Vec::new();
        let session = server.with_conn(cx, id, |c| {
            let st = &mut c.state;
            st.input.extend_from_slice(&data);
            let mut used = 0;
            if st.cipher.is_none() {
                if st.input.len() < HELLO_LEN {
                    return Ok(None);
                }
                if st.input[..4] != MAGIC {
                    return Err(());
                }
                let nonce: [u8; 32] = st.input[4..HELLO_LEN].try_into().map_err(|_| ())?;
                let key = SessionKey::derive(&fs.config.secret, &nonce);
                st.cipher = Some(Arc::new(key.cipher()));
                used = HELLO_LEN;
            }
            while st.input.len() - used >= REQUEST_LEN {
                let r = &st.input[used..used + REQUEST_LEN];
                let file = u32::from_le_bytes([r[0], r[1], r[2], r[3]]);
                let block = u32::from_le_bytes([r[4], r[5], r[6], r[7]]);
                jobs.push((file, block, st.seq));
                st.seq += 1;
                used += REQUEST_LEN;
            }
            st.input.drain(..used);
            Ok(st.cipher.clone())
        });
        let cipher = match session {
            None => return Input::Parsed(0),
            Some(Err(())) => return Input::Close,
            Some(Ok(None)) => return Input::Parsed(0),
            Some(Ok(Some(c))) => c,
        };
        let target = encrypt_target(fs.config.coloring, fs.encrypt, id);
        for &(file, block, seq) in &jobs {
            let s = server.clone();
            let cipher = cipher.clone();
            cx.spawn(target, move |cx| {
                encrypt(&s, cx, id, &cipher, file, block, seq)
            });
        }
        Input::Parsed(jobs.len() as u32)
    }
}

/// The `encrypt` stage: seals one block and hands it to `write`.
fn encrypt(
    server: &Arc<Net>,
    cx: &mut Cx<'_>,
    id: u64,
    cipher: &ChaCha20Poly1305,
    file: u32,
    block: u32,
    seq: u64,
) {
    let fs = &server.service;
    let frame = match fs.config.block_range(file, block) {
        None => Sealed::head(Status::NotFound, file, block, 0, seq).to_vec(),
        Some((start, end)) => {
            let plain = &fs.files[file as usize][start..end];
            let head = Sealed::head(Status::Ok, file, block, plain.len() + TAG_LEN, seq);
            let mut out = Vec::with_capacity(HEAD_LEN + plain.len() + TAG_LEN);
            out.extend_from_slice(&head);
            out.extend_from_slice(plain);
            match cipher.encrypt_inout_detached(
                &nonce(seq),
                &head[..12],
                out[HEAD_LEN..].as_mut().into(),
            ) {
                Ok(tag) => {
                    out.extend_from_slice(&tag);
                    fs.sealed.fetch_add(1, Ordering::Relaxed);
                    out
                }
                // Only for messages over 256 GiB: not a block.
                Err(_) => Sealed::head(Status::NotFound, file, block, 0, seq).to_vec(),
            }
        }
    };
    server.send_later(
        cx,
        id,
        Reply {
            data: frame,
            answers: 1,
            then: Then::KeepOpen,
        },
    );
}

/// What a file server has done so far.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ServerStats {
    /// Connections.
    pub conns: ConnStats,
    /// Blocks sealed.
    pub sealed: u64,
    /// Conflicts on the server's state.
    pub conflicts: u64,
}

/// A running file server. See [`crate::webserver::Server`] for its lifetime.
pub struct Server {
    net: Arc<Net>,
    listening: net::Listening,
}

impl Server {
    /// Makes the files and starts serving them on `handle`'s runtime.
    pub fn start(handle: &Handle, config: ServerConfig) -> Result<Server> {
        config.check()?;
        let files = (0..config.files as u32)
            .map(|f| {
                let mut data = vec![0u8; config.file_size];
                fill(f, 0, &mut data);
                data
            })
            .collect();
        let limits = config.limits.clone();
        let addr = config.addr;
        let fs = Fs {
            files,
            config,
            encrypt: Handler::new("encrypt"),
            sealed: AtomicU64::new(0),
        };
        // Reading and writing stay in the default color in both colorings.
        let net = net::Server::new(fs, |_| Color::DEFAULT, limits);
        let listening = net.listen(handle, addr)?;
        Ok(Server { net, listening })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.listening.addr()
    }

    /// What it has done so far.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            conns: self.net.stats(),
            sealed: self.net.service.sealed.load(Ordering::Relaxed),
            conflicts: self.net.conflicts(),
        }
    }
}

/// A blocking client, for tests and tools.
pub struct Client {
    stream: TcpStream,
    key: SessionKey,
    cipher: ChaCha20Poly1305,
    seq: u64,
    input: Vec<u8>,
}

impl Client {
    /// Connects to the server at `addr`, sends the hello and derives the session key from
    /// `secret` (which must be the server's for blocks to open).
    pub fn connect(addr: SocketAddr, secret: &[u8; 32]) -> Result<Client> {
        use std::io::Write;
        let mut stream = TcpStream::connect(addr)
            .map_err(|e| Error::io(format!("connecting to {addr} failed"), e))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .and_then(|()| stream.set_nodelay(true))
            .map_err(|e| Error::io("setting up the client socket failed", e))?;
        let nonce = fresh_nonce();
        let mut hello = MAGIC.to_vec();
        hello.extend_from_slice(&nonce);
        stream
            .write_all(&hello)
            .map_err(|e| Error::io("sending the hello failed", e))?;
        let key = SessionKey::derive(secret, &nonce);
        Ok(Client {
            stream,
            cipher: key.cipher(),
            key,
            seq: 0,
            input: Vec::new(),
        })
    }

    /// The session key this client derived.
    pub fn key(&self) -> &SessionKey {
        &self.key
    }

    /// Asks for a block and returns the response as it came, sealed.
    pub fn fetch_sealed(&mut self, file: u32, block: u32) -> Result<Sealed> {
        use std::io::{Read, Write};
        let mut req = [0u8; REQUEST_LEN];
        req[..4].copy_from_slice(&file.to_le_bytes());
        req[4..].copy_from_slice(&block.to_le_bytes());
        self.stream
            .write_all(&req)
            .map_err(|e| Error::io("sending a request failed", e))?;
        loop {
            if let Some((sealed, n)) = Sealed::parse(&self.input)? {
                self.input.drain(..n);
                if sealed.seq != self.seq || (sealed.file, sealed.block) != (file, block) {
                    return Err(Error::protocol(format!(
                        "asked for block {block} of file {file} (response {}), got block {} of \
                         file {} (response {})",
                        self.seq, sealed.block, sealed.file, sealed.seq
                    )));
                }
                self.seq += 1;
                return Ok(sealed);
            }
            let mut buf = [0u8; 64 * 1024];
            let n = self
                .stream
                .read(&mut buf)
                .map_err(|e| Error::io("reading a response failed", e))?;
            if n == 0 {
                return Err(Error::protocol("the server closed the connection"));
            }
            self.input.extend_from_slice(&buf[..n]);
        }
    }

    /// Asks for a block and opens it with the session key.
    pub fn fetch(&mut self, file: u32, block: u32) -> Result<Vec<u8>> {
        let sealed = self.fetch_sealed(file, block)?;
        open_with(&self.cipher, &sealed)
    }
}

/// A client nonce no other connection of this process uses, and unlikely to repeat across
/// processes (a demo, not a key exchange).
fn fresh_nonce() -> [u8; 32] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = Sha256::new();
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.update(now.as_nanos().to_le_bytes());
    h.finalize().into()
}

/// Runs the server and the load generator on a runtime of `config.workers` workers.
pub fn run(config: Config) -> Result<Summary> {
    run_with(Runtime::builder(), config)
}

/// Like [`run`], on a runtime from `builder` (whose worker count and thread names `run_with`
/// sets).
pub fn run_with(builder: Builder, config: Config) -> Result<Summary> {
    if config.verify_every == 0 {
        return Err(Error::config("verify_every must be at least 1"));
    }
    let server_config = ServerConfig {
        coloring: config.coloring,
        addr: crate::loopback(),
        ..config.server
    };
    let workload = Workload {
        name: "fileserver",
        variant: config.coloring.name().to_owned(),
        workers: config.workers,
        load: &config.load,
        limits: &server_config.limits,
    };
    crate::run_workload(
        builder,
        workload,
        |handle| Server::start(handle, server_config.clone()),
        |addr| drive(addr, &config.load, &server_config, config.verify_every),
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

/// Drives the file server at `addr`, which serves `config`'s files, with `load`: random
/// blocks, every head checked, one block in `verify_every` opened and compared with the file.
pub(crate) fn drive(
    addr: SocketAddr,
    load: &Load,
    config: &ServerConfig,
    verify_every: u64,
) -> Result<loadgen::Report> {
    let shared = Arc::new(config.clone());
    loadgen::run(addr, load, |t| FsClient {
        config: shared.clone(),
        verify_every,
        rng: Rng::new(0xf11e_5eed ^ t as u64),
        conns: Vec::new(),
        responses: 0,
        verified: 0,
        plain: Vec::new(),
    })
}

#[derive(Default)]
struct FsSession {
    cipher: Option<ChaCha20Poly1305>,
    seq: u64,
    /// The blocks asked for and not yet answered, oldest first.
    want: VecDeque<(u32, u32)>,
    /// The block of the response framed for a check.
    checking: (u32, u32),
}

/// The load generator's side: random blocks, every head checked (status, file, block, sequence
/// number, in request order), every `verify_every`-th block opened and compared; the other
/// blocks are discarded unread.
struct FsClient {
    config: Arc<ServerConfig>,
    verify_every: u64,
    rng: Rng,
    conns: Vec<FsSession>,
    responses: u64,
    verified: u64,
    /// Reused for the block being opened.
    plain: Vec<u8>,
}

impl FsClient {
    fn session(&mut self, conn: usize) -> &mut FsSession {
        if self.conns.len() <= conn {
            self.conns.resize_with(conn + 1, FsSession::default);
        }
        &mut self.conns[conn]
    }
}

impl Protocol for FsClient {
    fn hello(&mut self, conn: usize, out: &mut Vec<u8>) {
        let nonce = fresh_nonce();
        let key = SessionKey::derive(&self.config.secret, &nonce);
        self.session(conn).cipher = Some(key.cipher());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&nonce);
    }

    fn request(&mut self, conn: usize, out: &mut Vec<u8>) {
        let file = self.rng.below(self.config.files as u64) as u32;
        let block = self.rng.below(u64::from(self.config.blocks())) as u32;
        self.session(conn).want.push_back((file, block));
        out.extend_from_slice(&file.to_le_bytes());
        out.extend_from_slice(&block.to_le_bytes());
    }

    fn frame(&mut self, conn: usize, buf: &[u8]) -> Result<Frame> {
        if buf.len() < HEAD_LEN {
            return Ok(Frame::Partial {
                need: HEAD_LEN - buf.len(),
            });
        }
        let head = Head::parse(buf)?;
        self.responses += 1;
        let deep = self.responses.is_multiple_of(self.verify_every);
        let s = self.session(conn);
        let (file, block) = s
            .want
            .pop_front()
            .ok_or_else(|| Error::protocol(format!("connection {conn} got an unasked block")))?;
        if head.seq != s.seq || (head.file, head.block) != (file, block) {
            return Err(Error::protocol(format!(
                "connection {conn} expected response {} for block {block} of file {file}, got \
                 response {} for block {} of file {}",
                s.seq, head.seq, head.block, head.file
            )));
        }
        s.seq += 1;
        if head.status != Status::Ok {
            return Err(Error::protocol(format!(
                "block {block} of file {file}: status {:?}",
                head.status
            )));
        }
        let len = head.len;
        if deep {
            s.checking = (file, block);
            Ok(Frame::Check(HEAD_LEN + len))
        } else {
            Ok(Frame::Discard {
                head: HEAD_LEN,
                body: len,
            })
        }
    }

    fn check(&mut self, conn: usize, response: &[u8]) -> Result<()> {
        let head = Head::parse(response)?;
        let s = self
            .conns
            .get(conn)
            .ok_or_else(|| Error::protocol(format!("connection {conn} got an unasked block")))?;
        let (file, block) = s.checking;
        let cipher = s
            .cipher
            .as_ref()
            .ok_or_else(|| Error::protocol("a response came before the hello was sent"))?;
        open_into(cipher, &head, &response[HEAD_LEN..], &mut self.plain)?;
        let range = self.config.block_range(file, block);
        if !range.is_some_and(|(start, end)| {
            end - start == self.plain.len() && matches(file, start, &self.plain)
        }) {
            return Err(Error::verify(format!(
                "block {block} of file {file} opened to the wrong contents"
            )));
        }
        self.verified += 1;
        Ok(())
    }

    /// Nothing past the head it frames: a block it will discard is never copied.
    fn read_ahead(&self) -> usize {
        0
    }

    fn verified(&self) -> u64 {
        self.verified
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_contents_are_the_same_from_any_offset() {
        let mut whole = vec![0u8; 100];
        fill(3, 0, &mut whole);
        for start in 0..20 {
            for len in [0, 1, 5, 8, 13, 64, 80] {
                let mut part = vec![0u8; len];
                fill(3, start, &mut part);
                assert_eq!(part, whole[start..start + len], "{start} {len}");
                assert!(matches(3, start, &part));
                assert!(!matches(2, start, &part) || len == 0);
                for k in 0..len {
                    let mut bad = part.clone();
                    bad[k] ^= 1;
                    assert!(!matches(3, start, &bad), "{start} {len} {k}");
                }
            }
        }
        assert_eq!(whole[9], (word(3, 1) >> 8) as u8);
    }
}
