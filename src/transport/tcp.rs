//! A TCP connector and transport for ureq whose blocking calls wake up every
//! [`POLL_SLICE`](super::io_scope::POLL_SLICE) to check the running send's
//! cancel flag and deadlines (see `io_scope`).
//!
//! Why this is correct: every blocking point of an attempt is a `poll`
//! (connect) or a socket read/write with a timeout no longer than one slice,
//! and each wake-up re-reads the flag. So a trigger is seen within one slice
//! plus the time to unwind, however silent the peer is. TLS rides on this
//! transport (ureq's rustls connector wraps it), so it inherits the same
//! wake-ups. DNS resolution is the one step not covered: it is a blocking
//! `getaddrinfo` that cannot be interrupted.

use std::fmt;
use std::io::{self, Read, Write};
use std::mem;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, ShutdownHandle,
    Transport,
};

use super::io_scope::{self, Fired};

/// Opens plain TCP connections (the first link of the connector chain).
#[derive(Debug, Default)]
pub struct CancellableTcpConnector;

impl<In: Transport> Connector<In> for CancellableTcpConnector {
    type Out = Either<In, CancellableTcp>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        // A CONNECT proxy link earlier in the chain already made the socket.
        if let Some(transport) = chained {
            return Ok(Some(Either::A(transport)));
        }
        let started = Instant::now();
        let ureq_deadline = ureq_deadline(details.timeout, started);
        let mut last_error = None;
        let mut stream = None;
        for addr in details.addrs.iter() {
            match connect_one(*addr, started, ureq_deadline) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) if is_fired(&e) => return Err(e.into()),
                Err(e) => last_error = Some(e),
            }
        }
        let stream = match stream {
            Some(s) => s,
            None => {
                return Err(last_error
                    .unwrap_or_else(|| {
                        io::Error::new(io::ErrorKind::ConnectionRefused, "no address to connect to")
                    })
                    .into());
            }
        };
        if details.config.no_delay() {
            stream.set_nodelay(true)?;
        }
        let transport = CancellableTcp {
            stream: Arc::new(stream),
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            read_timeout: None,
            write_timeout: None,
            pending: Vec::new(),
            read_since_probe: false,
        };
        // Lets `Agent::shutdown` interrupt this socket like ureq's own.
        (details.register_shutdown)(Arc::downgrade(&transport.stream) as Weak<dyn ShutdownHandle>)?;
        Ok(Some(Either::B(transport)))
    }
}

/// The error our limits produce. The send looks at its `IoState` to learn
/// which limit fired; the message is only for ureq's own logging. Not
/// `ErrorKind::Interrupted`: readers (std's and ureq's) retry on that, which
/// would restart the wait instead of ending it.
fn fired_error(fired: Fired) -> io::Error {
    io::Error::other(FiredMarker(fired))
}

#[derive(Debug)]
struct FiredMarker(Fired);

impl fmt::Display for FiredMarker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "aigw: stopped by {:?}", self.0)
    }
}

impl std::error::Error for FiredMarker {}

fn is_fired(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<FiredMarker>())
}

fn ureq_deadline(timeout: NextTimeout, started: Instant) -> Option<Instant> {
    timeout.not_zero().map(|d| started + *d)
}

/// How long the next blocking call may last: one slice, cut short by the
/// send's limits and by ureq's own deadline (unset in aigw, but honoured).
fn next_wait(
    started: Instant,
    ureq_deadline: Option<Instant>,
    for_read: bool,
) -> io::Result<Duration> {
    let mut wait = match io_scope::current() {
        Some(state) => state.next_slice(started, for_read).map_err(fired_error)?,
        None => io_scope::POLL_SLICE,
    };
    if let Some(deadline) = ureq_deadline {
        let now = Instant::now();
        if now >= deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
        }
        wait = wait.min(deadline - now);
    }
    Ok(wait.max(Duration::from_millis(1)))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A non-blocking connect, polled in slices so that cancel and deadlines
/// interrupt it. std's `connect_timeout` cannot be interrupted.
fn connect_one(
    addr: SocketAddr,
    started: Instant,
    ureq_deadline: Option<Instant>,
) -> io::Result<TcpStream> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2); the fd is owned right away so every exit closes it.
    let fd = unsafe { OwnedFd::from_raw_fd(check(libc::socket(family, libc::SOCK_STREAM, 0))?) };
    let raw = fd.as_raw_fd();
    // SAFETY: fcntl/setsockopt on an fd we own, with valid arguments.
    unsafe {
        check(libc::fcntl(raw, libc::F_SETFD, libc::FD_CLOEXEC))?;
        let flags = check(libc::fcntl(raw, libc::F_GETFL))?;
        check(libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK))?;
        // Linux sends with MSG_NOSIGNAL (std does); Apple systems need the
        // socket option, or a write to a closed peer kills the host process.
        #[cfg(any(
            target_os = "macos",
            target_os = "ios",
            target_os = "tvos",
            target_os = "watchos"
        ))]
        {
            let one: libc::c_int = 1;
            check(libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_NOSIGPIPE,
                &one as *const _ as *const libc::c_void,
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            ))?;
        }
    }

    let (storage, len) = socket_addr_to_c(addr);
    // SAFETY: storage holds a sockaddr of `len` bytes for this family.
    let ret = unsafe { libc::connect(raw, &storage as *const _ as *const libc::sockaddr, len) };
    if ret != 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINPROGRESS) && err.kind() != io::ErrorKind::Interrupted
        {
            return Err(err);
        }
        loop {
            let wait = next_wait(started, ureq_deadline, false)?;
            let mut pfd = libc::pollfd {
                fd: raw,
                events: libc::POLLOUT,
                revents: 0,
            };
            let ms = wait.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, ms) };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            if n > 0 {
                break;
            }
        }
        let mut so_error: libc::c_int = 0;
        let mut so_len = mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt into a c_int of the right size.
        check(unsafe {
            libc::getsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                &mut so_error as *mut _ as *mut libc::c_void,
                &mut so_len,
            )
        })?;
        if so_error != 0 {
            return Err(io::Error::from_raw_os_error(so_error));
        }
    }
    let stream = TcpStream::from(fd);
    stream.set_nonblocking(false)?;
    Ok(stream)
}

fn socket_addr_to_c(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from_ne_bytes(a.ip().octets()),
            };
            mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// A TCP connection whose reads and writes block for at most one slice at a
/// time, re-checking the send's limits between slices.
pub struct CancellableTcp {
    stream: Arc<TcpStream>,
    buffers: LazyBuffers,
    // The timeouts last set on the socket, to skip redundant setsockopt calls.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// Output not yet sent (see `transmit_output`).
    pending: Vec<u8>,
    /// Input arrived since the last `is_open` (see there).
    read_since_probe: bool,
}

impl fmt::Debug for CancellableTcp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancellableTcp")
            .field("peer", &self.stream.peer_addr().ok())
            .finish()
    }
}

fn is_wait_over(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

impl Transport for CancellableTcp {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        // ureq hands over the request head and then the body. Sent as they
        // come, they leave in two segments and wake the server twice; held
        // until ureq waits for the answer (or until enough piles up), they
        // leave in one.
        self.pending
            .extend_from_slice(&self.buffers.output()[..amount]);
        if self.pending.len() >= FLUSH_AT {
            self.flush(timeout)?;
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        if !self.pending.is_empty() {
            self.flush(timeout)?;
        }
        let started = Instant::now();
        let ureq_deadline = ureq_deadline(timeout.for_read(), started);
        loop {
            let wait = next_wait(started, ureq_deadline, true)?;
            if self.read_timeout != Some(wait) {
                self.stream.set_read_timeout(Some(wait))?;
                self.read_timeout = Some(wait);
            }
            let input = self.buffers.input_append_buf();
            match (&*self.stream).read(input) {
                Ok(n) => {
                    self.buffers.input_appended(n);
                    self.read_since_probe = true;
                    return Ok(n > 0);
                }
                Err(e) if is_wait_over(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn is_open(&mut self) -> bool {
        // ureq asks twice per reuse: when a finished exchange hands the
        // connection back to the pool, and when the next request takes it
        // out. Only the second answer decides anything (whatever the first
        // probe would have seen, bytes after the body or the peer's close,
        // is still there for the second), so the first one, right after the
        // exchange read its answer, is not a syscall.
        if mem::take(&mut self.read_since_probe) {
            return true;
        }
        // A pooled connection is reusable only if the peer has neither closed
        // it nor sent anything unasked: a non-blocking peek must find nothing
        // to read yet. One recv(2), without toggling the socket's mode.
        let mut byte = 0u8;
        // SAFETY: a one-byte buffer we own, on a socket we own.
        let n = unsafe {
            libc::recv(
                self.stream.as_raw_fd(),
                (&mut byte as *mut u8).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
    }
}

/// Bytes held before sending without waiting for ureq to finish writing.
const FLUSH_AT: usize = 64 * 1024;

impl CancellableTcp {
    /// Sends what `transmit_output` held back.
    fn flush(&mut self, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let started = Instant::now();
        let ureq_deadline = ureq_deadline(timeout.for_write(), started);
        let mut written = 0;
        while written < self.pending.len() {
            let wait = next_wait(started, ureq_deadline, false)?;
            if self.write_timeout != Some(wait) {
                self.stream.set_write_timeout(Some(wait))?;
                self.write_timeout = Some(wait);
            }
            match (&*self.stream).write(&self.pending[written..]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                Ok(n) => written += n,
                Err(e) if is_wait_over(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        self.pending.clear();
        Ok(())
    }
}
