//! Response bodies: a whole body the server made, or the chunks a gateway
//! worker sends as they arrive from upstream.
//!
//! Whatever the body, dropping it means the answer is over: written, or
//! abandoned because the client left. Then the connection's idle clock
//! starts, and a streaming request still running upstream is cancelled.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use crate::call::cancel::CancelToken;
use crate::error::Error;
use crate::server::conn_io::ConnState;

/// What a gateway thread sends to the connection after the head of a
/// streamed answer, in order: `Data`, then `Done` or `Failed`.
pub enum Msg {
    Data(Bytes),
    Done,
    Failed(Error),
}

/// Ends the answer when dropped: the idle clock starts and the request's
/// cancel token fires (a no-op once the worker has finished).
pub struct AnswerGuard {
    pub conn: Arc<ConnState>,
    pub cancel: Option<CancelToken>,
}

impl Drop for AnswerGuard {
    fn drop(&mut self) {
        if let Some(cancel) = &self.cancel {
            cancel.trigger();
        }
        self.conn.end();
    }
}

pub enum Source {
    Whole(Option<Bytes>),
    Channel(mpsc::Receiver<Msg>),
}

pub struct ServerBody {
    source: Source,
    /// A message taken off the channel while merging data, handled next.
    next: Option<Msg>,
    _guard: AnswerGuard,
}

impl ServerBody {
    pub fn whole(bytes: Vec<u8>, guard: AnswerGuard) -> ServerBody {
        ServerBody::bytes(Bytes::from(bytes), guard)
    }

    pub fn bytes(bytes: Bytes, guard: AnswerGuard) -> ServerBody {
        ServerBody {
            source: Source::Whole(Some(bytes)),
            next: None,
            _guard: guard,
        }
    }

    pub fn channel(rx: mpsc::Receiver<Msg>, guard: AnswerGuard) -> ServerBody {
        ServerBody {
            source: Source::Channel(rx),
            next: None,
            _guard: guard,
        }
    }
}

/// Chunks the worker queued while the connection was busy go out with
/// `first` as one frame (one chunk, one write), up to `COALESCE_MAX`; the
/// next message that is not data stays queued for the next poll.
const COALESCE_MAX: usize = 256 * 1024;

fn more_queued(rx: &mut mpsc::Receiver<Msg>, first: Bytes, next: &mut Option<Msg>) -> Bytes {
    let mut joined: Option<Vec<u8>> = None;
    while joined.as_ref().map_or(first.len(), Vec::len) < COALESCE_MAX {
        match rx.try_recv() {
            Ok(Msg::Data(b)) => joined
                .get_or_insert_with(|| first.to_vec())
                .extend_from_slice(&b),
            Ok(other) => {
                *next = Some(other);
                break;
            }
            Err(_) => break,
        }
    }
    joined.map_or(first, Bytes::from)
}

/// Why a streamed body stopped early; hyper then closes the connection
/// without ending the chunked body, so the client sees a broken stream.
#[derive(Debug)]
pub struct StreamBroke(pub String);

impl std::fmt::Display for StreamBroke {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StreamBroke {}

impl Body for ServerBody {
    type Data = Bytes;
    type Error = StreamBroke;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StreamBroke>>> {
        let this = &mut *self;
        match &mut this.source {
            Source::Whole(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Source::Channel(rx) => match match this.next.take() {
                Some(msg) => Some(msg),
                None => std::task::ready!(rx.poll_recv(cx)),
            } {
                Some(Msg::Data(b)) => {
                    let b = more_queued(rx, b, &mut this.next);
                    Poll::Ready(Some(Ok(Frame::data(b))))
                }
                Some(Msg::Done) => {
                    this.source = Source::Whole(None);
                    Poll::Ready(None)
                }
                Some(Msg::Failed(e)) => {
                    this.source = Source::Whole(None);
                    Poll::Ready(Some(Err(StreamBroke(e.message))))
                }
                // A vanished gateway thread is a break.
                None => {
                    this.source = Source::Whole(None);
                    Poll::Ready(Some(Err(StreamBroke("the gateway worker stopped".into()))))
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(&self.source, Source::Whole(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.source {
            Source::Whole(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Source::Whole(None) => SizeHint::with_exact(0),
            Source::Channel(_) => SizeHint::default(),
        }
    }
}
