//! One client connection served on one thread: the thread polls the hyper
//! connection on a current-thread runtime of its own and, when a request is
//! ready, runs the blocking gateway call itself, outside the poll. A whole
//! answer then goes out from the same thread with no hand-off at all, as
//! soon as its body is complete: the call's log record, metrics, cost and
//! budget charge follow it, as they follow a stream's last bytes, and the
//! connection's next request waits for them.
//!
//! A streamed answer needs the client side written while the gateway call
//! blocks: at its first bytes the connection (runtime and all) moves to
//! another worker, which writes the chunks the gateway thread sends through
//! a channel and goes on serving the connection's next requests. The
//! gateway thread finishes the stream and returns to the pool. The head and
//! first bytes go out from the gateway thread before the move, so the
//! time to the first byte has no thread hand-off in it.

use std::future::Future;
use std::os::fd::AsRawFd;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;

use bytes::Bytes;
use tokio::runtime::Runtime;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use crate::call::request::Request;
use crate::call::response::Response;
use crate::call::stream::StreamSink;
use crate::error::{Error, ErrorKind, Result};
use crate::http::sse::SseEvent;

use super::body::Msg;
use super::calls::{Detached, Watch};
use super::{Head, Phase, Shared};

/// Chunks in flight between a gateway thread and its connection; a slow
/// client holds the gateway back after this many (backpressure, not memory).
const CHANNEL_DEPTH: usize = 16;

/// Largest body with a `content-length` held back to go out with its head
/// in one write (and without a hand-off: see the module comment).
const HOLD_MAX: usize = 1 << 20;

/// Idle runtimes kept for the next connections (each is an epoll instance
/// and a timer wheel; building one costs tens of microseconds).
const SPARE_RUNTIMES: usize = 128;

/// Events one runtime takes per turn: a runtime serves one connection.
const EVENTS_PER_TICK: usize = 32;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the gateway call produced, for the request handler to answer with.
pub enum Answer {
    /// A head and its complete body.
    Whole(Head, Bytes),
    /// A head whose body follows through the channel (`Data`, then `Done`
    /// or `Failed`).
    Stream(Head, mpsc::Receiver<Msg>),
    /// Nothing was delivered.
    Failed(Error),
}

/// Between a connection's request handler (inside the hyper poll) and the
/// thread's loop (outside it): the request to send, then its answer.
#[derive(Default)]
pub struct Slot {
    state: Mutex<(Option<Request>, Option<Answer>)>,
}

impl Slot {
    /// Hands a request to the connection's thread. The handler then waits on
    /// [`Slot::poll_answer`]; the thread polls the connection again once
    /// the answer is in, so no waker is needed.
    pub fn ask(&self, request: Request) {
        lock(&self.state).0 = Some(request);
    }

    pub fn poll_answer(&self) -> Poll<Answer> {
        match lock(&self.state).1.take() {
            Some(a) => Poll::Ready(a),
            None => Poll::Pending,
        }
    }

    fn take_request(&self) -> Option<Request> {
        lock(&self.state).0.take()
    }

    fn answer(&self, answer: Answer) {
        lock(&self.state).1 = Some(answer);
    }
}

/// Spare runtimes, shared by the server's connections.
#[derive(Default)]
pub struct Runtimes {
    spare: Mutex<Vec<Runtime>>,
}

impl Runtimes {
    fn take(&self) -> std::io::Result<Runtime> {
        if let Some(rt) = lock(&self.spare).pop() {
            return Ok(rt);
        }
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .max_io_events_per_tick(EVENTS_PER_TICK)
            .build()
    }

    fn give_back(&self, rt: Runtime) {
        let mut spare = lock(&self.spare);
        if spare.len() < SPARE_RUNTIMES {
            spare.push(rt);
            return;
        }
        drop(spare);
        drop(rt);
    }

    /// Drops the spare runtimes; called outside any runtime (dropping one
    /// inside another runtime's context panics).
    pub fn clear(&self) {
        let spare = std::mem::take(&mut *lock(&self.spare));
        drop(spare);
    }
}

type ConnFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A connection and what it runs on; moves between threads as a whole.
/// Field order is drop order: the hang-up watch before the socket (owned
/// by `future`) closes, the connection before its runtime.
struct Conn {
    /// The client socket, watched for hang-ups while a call runs (hyper
    /// does not read a client mid-message here: see `half_close`).
    watch: Watch,
    future: ConnFuture,
    runtime: Option<Runtime>,
    /// `future` completed in [`Conn::poll_now`] and must not be polled
    /// again.
    ended: bool,
    /// [`Conn::poll_now`] wrote a whole answer and `future` has waited on
    /// nothing new since: see `drive`.
    answered_now: bool,
    slot: Arc<Slot>,
    _permit: OwnedSemaphorePermit,
}

impl Conn {
    /// Polls the connection once without waiting, so that an answer just
    /// put in the slot starts going out now; the rest waits for the next
    /// poll. Returns whether the connection is still going.
    fn poll_now(&mut self) -> bool {
        let (Some(runtime), false) = (self.runtime.as_ref(), self.ended) else {
            return !self.ended;
        };
        let future = &mut self.future;
        self.ended = runtime.block_on(std::future::poll_fn(|cx| {
            Poll::Ready(future.as_mut().poll(cx).is_ready())
        }));
        !self.ended
    }
}

/// Serves one accepted connection on the calling (worker) thread.
pub fn serve(tcp: std::net::TcpStream, shared: Arc<Shared>, permit: OwnedSemaphorePermit) {
    let Ok(runtime) = shared.runtimes.take() else {
        return;
    };
    let slot = Arc::new(Slot::default());
    let fd = tcp.as_raw_fd();
    let future: ConnFuture = {
        let _inside = runtime.enter();
        let Ok(tcp) = tokio::net::TcpStream::from_std(tcp) else {
            return;
        };
        let phase = shared.phase.subscribe();
        Box::pin(super::serve_connection(
            tcp,
            Arc::clone(&shared),
            phase,
            Arc::clone(&slot),
        ))
    };
    drive(
        Conn {
            watch: shared.calls.watch(fd),
            future,
            runtime: Some(runtime),
            ended: false,
            answered_now: false,
            slot,
            _permit: permit,
        },
        &shared,
    );
}

/// Polls the connection and runs its requests until it ends or moves to
/// another thread.
fn drive(mut conn: Conn, shared: &Arc<Shared>) {
    loop {
        let Some(runtime) = conn.runtime.as_ref() else {
            return;
        };
        if conn.ended {
            break;
        }
        let (future, slot) = (&mut conn.future, &conn.slot);
        // After a whole answer went out from `poll_now`, the connection
        // waits on its socket, its timers and the server's phase, and the
        // first two wake it only from inside this `block_on`: polling it
        // at once again would do nothing but cost a poll per request. A
        // phase change is the one wake that can come from elsewhere, so
        // the skip is decided inside the poll, where a later change still
        // wakes it.
        let mut skip = std::mem::take(&mut conn.answered_now);
        let request = runtime.block_on(std::future::poll_fn(|cx| {
            let skipped = std::mem::take(&mut skip) && *shared.phase.borrow() == Phase::Running;
            if !skipped && future.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            match slot.take_request() {
                Some(r) => Poll::Ready(Some(r)),
                None => Poll::Pending,
            }
        }));
        let Some(request) = request else { break };
        let mut here = Some(conn);
        call(&request, &mut here, shared);
        match here {
            Some(c) => conn = c,
            // Moved to another thread with a stream.
            None => return,
        }
    }
    let Conn {
        watch,
        future,
        runtime,
        ..
    } = conn;
    drop(watch);
    drop(future);
    if let Some(rt) = runtime {
        shared.runtimes.give_back(rt);
    }
}

/// Runs one gateway call on this thread and leaves its answer in the slot.
fn call(request: &Request, here: &mut Option<Conn>, shared: &Arc<Shared>) {
    let slot = match here {
        Some(c) => {
            if let Some(token) = &request.cancel {
                c.watch.start(token.clone());
            }
            Arc::clone(&c.slot)
        }
        None => return,
    };
    let mut sink = ConnSink {
        here,
        shared,
        slot: &slot,
        held: None,
        stream_head: None,
        tx: None,
        detached: None,
        answered: false,
    };
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        shared.gateway.send_stream(request, &mut sink)
    }))
    .unwrap_or_else(|_| {
        Err(Error::new(
            ErrorKind::Aborted,
            "the gateway call panicked (a bug: please report it)",
        ))
    });
    sink.finish(result.map(|_| ()));
    if let Some(c) = sink.here.as_mut() {
        c.watch.end();
    }
}

/// A head held back until its announced body is complete.
struct Held {
    head: Head,
    want: usize,
    body: Vec<u8>,
}

/// Receives the gateway's response on the connection's thread.
///
/// A response that announces its length (up to `HOLD_MAX`, not an event
/// stream) is held until its body is complete and answered as
/// `Answer::Whole`: one write, `content-length`, no other thread involved.
///
/// Anything else is a stream: at its first bytes (so that the head goes out
/// with them in one write) the connection moves to another worker and the
/// chunks follow through a channel. A closed channel means the client is
/// gone: returning `false` stops the upstream transfer.
struct ConnSink<'a> {
    here: &'a mut Option<Conn>,
    shared: &'a Arc<Shared>,
    slot: &'a Slot,
    held: Option<Held>,
    stream_head: Option<Head>,
    tx: Option<mpsc::Sender<Msg>>,
    /// The call, once its connection moved to another thread.
    detached: Option<Detached>,
    /// An answer went to the slot (it may be out already).
    answered: bool,
}

impl ConnSink<'_> {
    /// Answers with the held response if its body is complete.
    fn answer_if_complete(&mut self) -> bool {
        if self.held.as_ref().is_none_or(|h| h.body.len() < h.want) {
            return false;
        }
        let Some(held) = self.held.take() else {
            return false;
        };
        self.slot
            .answer(Answer::Whole(held.head, Bytes::from(held.body)));
        self.answered = true;
        // Out now, from this thread: the rest of the call (its log record,
        // metrics, cost) need not hold the client back.
        if let Some(conn) = self.here.as_mut() {
            conn.answered_now = conn.poll_now();
        }
        true
    }

    /// Answers with `head` and a channel for the body (`first` queued on
    /// it); with `more` set, the gateway call goes on, so the connection
    /// moves to a thread of its own to write the chunks as they come.
    fn start_stream(&mut self, head: Head, first: Vec<u8>, more: bool) -> bool {
        let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
        if !first.is_empty() {
            let _ = tx.try_send(Msg::Data(Bytes::from(first)));
        }
        self.slot.answer(Answer::Stream(head, rx));
        self.answered = true;
        self.tx = Some(tx);
        if !more {
            return true;
        }
        // The head and the first bytes are written from here: waking another
        // thread to do it would put a hand-off before the first byte.
        if !self.here.as_mut().is_some_and(Conn::poll_now) {
            // The client is gone (the write failed and the connection
            // ended): stop the upstream transfer.
            return false;
        }
        // From now on the connection's new thread writes to the client (and
        // may close the socket before this call ends); the hang-up watch
        // still covers this call.
        let Some(mut conn) = self.here.take() else {
            return false;
        };
        self.detached = Some(conn.watch.detach());
        let shared = Arc::clone(self.shared);
        let moved = self
            .shared
            .workers
            .run(Box::new(move || drive(conn, &shared)));
        // Without a thread to write it, the stream cannot go on; the
        // connection (inside the failed job) is closed.
        moved.is_ok()
    }

    /// After the gateway call: whatever is not answered yet is answered
    /// now, and a stream gets its end.
    fn finish(&mut self, result: Result<()>) {
        if let Some(head) = self.stream_head.take() {
            self.start_stream(head, Vec::new(), false);
        }
        if let Some(held) = self.held.take() {
            // The transfer stopped short of the announced length.
            self.start_stream(held.head, held.body, false);
        }
        let Some(tx) = self.tx.take() else {
            if self.here.is_some() && !self.answered {
                let e = result.err().unwrap_or_else(|| {
                    Error::new(ErrorKind::Aborted, "the gateway gave no answer")
                });
                self.slot.answer(Answer::Failed(e));
            }
            return;
        };
        let last = match result {
            Ok(()) => Msg::Done,
            Err(e) => Msg::Failed(e),
        };
        if self.here.is_some() {
            // Nothing is reading yet (the connection is this thread's): the
            // channel has room for what a finished call queued.
            let _ = tx.try_send(last);
        } else {
            let _ = tx.blocking_send(last);
        }
    }

    fn send(&mut self, msg: Msg) -> bool {
        let Some(tx) = &self.tx else {
            return false;
        };
        if self.here.is_some() {
            return tx.try_send(msg).is_ok();
        }
        tx.blocking_send(msg).is_ok()
    }
}

impl StreamSink for ConnSink<'_> {
    fn on_response(&mut self, head: &Response) -> bool {
        let want = head
            .header("content-length")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n <= HOLD_MAX && !crate::call::stream::is_event_stream(head));
        match want {
            Some(want) => {
                self.held = Some(Held {
                    head: Head::of(head),
                    want,
                    body: Vec::with_capacity(want),
                });
                // An empty body is complete at once.
                self.answer_if_complete();
            }
            None => self.stream_head = Some(Head::of(head)),
        }
        true
    }

    fn on_data(&mut self, data: &[u8]) -> bool {
        if let Some(held) = &mut self.held {
            if held.body.len() + data.len() <= held.want {
                held.body.extend_from_slice(data);
                self.answer_if_complete();
                // Once answered, the exchange still finishes upstream (and
                // keeps its connection).
                return true;
            }
            // More than announced: stream what is held and the rest.
            let held = self.held.take().expect("checked above");
            let mut first = held.body;
            first.extend_from_slice(data);
            return self.start_stream(held.head, first, true);
        }
        if let Some(head) = self.stream_head.take() {
            return self.start_stream(head, data.to_vec(), true);
        }
        self.send(Msg::Data(Bytes::copy_from_slice(data)))
    }

    fn on_event(&mut self, _event: &SseEvent<'_>) -> bool {
        // The raw bytes already went out through on_data.
        true
    }
}
