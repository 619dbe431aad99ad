//! The loopback HTTP server: existing SDKs and tools reach the gateway by
//! base URL. Depends on the core (gateway, request, response, error) and on
//! hyper: one thread accepts, and each connection is served on a worker
//! thread of its own, which also runs the blocking `Gateway::send_stream`
//! for its requests (see `connection`).

mod body;
mod calls;
mod conn_io;
mod connection;
pub mod options;
pub mod reply;
pub mod routes;
mod workers;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Incoming};
use hyper::header::{CONNECTION, CONTENT_LENGTH};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::call::cancel::CancelToken;
use crate::call::gateway::Gateway;
use crate::call::request::Request;
use crate::call::response::Response;
use crate::error::{Error, ErrorKind, Result};

use body::{AnswerGuard, ServerBody};
use conn_io::{ConnState, TimedStream};
use connection::{Answer, Slot};
pub use options::ServerOptions;
use reply::{ErrorFormat, Reply};
use workers::Workers;

/// Pending connections the kernel queues before `accept`.
const LISTEN_BACKLOG: u32 = 1024;

/// The gateway a server sends through: shared, or borrowed from a C caller
/// who promises it outlives the server.
#[derive(Clone)]
enum GatewayRef {
    Owned(Arc<Gateway>),
    Borrowed(*const Gateway),
}

// SAFETY: `Gateway` is `Sync`; a borrowed one outlives the server (the C
// API's documented contract), and the server joins every thread that uses
// it before it is gone.
unsafe impl Send for GatewayRef {}
unsafe impl Sync for GatewayRef {}

impl Deref for GatewayRef {
    type Target = Gateway;
    fn deref(&self) -> &Gateway {
        match self {
            GatewayRef::Owned(g) => g,
            // SAFETY: see the Send/Sync note above.
            GatewayRef::Borrowed(g) => unsafe { &**g },
        }
    }
}

struct Shared {
    gateway: GatewayRef,
    options: ServerOptions,
    connections: Arc<Semaphore>,
    /// Connection threads (and the threads finishing streams), reused, all
    /// joined on stop.
    workers: Workers,
    /// Spare runtimes for new connections.
    runtimes: connection::Runtimes,
    /// Gateway calls running on connection threads, cancelled when their
    /// client leaves or the grace is over.
    calls: calls::Calls,
    phase: watch::Sender<Phase>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// Take no more requests; finish the ones in flight.
    Stopping,
    /// The grace is over: drop what is left.
    Killed,
}

/// A running server. Dropping it (or [`Server::stop`]) stops accepting,
/// lets in-flight requests finish for `shutdown_grace`, cancels the rest
/// and joins every thread.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

impl Server {
    /// Binds `options.listen` and starts serving `gateway`.
    pub fn start(gateway: Arc<Gateway>, options: ServerOptions) -> Result<Server> {
        Server::start_with(GatewayRef::Owned(gateway), options)
    }

    /// [`Server::start`] for a gateway the server does not own.
    ///
    /// # Safety
    /// `gateway` points to a live gateway that outlives the server (until
    /// [`Server::stop`] or drop has returned).
    pub(crate) unsafe fn start_borrowed(
        gateway: *const Gateway,
        options: ServerOptions,
    ) -> Result<Server> {
        Server::start_with(GatewayRef::Borrowed(gateway), options)
    }

    fn start_with(gateway: GatewayRef, options: ServerOptions) -> Result<Server> {
        let options = options.checked()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::new(ErrorKind::InvalidConfig, format!("server: {e}")))?;
        let listener = {
            let _inside = runtime.enter();
            listen(options.listen)?
        };
        let addr = listener
            .local_addr()
            .map_err(|e| Error::invalid_config(format!("server: {e}")))?;
        let (phase, phase_rx) = watch::channel(Phase::Running);
        let shared = Arc::new(Shared {
            gateway,
            connections: Arc::new(Semaphore::new(options.max_connections)),
            options,
            workers: Workers::default(),
            runtimes: connection::Runtimes::default(),
            calls: calls::Calls::new(),
            phase,
        });
        let server_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("aigw-server".into())
            .spawn(move || {
                runtime.block_on(accept_loop(listener, Arc::clone(&shared), phase_rx));
                // Every connection is gone, so every stream still running
                // has been told to stop (its client's answer was dropped):
                // join them.
                shared.workers.join();
                shared.calls.stop();
                shared.runtimes.clear();
                drop(runtime);
            })
            .map_err(|e| Error::invalid_config(format!("server: cannot start a thread: {e}")))?;
        Ok(Server {
            addr,
            shared: server_shared,
            thread: Some(thread),
        })
    }

    /// The address bound (with the real port when `listen` asked for 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Stops the server; see [`Server`]. Idempotent.
    pub fn stop(&mut self) {
        self.shared.phase.send_if_modified(|p| {
            let running = *p == Phase::Running;
            if running {
                *p = Phase::Stopping;
            }
            running
        });
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn listen(addr: SocketAddr) -> Result<TcpListener> {
    let fail = |e: std::io::Error| Error::invalid_config(format!("cannot listen on {addr}: {e}"));
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(fail)?;
    socket.set_reuseaddr(true).map_err(fail)?;
    socket.bind(addr).map_err(fail)?;
    socket.listen(LISTEN_BACKLOG).map_err(fail)
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut phase: watch::Receiver<Phase>,
) {
    let mut refused = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => match Arc::clone(&shared.connections).try_acquire_owned() {
                    Ok(permit) => hand_over(tcp, &shared, permit),
                    Err(_) => {
                        refused.spawn(refuse(tcp, shared.options.max_connections));
                    }
                },
                // E.g. out of file descriptors: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = refused.join_next(), if !refused.is_empty() => {}
            _ = phase.changed() => break,
        }
    }
    drop(listener);
    // Each open connection holds a permit: all back means all closed.
    let all = u32::try_from(shared.options.max_connections).unwrap_or(u32::MAX);
    let grace = shared.options.shutdown_grace;
    let closed = tokio::time::timeout(grace, shared.connections.acquire_many(all)).await;
    if closed.is_err() {
        // Whatever is left is dropped mid-answer, which cancels its
        // request; calls running on connection threads are cancelled.
        shared.phase.send_replace(Phase::Killed);
        shared.calls.cancel_all();
        let _ = shared.connections.acquire_many(all).await;
    }
    refused.shutdown().await;
}

/// Gives an accepted connection to a worker thread, which serves it from
/// then on; without a thread, the connection is closed.
fn hand_over(tcp: TcpStream, shared: &Arc<Shared>, permit: tokio::sync::OwnedSemaphorePermit) {
    let Ok(tcp) = tcp.into_std() else {
        return;
    };
    let conn_shared = Arc::clone(shared);
    let _ = shared.workers.run(Box::new(move || {
        connection::serve(tcp, conn_shared, permit);
    }));
}

/// Over `max_connections`: a short 503 and the connection closes.
async fn refuse(mut tcp: TcpStream, max: usize) {
    let body = format!(
        "{{\"success\":false,\"error\":[{{\"code\":503,\"message\":\"the server has \
         max_connections ({max}) connections open\"}}]}}"
    );
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        tcp.write_all(head.as_bytes()).await?;
        tcp.write_all(body.as_bytes()).await?;
        tcp.shutdown().await
    })
    .await;
}

async fn serve_connection(
    tcp: TcpStream,
    shared: Arc<Shared>,
    mut phase: watch::Receiver<Phase>,
    slot: Arc<Slot>,
) {
    let _ = tcp.set_nodelay(true);
    let state = Arc::new(ConnState::new());
    let o = &shared.options;
    let io = TokioIo::new(TimedStream::new(
        tcp,
        Arc::clone(&state),
        o.idle_timeout,
        o.header_timeout,
    ));
    let service_shared = Arc::clone(&shared);
    let service = hyper::service::service_fn(move |req| {
        handle(
            req,
            Arc::clone(&service_shared),
            Arc::clone(&state),
            Arc::clone(&slot),
        )
    });
    let conn = http1::Builder::new()
        // Our socket wrapper keeps the head and idle clocks.
        .header_read_timeout(None)
        // No read of the client between a request and its answer: hyper
        // would make it to see a hang-up, and each one costs a new 8 KiB
        // read buffer (the request still holds the old one). The hang-up
        // watch (`calls`) sees hang-ups instead, streams included.
        .half_close(true)
        .max_buf_size(o.max_head_bytes)
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(conn);
    if *phase.borrow() == Phase::Running {
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = phase.changed() => {}
        }
    }
    // Stopping: finish the request in flight, take no more, until killed.
    conn.as_mut().graceful_shutdown();
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = phase.wait_for(|p| *p == Phase::Killed) => {}
    }
}

type HttpResponse = hyper::Response<ServerBody>;

fn reply_response(reply: Reply, guard: AnswerGuard) -> HttpResponse {
    let mut response = hyper::Response::new(ServerBody::whole(reply.body, guard));
    *response.status_mut() = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in reply.headers {
        if let Ok(v) = hyper::header::HeaderValue::from_str(&value) {
            response.headers_mut().append(name, v);
        }
    }
    response
}

async fn handle(
    req: hyper::Request<Incoming>,
    shared: Arc<Shared>,
    state: Arc<ConnState>,
    slot: Arc<Slot>,
) -> std::result::Result<HttpResponse, Infallible> {
    state.begin();
    let mut guard = AnswerGuard {
        conn: state,
        cancel: None,
    };
    let path = routes::gateway_path(req.uri().path(), req.uri().query());
    let format = path
        .as_deref()
        .map_or(ErrorFormat::Gateway, ErrorFormat::for_path);
    if let Some(token) = &shared.options.auth_token {
        let presented = req.headers().get(routes::AUTH_HEADER).map(|v| v.as_bytes());
        if !routes::authorized(presented, token) {
            return Ok(reply_response(reply::unauthorized(format), guard));
        }
    }
    let fail = |e: &Error, guard| Ok(reply_response(reply::for_error(e, format), guard));
    let gateway_request = match build_request(&req, path) {
        Ok(r) => r,
        Err(e) => return fail(&e, guard),
    };

    let max = shared.options.max_body_bytes;
    let too_large = || {
        reply::http_failure(
            413,
            ErrorKind::BodyTooLarge,
            &format!("the request body is over the server's max_body_bytes ({max} bytes)"),
            format,
        )
    };
    let announced = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > max) {
        return Ok(reply_response(too_large(), guard));
    }
    let timeout = shared.options.body_timeout;
    let body = match tokio::time::timeout(timeout, read_body(req.into_body(), max)).await {
        Ok(Ok(body)) => body,
        Ok(Err(BodyFail::TooLarge)) => return Ok(reply_response(too_large(), guard)),
        Ok(Err(BodyFail::Broken(m))) => {
            let e = Error::invalid_request(format!("the request body could not be read: {m}"));
            return fail(&e, guard);
        }
        Err(_) => {
            let m = format!(
                "the request body did not arrive within {} ms",
                timeout.as_millis()
            );
            let r = reply::http_failure(408, ErrorKind::Timeout, &m, format);
            return Ok(reply_response(r, guard));
        }
    };
    let mut gateway_request = gateway_request;
    gateway_request.body = body;
    let cancel = CancelToken::new();
    gateway_request.cancel = Some(cancel.clone());
    guard.cancel = Some(cancel);

    // The connection's thread runs the call once this poll is over (see
    // `connection`). If the client leaves before the head, this future is
    // dropped, and with it the guard, which cancels the request.
    slot.ask(gateway_request);
    match std::future::poll_fn(|_| slot.poll_answer()).await {
        Answer::Stream(head, rx) => Ok(stream_response(head, ServerBody::channel(rx, guard))),
        Answer::Whole(head, bytes) => {
            // The whole body is here: nothing upstream is left to cancel
            // when the client leaves after it (the call only finishes its
            // records now).
            guard.cancel = None;
            Ok(stream_response(head, ServerBody::bytes(bytes, guard)))
        }
        Answer::Failed(e) => fail(&e, guard),
    }
}

/// The gateway request for an HTTP request: method, path, forwarded headers.
fn build_request(req: &hyper::Request<Incoming>, path: Result<String>) -> Result<Request> {
    let path = path?;
    let mut request = Request::new(req.method().as_str(), &path)?;
    let headers = req.headers();
    let listed = routes::connection_listed(
        headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    for (name, value) in headers {
        if !routes::forward_request_header(name.as_str(), &listed) {
            continue;
        }
        let Ok(value) = std::str::from_utf8(value.as_bytes()) else {
            return Err(Error::invalid_request(format!(
                "header {:?} is not valid UTF-8",
                name.as_str()
            )));
        };
        request.set_header(name.as_str(), value)?;
    }
    Ok(request)
}

enum BodyFail {
    TooLarge,
    Broken(String),
}

async fn read_body(mut body: Incoming, max: u64) -> std::result::Result<Vec<u8>, BodyFail> {
    let mut out = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|e| BodyFail::Broken(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if (out.len() + data.len()) as u64 > max {
                return Err(BodyFail::TooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// The HTTP head of a gateway response as the server sends it: built once,
/// straight from the gateway's head (which the call keeps), so answering
/// copies each forwarded header once.
pub struct Head {
    status: hyper::StatusCode,
    headers: hyper::HeaderMap,
}

impl Head {
    pub fn of(head: &Response) -> Head {
        let listed = routes::connection_listed(
            head.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
                .map(|(_, v)| v),
        );
        let mut headers = hyper::HeaderMap::with_capacity(head.headers.len());
        // The values share one buffer (all of them: simpler than filtering
        // twice, and a few bytes): a value made from bytes is a copy, an
        // allocation of its own; a slice of shared ones is not.
        let mut all = Vec::with_capacity(head.headers.byte_len());
        for (_, value) in &head.headers {
            all.extend_from_slice(value.as_bytes());
        }
        let all = Bytes::from(all);
        let mut at = 0;
        for (name, value) in &head.headers {
            let range = at..at + value.len();
            at = range.end;
            if !routes::forward_response_header(name, &listed) {
                continue;
            }
            if let (Ok(n), Ok(v)) = (
                hyper::header::HeaderName::from_bytes(name.as_bytes()),
                hyper::header::HeaderValue::from_maybe_shared(all.slice(range)),
            ) {
                headers.append(n, v);
            }
        }
        Head {
            status: hyper::StatusCode::from_u16(head.status)
                .unwrap_or(hyper::StatusCode::BAD_GATEWAY),
            headers,
        }
    }
}

fn stream_response(head: Head, body: ServerBody) -> HttpResponse {
    let mut response = hyper::Response::new(body);
    *response.status_mut() = head.status;
    *response.headers_mut() = head.headers;
    response
}
