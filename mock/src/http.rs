//! Just enough HTTP/1.1 to be a well-behaved origin server: reading one
//! request (head plus a Content-Length or chunked body) from a buffered
//! connection, and writing a response head.
//!
//! Everything here treats the peer as untrusted: sizes are capped, malformed
//! input is an error value (never a panic), and the caller decides what to
//! answer.

use std::io::{self, BufRead, Read, Write};

/// Largest request head (request line plus headers) accepted.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Largest request body accepted, whatever its framing.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Largest chunk-size line in a chunked body (size, extensions, CRLF).
const MAX_CHUNK_LINE_BYTES: usize = 4 * 1024;

/// One parsed request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query exactly as they appeared in the request line.
    pub target: String,
    /// `true` for HTTP/1.1, `false` for HTTP/1.0.
    pub http11: bool,
    /// Headers in the order received, names in their original case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// Every value of a header (case-insensitive name), in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// First value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the connection must close after this request's response.
    pub fn wants_close(&self) -> bool {
        let has_token = |token: &str| {
            self.header_values("connection")
                .flat_map(|v| v.split(','))
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        if self.http11 {
            has_token("close")
        } else {
            !has_token("keep-alive")
        }
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed the connection cleanly between requests.
    Closed,
    /// The socket failed (reset, shut down by the server, ...).
    Io,
    /// The bytes are not a valid HTTP/1.x request.
    Malformed(String),
    /// The request head is over [`MAX_HEAD_BYTES`].
    HeadTooLarge,
    /// The body is over [`MAX_BODY_BYTES`].
    BodyTooLarge,
}

fn malformed(msg: impl Into<String>) -> ReadError {
    ReadError::Malformed(msg.into())
}

/// Reads one request. `interim` is where `100 Continue` is written when the
/// client sent `Expect: 100-continue` (it waits for that before the body).
pub fn read_request(
    reader: &mut impl BufRead,
    interim: &mut impl Write,
) -> Result<Request, ReadError> {
    let mut budget = MAX_HEAD_BYTES;

    // RFC 9112 §2.2: ignore empty lines received before the request line.
    let request_line = loop {
        match read_line(reader, &mut budget)? {
            None => return Err(ReadError::Closed),
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let (method, target, http11) = parse_request_line(&request_line)?;

    let mut headers = Vec::new();
    loop {
        let line = read_line(reader, &mut budget)?
            .ok_or_else(|| malformed("connection closed in headers"))?;
        if line.is_empty() {
            break;
        }
        headers.push(parse_header_line(&line)?);
    }

    let mut request = Request {
        method,
        target,
        http11,
        headers,
        body: Vec::new(),
    };
    let framing = body_framing(&request)?;

    let expects_continue = request
        .header("expect")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"));
    if expects_continue && request.http11 && framing != Framing::Length(0) {
        interim
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .and_then(|()| interim.flush())
            .map_err(|_| ReadError::Io)?;
    }

    request.body = match framing {
        Framing::Length(len) => read_exact_body(reader, len)?,
        Framing::Chunked => read_chunked_body(reader)?,
    };
    Ok(request)
}

#[derive(Debug, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
}

fn body_framing(request: &Request) -> Result<Framing, ReadError> {
    let encodings: Vec<String> = request
        .header_values("transfer-encoding")
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    if request.header("transfer-encoding").is_some() {
        // Only plain chunked is supported; anything else we cannot decode.
        return if encodings == ["chunked"] {
            Ok(Framing::Chunked)
        } else {
            Err(malformed(format!(
                "unsupported transfer-encoding: {}",
                encodings.join(", ")
            )))
        };
    }

    let mut length: Option<usize> = None;
    for value in request
        .header_values("content-length")
        .flat_map(|v| v.split(','))
    {
        let value = value.trim();
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed(format!("bad content-length: {value:?}")));
        }
        // Overlong digit strings are simply too large.
        let parsed: usize = value.parse().map_err(|_| ReadError::BodyTooLarge)?;
        if length.is_some_and(|l| l != parsed) {
            return Err(malformed("conflicting content-length values"));
        }
        length = Some(parsed);
    }
    let length = length.unwrap_or(0);
    if length > MAX_BODY_BYTES {
        return Err(ReadError::BodyTooLarge);
    }
    Ok(Framing::Length(length))
}

fn parse_request_line(line: &[u8]) -> Result<(String, String, bool), ReadError> {
    let text = std::str::from_utf8(line).map_err(|_| malformed("request line is not UTF-8"))?;
    let mut parts = text.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed(
            "request line must be METHOD SP TARGET SP VERSION",
        ));
    };
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return Err(malformed(format!("bad method: {method:?}")));
    }
    if !target.starts_with('/') || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(malformed(format!("bad request target: {target:?}")));
    }
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Err(malformed(format!("unsupported version: {version:?}"))),
    };
    Ok((method.to_string(), target.to_string(), http11))
}

fn parse_header_line(line: &[u8]) -> Result<(String, String), ReadError> {
    if line[0] == b' ' || line[0] == b'\t' {
        return Err(malformed("obsolete header line folding"));
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| malformed("header line without a colon"))?;
    let name = &line[..colon];
    if name.is_empty() || !name.iter().copied().all(is_token_byte) {
        return Err(malformed(format!(
            "bad header name: {:?}",
            String::from_utf8_lossy(name)
        )));
    }
    let value = line[colon + 1..].trim_ascii();
    if value.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
        return Err(malformed("control character in header value"));
    }
    Ok((
        String::from_utf8_lossy(name).into_owned(),
        String::from_utf8_lossy(value).into_owned(),
    ))
}

/// RFC 9110 `tchar`.
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Reads one line ending in LF (CRLF or bare LF), without the terminator.
/// `Ok(None)` means end of input before any byte. Each byte read is charged
/// to `budget`; running out is [`ReadError::HeadTooLarge`].
fn read_line(reader: &mut impl BufRead, budget: &mut usize) -> Result<Option<Vec<u8>>, ReadError> {
    let mut line = Vec::new();
    loop {
        let available = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(ReadError::Io),
        };
        if available.is_empty() {
            return if line.is_empty() {
                Ok(None)
            } else {
                Err(malformed("connection closed mid-line"))
            };
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if take > *budget {
            return Err(ReadError::HeadTooLarge);
        }
        *budget -= take;
        line.extend_from_slice(&available[..take]);
        reader.consume(take);
        if done {
            line.pop(); // the LF
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.contains(&b'\r') {
                return Err(malformed("bare CR in line"));
            }
            return Ok(Some(line));
        }
    }
}

fn read_exact_body(reader: &mut impl BufRead, len: usize) -> Result<Vec<u8>, ReadError> {
    // Grow as bytes arrive rather than trusting the declared length up front.
    let mut body = Vec::with_capacity(len.min(64 * 1024));
    reader
        .take(len as u64)
        .read_to_end(&mut body)
        .map_err(|_| ReadError::Io)?;
    if body.len() != len {
        return Err(malformed("connection closed in body"));
    }
    Ok(body)
}

fn read_chunked_body(reader: &mut impl BufRead) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let mut budget = MAX_CHUNK_LINE_BYTES;
        let line = read_line(reader, &mut budget)
            .map_err(chunk_line_error)?
            .ok_or_else(|| malformed("connection closed in chunked body"))?;
        let size_text = line
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        if size_text.is_empty()
            || size_text.len() > 15
            || !size_text.iter().all(u8::is_ascii_hexdigit)
        {
            return Err(malformed("bad chunk size"));
        }
        // At most 15 hex digits, so this cannot overflow.
        let size = size_text.iter().fold(0usize, |acc, &b| {
            acc * 16 + (b as char).to_digit(16).unwrap_or(0) as usize
        });
        if size == 0 {
            // Trailer fields, up to the empty line; they are read and dropped.
            let mut budget = MAX_HEAD_BYTES;
            loop {
                match read_line(reader, &mut budget)? {
                    None => return Err(malformed("connection closed in chunked trailer")),
                    Some(l) if l.is_empty() => return Ok(body),
                    Some(_) => {}
                }
            }
        }
        if body.len() + size > MAX_BODY_BYTES {
            return Err(ReadError::BodyTooLarge);
        }
        let before = body.len();
        reader
            .take(size as u64)
            .read_to_end(&mut body)
            .map_err(|_| ReadError::Io)?;
        if body.len() - before != size {
            return Err(malformed("connection closed in chunk data"));
        }
        let mut budget = 2;
        match read_line(reader, &mut budget).map_err(chunk_line_error)? {
            Some(l) if l.is_empty() => {}
            _ => return Err(malformed("chunk data not followed by CRLF")),
        }
    }
}

/// A too-long chunk line is a framing error, not an oversized head.
fn chunk_line_error(e: ReadError) -> ReadError {
    match e {
        ReadError::HeadTooLarge => malformed("chunk line too long"),
        other => other,
    }
}

/// The standard reason phrase for the statuses the mock is likely to send.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Mock Status",
    }
}

/// Writes a status line and headers (and the blank line ending the head) in
/// one write, so the head reaches the client as a unit.
pub fn write_head(
    out: &mut impl Write,
    status: u16,
    headers: &[(String, String)],
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
    for (name, value) in headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    out.flush()
}

/// Writes body bytes and flushes; with `byte_per_write`, one byte per
/// `write()` call, to exercise clients' handling of tiny reads.
pub fn write_body(out: &mut impl Write, bytes: &[u8], byte_per_write: bool) -> io::Result<()> {
    if byte_per_write {
        for b in bytes {
            out.write_all(std::slice::from_ref(b))?;
            out.flush()?;
        }
    } else {
        out.write_all(bytes)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8]) -> Result<Request, ReadError> {
        let mut interim = Vec::new();
        read_request(&mut io::BufReader::new(raw), &mut interim)
    }

    #[test]
    fn content_length_body() {
        let r = parse(b"POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc").unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.target, "/a?b=1");
        assert_eq!(r.body, b"abc");
        assert_eq!(r.header("HOST"), Some("x"));
        assert!(!r.wants_close());
    }

    #[test]
    fn chunked_body_with_extension_and_trailer() {
        let r = parse(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, b"abcde");
    }

    #[test]
    fn rejects_garbage() {
        for raw in [
            &b"GARBAGE\r\n\r\n"[..],
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET nopath HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nNo colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort",
        ] {
            assert!(
                matches!(parse(raw), Err(ReadError::Malformed(_))),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn caps_sizes() {
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_HEAD_BYTES));
        big.extend_from_slice(b"\r\n\r\n");
        assert!(matches!(parse(&big), Err(ReadError::HeadTooLarge)));
        let raw = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY_BYTES + 1
        );
        assert!(matches!(
            parse(raw.as_bytes()),
            Err(ReadError::BodyTooLarge)
        ));
    }

    #[test]
    fn clean_eof_is_closed() {
        assert!(matches!(parse(b""), Err(ReadError::Closed)));
        assert!(matches!(parse(b"\r\n"), Err(ReadError::Closed)));
    }

    #[test]
    fn http10_closes_by_default() {
        let r = parse(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(r.wants_close());
        let r = parse(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").unwrap();
        assert!(r.wants_close());
    }

    #[test]
    fn expect_continue_writes_interim() {
        let mut interim = Vec::new();
        let raw = b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi";
        let r = read_request(&mut io::BufReader::new(&raw[..]), &mut interim).unwrap();
        assert_eq!(r.body, b"hi");
        assert_eq!(interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    }
}
