//! A hostile upstream for the fault-injection tests: a std-only HTTP/1.1
//! server on 127.0.0.1 whose every connection runs a script (one
//! misbehaviour each: resets, lies, floods, stalls). It also counts
//! connections, so a test can show that a refused request reached nobody.

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What a script is given: the connection's index (0 for the first) and
/// the connection itself.
pub type Script = dyn Fn(usize, &mut Conn) + Send + Sync;

/// One accepted connection, with what has been read from it so far.
pub struct Conn {
    pub stream: TcpStream,
    pending: Vec<u8>,
    /// Heads of every request read on this connection, in order.
    pub heads: Arc<Mutex<Vec<String>>>,
}

impl Conn {
    /// Reads one request (head and `Content-Length` body); returns its head,
    /// or `None` when the client closed first.
    pub fn read_request(&mut self) -> Option<String> {
        let mut buf = [0u8; 16 * 1024];
        let end = loop {
            if let Some(i) = find(&self.pending, b"\r\n\r\n") {
                break i + 4;
            }
            let n = self.stream.read(&mut buf).ok()?;
            if n == 0 {
                return None;
            }
            self.pending.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&self.pending[..end]).into_owned();
        let length = head
            .lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        while self.pending.len() < end + length {
            let n = self.stream.read(&mut buf).ok()?;
            if n == 0 {
                return None;
            }
            self.pending.extend_from_slice(&buf[..n]);
        }
        self.pending.drain(..end + length);
        self.heads.lock().unwrap().push(head.clone());
        Some(head)
    }

    /// Writes all of `bytes`; errors (the client gave up) are ignored.
    pub fn write(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok() && self.stream.flush().is_ok()
    }

    /// Makes the close at the end of the script a TCP reset instead of a
    /// clean FIN (the script should return right after).
    pub fn reset_on_close(&mut self) {
        let _ = socket_linger_zero(&self.stream);
    }

    /// Waits (up to `limit`) for the client to close, reading and dropping
    /// what it sends, so the last bytes written are not lost to a reset.
    pub fn drain(&mut self, limit: Duration) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let _ = self.stream.set_read_timeout(Some(limit));
        let mut buf = [0u8; 4096];
        while matches!(self.stream.read(&mut buf), Ok(n) if n > 0) {}
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `SO_LINGER` 0: closing sends RST. std has no setter for it.
fn socket_linger_zero(stream: &TcpStream) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a live socket and a properly sized option value.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The server; stops when dropped.
pub struct Hostile {
    port: u16,
    stop: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
    accept: Option<JoinHandle<()>>,
}

impl Hostile {
    /// Starts a server running `script` on every connection, each on its own
    /// thread.
    pub fn start(script: impl Fn(usize, &mut Conn) + Send + Sync + 'static) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let accept = {
            let (stop, connections, heads) = (stop.clone(), connections.clone(), heads.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let index = connections.fetch_add(1, Ordering::SeqCst);
                    let (script, heads) = (script.clone(), heads.clone());
                    std::thread::spawn(move || {
                        let _ = stream.set_nodelay(true);
                        let mut conn = Conn {
                            stream,
                            pending: Vec::new(),
                            heads,
                        };
                        script(index, &mut conn);
                    });
                }
            })
        };
        Hostile {
            port,
            stop,
            connections,
            heads,
            accept: Some(accept),
        }
    }

    /// A server that answers every request on a connection with `response`
    /// (raw bytes, head included), keeping the connection open.
    pub fn answering(response: Vec<u8>) -> Hostile {
        Hostile::start(move |_, conn| {
            while conn.read_request().is_some() {
                if !conn.write(&response) {
                    return;
                }
            }
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Heads of every request read so far, on any connection.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// A complete response with a `Content-Length` body.
pub fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// The head of a chunked `text/event-stream` 200 response.
pub const SSE_HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

/// `bytes` as one HTTP chunk.
pub fn chunk(bytes: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
    out
}

/// The last chunk of a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// A server answering each request with a chunked SSE stream made of
/// `events` (each its own chunk), then the last chunk.
pub fn sse_server(events: Vec<String>) -> Hostile {
    Hostile::start(move |_, conn| {
        while conn.read_request().is_some() {
            let mut ok = conn.write(SSE_HEAD);
            for e in &events {
                ok = ok && conn.write(&chunk(e.as_bytes()));
            }
            if !(ok && conn.write(LAST_CHUNK)) {
                return;
            }
        }
    })
}
