//! A deliberately small HTTP/1.1 client over std's TcpStream, so the tests
//! see exactly what went over the wire.

#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use aigw_mock::MockServer;

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// For chunked bodies: whether the terminating zero-length chunk came.
    pub complete: bool,
    /// Chunk payloads in arrival order (chunked bodies only).
    pub chunks: Vec<Vec<u8>>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One connection, buffered for reading; writes go straight to the socket.
pub struct Conn {
    pub reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn open(mock: &MockServer) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", mock.port())).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Conn {
            reader: BufReader::new(stream),
        }
    }

    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    pub fn send_raw(&mut self, raw: &[u8]) {
        self.reader.get_mut().write_all(raw).expect("write request");
    }

    /// Sends a request with a Content-Length body (if any).
    pub fn send(&mut self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut raw = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (n, v) in headers {
            raw.push_str(&format!("{n}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            raw.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        raw.push_str("\r\n");
        let mut bytes = raw.into_bytes();
        bytes.extend_from_slice(body);
        self.send_raw(&bytes);
    }

    pub fn read(&mut self) -> io::Result<Response> {
        read_response(&mut self.reader)
    }

    /// True when the server closed the connection without sending anything.
    pub fn closed_silently(&mut self) -> bool {
        let mut buf = Vec::new();
        match self.reader.read_to_end(&mut buf) {
            Ok(_) => buf.is_empty(),
            // A reset also counts; a timeout means the server is still there.
            Err(e) => {
                buf.is_empty()
                    && !matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    )
            }
        }
    }
}

/// One request on a fresh connection.
pub fn request(
    mock: &MockServer,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut conn = Conn::open(mock);
    conn.send(method, target, headers, body);
    conn.read().expect("response")
}

pub fn post_json(
    mock: &MockServer,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let mut h = vec![("Content-Type", "application/json")];
    h.extend_from_slice(headers);
    request(mock, "POST", target, &h, body.as_bytes())
}

fn read_line(r: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "eof"));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub fn read_response(r: &mut impl BufRead) -> io::Result<Response> {
    let status_line = read_line(r)?;
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?;
        if line.is_empty() {
            break;
        }
        let (n, v) = line.split_once(':').expect("header colon");
        headers.push((n.to_string(), v.trim().to_string()));
    }
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
        complete: true,
        chunks: Vec::new(),
    };
    if resp.status == 100 {
        return read_response(r);
    }
    if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        resp.complete = false;
        while let Ok(size_line) = read_line(r) {
            let size = usize::from_str_radix(&size_line, 16).expect("chunk size");
            if size == 0 {
                let _ = read_line(r);
                resp.complete = true;
                break;
            }
            let mut chunk = vec![0; size];
            if r.read_exact(&mut chunk).is_err() {
                break;
            }
            let _ = read_line(r);
            resp.body.extend_from_slice(&chunk);
            resp.chunks.push(chunk);
        }
    } else if let Some(len) = resp.header("content-length") {
        let len: usize = len.parse().expect("content-length");
        resp.body = vec![0; len];
        r.read_exact(&mut resp.body)?;
    }
    Ok(resp)
}

/// The `data:` payloads of an SSE body.
pub fn sse_data(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .lines()
        .filter_map(|l| l.strip_prefix("data: ").map(str::to_string))
        .collect()
}
