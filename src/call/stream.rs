//! Streaming sends: the response body is handed to a [`StreamSink`] as it
//! arrives, with Server-Sent Events parsed on the way.
//!
//! Fallback and retries happen only before anything is delivered. A stream
//! commits to a step when its response is 2xx and, for `text/event-stream`,
//! its first content event has arrived and is not an error event (for other
//! bodies the 2xx head is the commit point). Lifecycle events of the known
//! dialects ([`crate::providers::dialect`], as the step's provider adapter
//! reports them) are held until then and delivered first.
//! Until commit the attempt is judged as in [`Gateway::send`]; after it, a
//! failure (or a known dialect's stream ending before its end marker) ends
//! the call with [`ErrorKind::StreamInterrupted`] and what was delivered
//! stays delivered.

use std::io::Read;

use crate::call::exchange::CallRecord;
use crate::call::gateway::{
    Finished, Gateway, ListSteps, Plan, PlannedStep, StepSource, Verdict, is_fatal, read_whole,
    response_head,
};
use crate::call::response::Response;
use crate::error::{Error, ErrorKind, Result};
use crate::http::sse::{DEFAULT_MAX_EVENT_BYTES, OwnedEvent, SseEvent, SseParser};
use crate::providers::adapter::{Reports, adapter};
use crate::providers::dialect::{Dialect, EventClass};
use crate::transport::classify;
use crate::transport::io_scope::{Fired, IoScope, IoState};

/// Receives a streamed response. Each method returns `false` to stop the
/// transfer (the send then fails with [`ErrorKind::Aborted`]).
pub trait StreamSink {
    /// Once, when the serving response is chosen; its body is empty.
    fn on_response(&mut self, head: &Response) -> bool;
    /// Raw body bytes, in order; every byte once.
    fn on_data(&mut self, data: &[u8]) -> bool;
    /// Parsed events, for `text/event-stream` bodies, after the `on_data`
    /// call that carried their last byte.
    fn on_event(&mut self, event: &SseEvent<'_>) -> bool;
}

const READ_SIZE: usize = 16 * 1024;

thread_local! {
    /// The last read buffer this thread used, kept for its next attempt.
    static SPARE_READ_BUF: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// An attempt's read buffer, reused across the calls on one thread: a fresh
/// zeroed 16 KiB allocation per call cost a calloc, a memset and (as a
/// large-bin request) a consolidation of malloc's fast bins every time.
/// A nested call on the same thread (a callback sending again) finds no
/// spare and allocates its own.
struct ReadBuf(Vec<u8>);

impl ReadBuf {
    fn take() -> ReadBuf {
        let spare = SPARE_READ_BUF.try_with(|c| c.take()).unwrap_or_default();
        if spare.len() == READ_SIZE {
            ReadBuf(spare)
        } else {
            ReadBuf(vec![0; READ_SIZE])
        }
    }
}

impl Drop for ReadBuf {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        let _ = SPARE_READ_BUF.try_with(|c| c.set(buf));
    }
}

/// The most one event may hold, given the response body limit.
fn event_limit(gateway: &Gateway) -> usize {
    let body_limit = gateway.config().max_response_body_bytes;
    DEFAULT_MAX_EVENT_BYTES.min(usize::try_from(body_limit).unwrap_or(usize::MAX))
}

/// Runs a plan, streaming the serving response to `sink`. Returns the
/// response head (status, headers, step; empty body).
pub(crate) fn run_stream(
    gateway: &Gateway,
    plan: &Plan,
    scope: &IoScope,
    record: &mut CallRecord,
    sink: &mut dyn StreamSink,
) -> Result<Response> {
    let mut steps = ListSteps::new(&plan.steps);
    run_stream_steps(gateway, plan, &mut steps, scope, record, sink)
}

/// `run_stream` with the steps taken from `src` as they are needed (a
/// route walk); `plan` gives everything but the steps.
pub fn run_stream_steps(
    gateway: &Gateway,
    plan: &Plan,
    src: &mut dyn StepSource,
    scope: &IoScope,
    record: &mut CallRecord,
    sink: &mut dyn StreamSink,
) -> Result<Response> {
    let body_limit = gateway.config().max_response_body_bytes;
    let event_limit = event_limit(gateway);
    let finished = gateway.run_steps(plan, src, scope, record, &mut |step, upstream, state| {
        if !upstream.status().is_success() {
            return match read_whole(plan, step, upstream, body_limit, state) {
                Ok(r) => Verdict::Rejected(r),
                Err(e) if is_fatal(e.kind) => Verdict::Fatal(e),
                Err(e) => Verdict::Failed(e),
            };
        }
        let (parts, body) = upstream.into_parts();
        let head = response_head(plan, step, &parts);
        let is_sse = is_event_stream(&head);
        let mut attempt = Attempt {
            step,
            state,
            sink: &mut *sink,
            reader: body.into_with_config().limit(u64::MAX).reader(),
            parser: SseParser::new(event_limit),
            buf: ReadBuf::take(),
            reports: adapter(&step.target.provider).reports,
            dialect: None,
            ended: false,
        };
        if is_sse {
            attempt.stream_events(head, body_limit)
        } else {
            attempt.stream_bytes(head)
        }
    })?;
    match finished {
        Finished::Served(head) => Ok(head),
        // Every step failed: hand over the latest HTTP response as a stream,
        // as an HTTP gateway would.
        Finished::Exhausted(mut response) => {
            let body = std::mem::take(&mut response.body);
            replay(gateway, scope.state(), sink, &response, &body)?;
            Ok(response)
        }
    }
}

/// Whether a response's body is `text/event-stream`.
pub(crate) fn is_event_stream(head: &Response) -> bool {
    head.header("content-type")
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| ct.trim().eq_ignore_ascii_case("text/event-stream"))
}

/// Delivers a whole response held in memory (a cache hit, or the latest
/// failure) through the callbacks, events included.
pub(crate) fn replay(
    gateway: &Gateway,
    state: &IoState,
    sink: &mut dyn StreamSink,
    head: &Response,
    body: &[u8],
) -> Result<()> {
    let mut events = Vec::new();
    if is_event_stream(head) {
        let mut parser = SseParser::new(event_limit(gateway));
        let _ = parser.feed(body, &mut |e| {
            events.push(OwnedEvent::from_event(e));
            true
        });
    }
    deliver(state, sink, head, body, &events)
}

/// Delivers a head, bytes and events held back, checking cancellation
/// before each callback.
fn deliver(
    state: &IoState,
    sink: &mut dyn StreamSink,
    head: &Response,
    bytes: &[u8],
    events: &[OwnedEvent],
) -> Result<()> {
    callback(state, "on_response", || sink.on_response(head))?;
    if !bytes.is_empty() {
        callback(state, "on_data", || sink.on_data(bytes))?;
    }
    for event in events {
        callback(state, "on_event", || sink.on_event(&event.as_event()))?;
    }
    Ok(())
}

/// Runs one callback unless the send was cancelled; maps a `false` to Aborted.
fn callback(state: &IoState, name: &str, call: impl FnOnce() -> bool) -> Result<()> {
    if state.is_cancelled() {
        return Err(Error::new(ErrorKind::Cancelled, "cancelled"));
    }
    if call() {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Aborted,
            format!("aborted: {name} returned non-zero"),
        ))
    }
}

/// One 2xx attempt being streamed.
struct Attempt<'a> {
    step: &'a PlannedStep,
    state: &'a IoState,
    sink: &'a mut dyn StreamSink,
    reader: ureq::BodyReader<'static>,
    parser: SseParser,
    buf: ReadBuf,
    /// How the step's provider marks errors, dialects and stream ends.
    reports: &'static Reports,
    /// The stream's dialect, once an event showed it.
    dialect: Option<Dialect>,
    /// The dialect's end marker has arrived.
    ended: bool,
}

impl Attempt<'_> {
    /// Reads the next piece; `Ok(0)` at the end of the body.
    fn read(&mut self) -> std::result::Result<usize, Error> {
        loop {
            match self.reader.read(&mut self.buf.0) {
                Ok(n) => return Ok(n),
                Err(e)
                    if e.kind() == std::io::ErrorKind::Interrupted
                        && self.state.fired().is_none() =>
                {
                    continue;
                }
                Err(e) => {
                    let fired = self.state.fired();
                    let (kind, mut reason) = classify(&ureq::Error::Io(e), fired);
                    if fired == Some(Fired::Idle) {
                        let ms = self
                            .step
                            .settings
                            .stream_idle_timeout
                            .map_or(0, |d| d.as_millis());
                        reason = format!("the stream stalled: no data for {ms} ms");
                    }
                    return Err(Error::new(kind, reason));
                }
            }
        }
    }

    fn who(&self) -> String {
        format!("{} at {}", self.step.target.provider, self.step.target.host)
    }

    /// After commit every failure is final: the caller has data already.
    fn after_commit(&self, e: Error) -> Error {
        match e.kind {
            ErrorKind::Cancelled | ErrorKind::Aborted | ErrorKind::BodyTooLarge => e,
            _ => Error::new(
                ErrorKind::StreamInterrupted,
                format!(
                    "{}: stream interrupted after data was delivered: {}",
                    self.who(),
                    e.message
                ),
            ),
        }
    }

    /// A body that is not an event stream: committed at the 2xx head.
    fn stream_bytes(&mut self, head: Response) -> Verdict {
        let result = callback(self.state, "on_response", || self.sink.on_response(&head))
            .and_then(|()| self.deliver_rest(false));
        match result {
            Ok(()) => Verdict::Served(head),
            Err(e) => Verdict::Fatal(e),
        }
    }

    /// After commit: delivers the rest of the body as it arrives, and its
    /// events when `events` is set. Every failure is final now.
    fn deliver_rest(&mut self, events: bool) -> Result<()> {
        loop {
            let n = self.read().map_err(|e| self.after_commit(e))?;
            if n == 0 {
                return self.check_end();
            }
            let (state, sink, data) = (self.state, &mut *self.sink, &self.buf.0[..n]);
            callback(state, "on_data", || sink.on_data(data))?;
            if !events {
                continue;
            }
            let mut failure = None;
            let (dialect, ended, reports) = (&mut self.dialect, &mut self.ended, self.reports);
            let parsed = self.parser.feed(data, &mut |event| {
                if dialect.is_none() {
                    *dialect = (reports.recognise)(event);
                }
                if let Some(d) = *dialect {
                    *ended |= (reports.is_end)(d, event);
                }
                match callback(state, "on_event", || sink.on_event(event)) {
                    Ok(()) => true,
                    Err(e) => {
                        failure = Some(e);
                        false
                    }
                }
            });
            if let Some(e) = failure {
                return Err(e);
            }
            if let Err(too_large) = parsed {
                return Err(event_too_large(&self.who(), too_large.limit));
            }
        }
    }

    /// At the clean end of a committed stream: a known dialect that never
    /// sent its end marker was cut short, whatever the transport said.
    fn check_end(&self) -> Result<()> {
        match self.dialect.and_then(self.reports.end_marker) {
            Some(marker) if !self.ended => Err(Error::new(
                ErrorKind::StreamInterrupted,
                format!(
                    "{}: the stream ended without its end marker ({marker})",
                    self.who()
                ),
            )),
            _ => Ok(()),
        }
    }

    /// An event stream: held back until its first content event shows it is
    /// not an error (lifecycle events of a known dialect wait with it), then
    /// delivered as it arrives.
    fn stream_events(&mut self, head: Response, body_limit: u64) -> Verdict {
        let mut held = Vec::new();
        let mut events: Vec<OwnedEvent> = Vec::new();
        // How many of `events` were classified, and whether one commits.
        let mut judged = 0;
        let mut commit = false;
        // Before commit: nothing reaches the sink.
        loop {
            let n = match self.read() {
                Ok(n) => n,
                Err(e) if is_fatal(e.kind) && e.kind != ErrorKind::StreamInterrupted => {
                    return Verdict::Fatal(e);
                }
                Err(e) => {
                    let kind = if e.kind == ErrorKind::StreamInterrupted {
                        ErrorKind::Timeout
                    } else {
                        e.kind
                    };
                    return Verdict::Failed(Error::new(
                        kind,
                        format!("{} before the first event", e.message),
                    ));
                }
            };
            if n == 0 {
                if events.is_empty() {
                    // The stream ended without a single event: its 2xx stands.
                    break;
                }
                // Only lifecycle events, then the end: nothing was
                // delivered, so this attempt failed like a dropped connection.
                return Verdict::Failed(Error::new(
                    ErrorKind::Connect,
                    format!(
                        "{}: the stream ended before its first content event",
                        self.who()
                    ),
                ));
            }
            if let Err(e) = crate::alloc::try_extend(&mut held, &self.buf.0[..n], "a held stream") {
                return Verdict::Fatal(e);
            }
            let parsed = self.parser.feed(&self.buf.0[..n], &mut |e| {
                events.push(OwnedEvent::from_event(e));
                true
            });
            if let Err(too_large) = parsed {
                return Verdict::Fatal(event_too_large(&self.who(), too_large.limit));
            }
            if held.len() as u64 > body_limit {
                return Verdict::Fatal(Error::new(
                    ErrorKind::BodyTooLarge,
                    format!(
                        "{}: over {body_limit} bytes before the first event",
                        self.who()
                    ),
                ));
            }
            for event in &events[judged..] {
                let event = event.as_event();
                if self.dialect.is_none() {
                    self.dialect = (self.reports.recognise)(&event);
                }
                match (self.reports.classify)(self.dialect, &event) {
                    EventClass::Lifecycle => {}
                    EventClass::Error => return self.reject_error_stream(head, held, body_limit),
                    EventClass::Content | EventClass::End => {
                        commit = true;
                        break;
                    }
                }
            }
            judged = events.len();
            if commit {
                break;
            }
        }
        // Events after the commit point came in the same read: note an end
        // marker among them.
        if let Some(d) = self.dialect {
            let is_end = self.reports.is_end;
            self.ended = events.iter().any(|e| is_end(d, &e.as_event()));
        }

        // Commit.
        let result = deliver(self.state, &mut *self.sink, &head, &held, &events).and_then(|()| {
            drop(held);
            self.deliver_rest(true)
        });
        match result {
            Ok(()) => Verdict::Served(head),
            Err(e) => Verdict::Fatal(e),
        }
    }

    /// A 2xx stream whose first event is an error: read what is left (up to
    /// the limit) so the response can stand as the latest HTTP response, and
    /// fall back.
    fn reject_error_stream(
        &mut self,
        mut head: Response,
        mut body: Vec<u8>,
        body_limit: u64,
    ) -> Verdict {
        loop {
            match self.read() {
                Ok(0) => break,
                Ok(n) if (body.len() + n) as u64 <= body_limit => {
                    if crate::alloc::try_extend(&mut body, &self.buf.0[..n], "a stream").is_err() {
                        break;
                    }
                }
                // Too long or broken: what we have is enough to report.
                Ok(_) => break,
                Err(e) if e.kind == ErrorKind::Cancelled => return Verdict::Fatal(e),
                Err(_) => break,
            }
        }
        head.body = body;
        Verdict::Rejected(head)
    }
}

fn event_too_large(who: &str, limit: usize) -> Error {
    Error::new(
        ErrorKind::BodyTooLarge,
        format!("{who}: a stream event exceeds the limit of {limit} bytes"),
    )
}
