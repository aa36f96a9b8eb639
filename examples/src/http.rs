//! Just enough HTTP/1.1 for the web server and the pipeline: a strict request parser with
//! limits, response heads, and response framing for the load generator.

use std::io::Write as _;

use crate::Limits;
use crate::error::{Error, Result};

/// Headers a request may have before it is too large (431).
const MAX_HEADERS: usize = 64;

/// An HTTP status the servers send.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Status(pub(crate) u16);

impl Status {
    pub(crate) const OK: Status = Status(200);
    pub(crate) const BAD_REQUEST: Status = Status(400);
    pub(crate) const FORBIDDEN: Status = Status(403);
    pub(crate) const NOT_FOUND: Status = Status(404);
    pub(crate) const METHOD_NOT_ALLOWED: Status = Status(405);
    pub(crate) const CONFLICT: Status = Status(409);
    pub(crate) const PAYLOAD_TOO_LARGE: Status = Status(413);
    pub(crate) const HEADERS_TOO_LARGE: Status = Status(431);
    pub(crate) const NOT_IMPLEMENTED: Status = Status(501);
    pub(crate) const VERSION_NOT_SUPPORTED: Status = Status(505);

    pub(crate) fn reason(self) -> &'static str {
        match self.0 {
            200 => "OK",
            400 => "Bad Request",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            409 => "Conflict",
            413 => "Content Too Large",
            431 => "Request Header Fields Too Large",
            501 => "Not Implemented",
            503 => "Service Unavailable",
            505 => "HTTP Version Not Supported",
            _ => "Unknown",
        }
    }
}

/// A parsed request. The body, if any, is read and dropped: neither server takes uploads.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// The request target in origin form (`/path?query`), as sent (not decoded).
    pub(crate) target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub(crate) minor: u8,
    pub(crate) headers: Vec<(String, String)>,
    /// Whether the connection stays open after the response.
    pub(crate) keep_alive: bool,
}

impl Request {
    /// The first header named `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path part of the target, percent-decoded; `None` if the escapes are malformed.
    pub(crate) fn path(&self) -> Option<String> {
        let raw = self.target.split(['?', '#']).next().unwrap_or("");
        percent_decode(raw, false)
    }

    /// The query string (after `?`), not decoded.
    pub(crate) fn query(&self) -> &str {
        self.target
            .split_once('?')
            .map_or("", |(_, q)| q.split('#').next().unwrap_or(""))
    }
}

/// What the bytes at the front of a connection's input hold.
#[derive(Debug)]
pub(crate) enum Parse {
    /// A whole request, and how many bytes it took (head and body).
    Done(Request, usize),
    /// A request has begun but is not all here yet.
    Partial,
    /// Not a request we accept; answer with this status and close.
    Fail(Status),
}

/// A connection's input not yet parsed into requests.
#[derive(Default)]
pub(crate) struct RequestStream {
    input: Vec<u8>,
    /// A last request (or a malformed one) was seen: the rest is ignored.
    done: bool,
}

impl RequestStream {
    /// Appends `data` and takes every whole request off the front, in order. A request that
    /// fails to parse comes out as its error status and is the last; so is one that does not
    /// keep the connection alive.
    pub(crate) fn split(
        &mut self,
        data: Vec<u8>,
        limits: &Limits,
    ) -> Vec<std::result::Result<Request, Status>> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        if self.input.is_empty() {
            self.input = data;
        } else {
            self.input.extend_from_slice(&data);
        }
        let mut used = 0;
        loop {
            match parse_request(&self.input[used..], limits) {
                Parse::Done(req, n) => {
                    used += n;
                    let last = !req.keep_alive;
                    out.push(Ok(req));
                    if last {
                        self.done = true;
                        break;
                    }
                }
                Parse::Partial => break,
                Parse::Fail(status) => {
                    out.push(Err(status));
                    self.done = true;
                    break;
                }
            }
        }
        if self.done {
            self.input = Vec::new();
        } else {
            self.input.drain(..used);
        }
        out
    }
}

/// Parses the request at the front of `buf`.
pub(crate) fn parse_request(buf: &[u8], limits: &Limits) -> Parse {
    // RFC 9112 §2.2: ignore empty lines before the request line.
    let skip = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let buf = &buf[skip..];
    let Some(head_len) = head_end(buf) else {
        if buf.len() > limits.max_header_bytes {
            return Parse::Fail(Status::HEADERS_TOO_LARGE);
        }
        // Refuse a broken request line without waiting for the rest of the head.
        if let Some(nl) = buf.iter().position(|&b| b == b'\n')
            && let Err(s) = request_line(line(&buf[..nl]))
        {
            return Parse::Fail(s);
        }
        return Parse::Partial;
    };
    if head_len > limits.max_header_bytes {
        return Parse::Fail(Status::HEADERS_TOO_LARGE);
    }
    let mut lines = buf[..head_len].split(|&b| b == b'\n').map(line);
    let (method, target, minor) = match request_line(lines.next().unwrap_or(b"")) {
        Ok(r) => r,
        Err(s) => return Parse::Fail(s),
    };
    let mut headers = Vec::new();
    for l in lines {
        if l.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Parse::Fail(Status::HEADERS_TOO_LARGE);
        }
        match header_line(l) {
            Some(h) => headers.push(h),
            None => return Parse::Fail(Status::BAD_REQUEST),
        }
    }
    let mut req = Request {
        method,
        target,
        minor,
        headers,
        keep_alive: false,
    };
    if req.header("transfer-encoding").is_some() {
        return Parse::Fail(Status::NOT_IMPLEMENTED);
    }
    let hosts = req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("host"))
        .count();
    if hosts > 1 || (minor == 1 && hosts == 0) {
        return Parse::Fail(Status::BAD_REQUEST);
    }
    let mut body_len: Option<usize> = None;
    for (n, v) in &req.headers {
        if !n.eq_ignore_ascii_case("content-length") {
            continue;
        }
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Parse::Fail(Status::BAD_REQUEST);
        }
        // Too many digits to fit is too large anyway.
        let len = v.parse::<usize>().unwrap_or(usize::MAX);
        if body_len.is_some_and(|l| l != len) {
            return Parse::Fail(Status::BAD_REQUEST);
        }
        body_len = Some(len);
    }
    let body_len = body_len.unwrap_or(0);
    if body_len > limits.max_body_bytes {
        return Parse::Fail(Status::PAYLOAD_TOO_LARGE);
    }
    let total = skip + head_len + body_len;
    if buf.len() + skip < total {
        return Parse::Partial;
    }
    let (close, keep) = connection_tokens(req.header("connection").unwrap_or(""));
    req.keep_alive = !close && (minor == 1 || keep);
    Parse::Done(req, total)
}

/// The length of the head (through the blank line), if it is all in `buf`.
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(p) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + p;
        let rest = &buf[nl + 1..];
        if rest.starts_with(b"\n") {
            return Some(nl + 2);
        }
        if rest.starts_with(b"\r\n") {
            return Some(nl + 3);
        }
        i = nl + 1;
    }
    None
}

/// A line without its `\r` (lines are split at `\n`; a bare `\n` ending is accepted).
fn line(l: &[u8]) -> &[u8] {
    l.strip_suffix(b"\r").unwrap_or(l)
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn request_line(l: &[u8]) -> Result<(String, String, u8), Status> {
    let mut parts = l.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Status::BAD_REQUEST);
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(Status::BAD_REQUEST);
    }
    if target.is_empty() || !target.iter().all(|&b| b.is_ascii_graphic()) {
        return Err(Status::BAD_REQUEST);
    }
    let target = std::str::from_utf8(target).map_err(|_| Status::BAD_REQUEST)?;
    let target = origin_form(target).ok_or(Status::BAD_REQUEST)?;
    let minor = match version {
        b"HTTP/1.1" => 1,
        b"HTTP/1.0" => 0,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(Status::VERSION_NOT_SUPPORTED);
        }
        _ => return Err(Status::BAD_REQUEST),
    };
    Ok((
        String::from_utf8_lossy(method).into_owned(),
        target.to_owned(),
        minor,
    ))
}

/// The origin form (`/path?query`) of a request target; absolute form is accepted as RFC
/// 9112 asks of servers.
fn origin_form(target: &str) -> Option<&str> {
    if target.starts_with('/') {
        return Some(target);
    }
    let rest = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))?;
    Some(rest.find('/').map_or("/", |i| &rest[i..]))
}

fn header_line(l: &[u8]) -> Option<(String, String)> {
    let colon = l.iter().position(|&b| b == b':')?;
    let (name, value) = (&l[..colon], &l[colon + 1..]);
    // Empty names, whitespace before the colon and obsolete line folding are all refused.
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return None;
    }
    let value = value.trim_ascii();
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return None;
    }
    Some((
        String::from_utf8_lossy(name).into_owned(),
        String::from_utf8_lossy(value).into_owned(),
    ))
}

/// Whether a `Connection` header says `close`, and whether it says `keep-alive`.
fn connection_tokens(v: &str) -> (bool, bool) {
    let mut close = false;
    let mut keep = false;
    for t in v.split(',').map(str::trim) {
        close |= t.eq_ignore_ascii_case("close");
        keep |= t.eq_ignore_ascii_case("keep-alive");
    }
    (close, keep)
}

/// Decodes `%XX` escapes (and `+` as space if `plus`); `None` if an escape is malformed or
/// the result is not UTF-8.
pub(crate) fn percent_decode(s: &str, plus: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                let v = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                out.push(v);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Encodes everything but unreserved characters as `%XX`.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Appends a response head to `out`.
pub(crate) fn head(
    out: &mut Vec<u8>,
    status: Status,
    content_type: &str,
    content_length: usize,
    keep_alive: bool,
    extra: &[(&str, &str)],
) {
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\nServer: hue\r\nContent-Type: {content_type}\r\nContent-Length: {content_length}\r\n",
        status.0,
        status.reason()
    );
    for (n, v) in extra {
        let _ = write!(out, "{n}: {v}\r\n");
    }
    out.extend_from_slice(if keep_alive {
        b"\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    });
}

/// A whole error response: a one-line text body naming the status.
pub(crate) fn error_response(status: Status, extra: &[(&str, &str)]) -> Vec<u8> {
    let body = format!("{} {}\n", status.0, status.reason());
    let mut out = Vec::with_capacity(160 + body.len());
    head(&mut out, status, "text/plain", body.len(), false, extra);
    out.extend_from_slice(body.as_bytes());
    out
}

/// The refusal of a connection over the limit.
pub(crate) const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nServer: hue\r\n\
Content-Type: text/plain\r\nContent-Length: 21\r\nConnection: close\r\nRetry-After: 1\r\n\r\n\
too many connections\n";

/// A response at the front of a client's input.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    /// Head and body.
    pub(crate) len: usize,
    pub(crate) head_len: usize,
}

/// Frames the response at the front of `buf`, for the load generator: `None` until it is all
/// here. Every response of these servers has a `Content-Length`.
pub(crate) fn response(buf: &[u8]) -> Result<Option<Response>> {
    Ok(response_head(buf)?.filter(|r| buf.len() >= r.len))
}

/// Like [`response`], but as soon as the head is here (the body may still be on its way).
pub(crate) fn response_head(buf: &[u8]) -> Result<Option<Response>> {
    let Some(head_len) = head_end(buf) else {
        if buf.len() > 64 * 1024 {
            return Err(Error::protocol("a response head is over 64 KiB"));
        }
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_len])
        .map_err(|_| Error::protocol("a response head is not UTF-8"))?;
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| Error::protocol(format!("bad status line {status_line:?}")))?;
    let length = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .ok_or_else(|| Error::protocol("a response has no Content-Length"))?;
    Ok(Some(Response {
        status,
        len: head_len + length,
        head_len,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str) -> String {
        match parse_request(input.as_bytes(), &Limits::default()) {
            Parse::Done(r, n) => format!(
                "{} {} 1.{} keep={} len={n} headers={}",
                r.method,
                r.target,
                r.minor,
                r.keep_alive,
                r.headers.len()
            ),
            Parse::Partial => "partial".to_owned(),
            Parse::Fail(s) => format!("fail {}", s.0),
        }
    }

    #[test]
    fn requests() {
        let cases = [
            (
                "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
                "GET / 1.1 keep=true len=27 headers=1",
            ),
            (
                "\r\nGET /x?y=1 HTTP/1.1\nHost: a\n\n",
                "GET /x?y=1 1.1 keep=true len=31 headers=1",
            ),
            (
                "GET / HTTP/1.0\r\n\r\n",
                "GET / 1.0 keep=false len=18 headers=0",
            ),
            (
                "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                "GET / 1.0 keep=true len=42 headers=1",
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                "GET / 1.1 keep=false len=46 headers=2",
            ),
            (
                "GET http://h:80/p HTTP/1.1\r\nHost: a\r\n\r\n",
                "GET /p 1.1 keep=true len=39 headers=1",
            ),
            (
                "POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
                "POST /f 1.1 keep=true len=51 headers=2",
            ),
            (
                "POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nab",
                "partial",
            ),
            ("GET / HTTP/1.1\r\nHost: a\r\n", "partial"),
            ("GET / HTTP/1.1\r\n", "partial"),
            ("GARBAGE\r\n\r\n", "fail 400"),
            ("GARBAGE\r\n", "fail 400"),
            ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "fail 400"),
            ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", "fail 505"),
            ("GET / HTTP/1.1\r\n\r\n", "fail 400"),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "fail 400"),
            ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", "fail 400"),
            ("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", "fail 400"),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n",
                "fail 400",
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
                "fail 400",
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                "fail 400",
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                "fail 413",
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
                "fail 501",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(check(input), want, "{input:?}");
        }
    }

    #[test]
    fn oversized_heads() {
        let limits = Limits::default();
        let big = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "v".repeat(limits.max_header_bytes)
        );
        assert_eq!(check(&big), "fail 431");
        // Unterminated and already too long: no need to wait for the end.
        assert_eq!(check(&big[..big.len() - 4]), "fail 431");
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X{i}: v\r\n")).collect();
        assert_eq!(
            check(&format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n")),
            "fail 431"
        );
    }

    #[test]
    fn paths_and_queries() {
        let Parse::Done(r, _) = parse_request(
            b"GET /a%20b/c?x=1&y=%41#frag HTTP/1.1\r\nHost: a\r\n\r\n",
            &Limits::default(),
        ) else {
            panic!("not parsed");
        };
        assert_eq!(r.path().as_deref(), Some("/a b/c"));
        assert_eq!(r.query(), "x=1&y=%41");
        assert_eq!(percent_decode("%4", false), None);
        assert_eq!(percent_decode("a+b%21", true).as_deref(), Some("a b!"));
        assert_eq!(percent_encode("a b&<"), "a%20b%26%3C");
    }

    #[test]
    fn response_framing() {
        let mut out = Vec::new();
        head(&mut out, Status::OK, "text/plain", 5, true, &[]);
        out.extend_from_slice(b"hello");
        let r = response(&out).unwrap().unwrap();
        assert_eq!((r.status, r.len), (200, out.len()));
        assert_eq!(response(&out[..out.len() - 1]).unwrap(), None);
        assert_eq!(response(&out[..10]).unwrap(), None);
        let head = response_head(&out[..out.len() - 1]).unwrap().unwrap();
        assert_eq!((head.len, head.head_len), (out.len(), out.len() - 5));
        assert_eq!(response_head(&out[..10]).unwrap(), None);
        let refusal = response(REFUSAL).unwrap().unwrap();
        assert_eq!((refusal.status, refusal.len), (503, REFUSAL.len()));
    }
}
