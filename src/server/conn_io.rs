//! One client connection's socket with the server's two clocks on it: a
//! keep-alive connection with no request in flight may sit idle for
//! `idle_timeout`, and a request head, once its first byte has arrived,
//! must be complete within `header_timeout`. Either running out ends the
//! connection (hyper sees a read error and closes it).

use std::io;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// What the request handler tells the socket: whether a request is in
/// flight (so silence is the server's, not the client's), and since when
/// the connection has been idle.
#[derive(Debug)]
pub struct ConnState {
    in_flight: AtomicBool,
    idle_since: Mutex<Instant>,
}

impl ConnState {
    pub fn new() -> ConnState {
        ConnState {
            in_flight: AtomicBool::new(false),
            idle_since: Mutex::new(Instant::now()),
        }
    }

    /// A request head has been read: the clocks stop until it is answered.
    pub fn begin(&self) {
        self.in_flight.store(true, Ordering::Release);
    }

    /// The answer is written (or abandoned): the idle clock starts.
    pub fn end(&self) {
        *self.idle_since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.in_flight.store(false, Ordering::Release);
    }

    fn idle_since(&self) -> Instant {
        *self.idle_since.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct TimedStream {
    inner: TcpStream,
    state: std::sync::Arc<ConnState>,
    idle_timeout: Duration,
    header_timeout: Duration,
    /// When the first byte of the current head arrived.
    head_started: Option<Instant>,
    /// Whether the last read saw a request in flight.
    was_in_flight: bool,
    timer: Pin<Box<Sleep>>,
}

impl TimedStream {
    pub fn new(
        inner: TcpStream,
        state: std::sync::Arc<ConnState>,
        idle_timeout: Duration,
        header_timeout: Duration,
    ) -> TimedStream {
        TimedStream {
            inner,
            state,
            idle_timeout,
            header_timeout,
            head_started: None,
            was_in_flight: false,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }
}

impl AsyncRead for TimedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let in_flight = this.state.in_flight.load(Ordering::Acquire);
        if in_flight {
            // Bytes read now belong to this request (its body) or are
            // pipelined; the next head's clock starts when it is answered.
            this.was_in_flight = true;
            this.head_started = None;
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        if this.was_in_flight {
            this.was_in_flight = false;
            this.head_started = None;
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            if buf.filled().len() > before && this.head_started.is_none() {
                this.head_started = Some(Instant::now());
            }
            return polled;
        }
        if polled.is_ready() {
            return polled;
        }
        let (deadline, what) = match this.head_started {
            Some(t) => (t + this.header_timeout, "the request head took too long"),
            None => (
                this.state.idle_since() + this.idle_timeout,
                "the connection was idle too long",
            ),
        };
        if this.timer.deadline() != deadline {
            this.timer.as_mut().reset(deadline);
        }
        match this.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for TimedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
