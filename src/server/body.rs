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
use crate::call::response::Response;
use crate::error::Error;
use crate::server::conn_io::ConnState;

/// What a gateway worker sends to the connection, in order: one `Head`
/// (or one `Failed` when nothing was delivered), then `Data`, then `Done`
/// or `Failed`.
pub enum Msg {
    Head(Response),
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
    _guard: AnswerGuard,
}

impl ServerBody {
    pub fn whole(bytes: Vec<u8>, guard: AnswerGuard) -> ServerBody {
        ServerBody {
            source: Source::Whole(Some(Bytes::from(bytes))),
            _guard: guard,
        }
    }

    pub fn channel(rx: mpsc::Receiver<Msg>, guard: AnswerGuard) -> ServerBody {
        ServerBody {
            source: Source::Channel(rx),
            _guard: guard,
        }
    }
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
        match &mut self.source {
            Source::Whole(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Source::Channel(rx) => match std::task::ready!(rx.poll_recv(cx)) {
                Some(Msg::Data(b)) => Poll::Ready(Some(Ok(Frame::data(b)))),
                Some(Msg::Done) => {
                    self.source = Source::Whole(None);
                    Poll::Ready(None)
                }
                Some(Msg::Failed(e)) => {
                    self.source = Source::Whole(None);
                    Poll::Ready(Some(Err(StreamBroke(e.message))))
                }
                // A second head cannot happen; a vanished worker is a break.
                Some(Msg::Head(_)) | None => {
                    self.source = Source::Whole(None);
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
