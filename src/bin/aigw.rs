//! `aigw serve`: the gateway as a local HTTP server for a whole machine.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use aigw::server::options::parse_listen;
use aigw::server::{Server, ServerOptions};
use aigw::{Config, Gateway};

/// Where `aigw serve` listens unless the config or `--listen` says otherwise.
const SERVE_LISTEN: &str = "127.0.0.1:8787";

const USAGE: &str = "\
usage: aigw serve [--config FILE] [--listen ADDR]
       aigw --version

Runs the gateway as an HTTP server. Point an SDK's base URL at
  http://ADDR/v1/ACCOUNT/GATEWAY/<provider>   (as the hosted gateway)
  http://ADDR/<provider>                      (short form)
  http://ADDR/compat                          (the unified API)
and POST Universal Endpoint steps to http://ADDR/ .

options:
  --config FILE   the gateway config JSON; its optional \"server\" object
                  takes listen, auth_token, max_body_bytes, max_connections,
                  max_head_bytes, header_timeout_ms, idle_timeout_ms,
                  body_timeout_ms, shutdown_grace_ms
  --listen ADDR   IP:PORT to listen on (wins over the config; default
                  127.0.0.1:8787). An address that is not loopback needs
                  server.auth_token; clients then send
                  cf-aig-authorization: Bearer <token>
  -h, --help      this text

The first line on stdout is `aigw listening on http://ADDR:PORT`.
SIGINT or SIGTERM stop it: requests in flight get shutdown_grace_ms to
finish, then it exits 0.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => match parse_serve(&args[1..]) {
            Ok(Some(serve)) => run(serve),
            Ok(None) => {
                print!("{USAGE}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("aigw: {message}\n\n{USAGE}");
                ExitCode::from(2)
            }
        },
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some("-V" | "--version") => {
            println!("aigw {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("aigw: unknown command {other:?}\n\n{USAGE}");
            ExitCode::from(2)
        }
        None => {
            eprint!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

struct Serve {
    config: Option<String>,
    listen: Option<String>,
}

/// `None` when help was asked for.
fn parse_serve(args: &[String]) -> Result<Option<Serve>, String> {
    let mut serve = Serve {
        config: None,
        listen: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag {
            "-h" | "--help" => return Ok(None),
            "--config" => serve.config = Some(value("--config")?),
            "--listen" => serve.listen = Some(value("--listen")?),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(Some(serve))
}

fn run(serve: Serve) -> ExitCode {
    block_stop_signals();
    raise_open_file_limit();
    match start(&serve) {
        Ok(server) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "aigw listening on http://{}", server.local_addr());
            let _ = out.flush();
            drop(out);
            wait_for_signal();
            eprintln!("aigw: stopping");
            drop(server);
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("aigw: {message}");
            ExitCode::from(1)
        }
    }
}

fn start(serve: &Serve) -> Result<Server, String> {
    let text = match &serve.config {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {path}: {e}"))?,
        None => String::new(),
    };
    let where_ = |m: String| match &serve.config {
        Some(path) => format!("{path}: {m}"),
        None => m,
    };
    let mut config = Config::parse(Some(&text)).map_err(|e| where_(e.message))?;
    let file = serde_json::from_str::<serde_json::Value>(&text).ok();
    // The library's own default is a free port; the program's is 8787.
    let listen_in_file = file
        .as_ref()
        .is_some_and(|v| v.get("server").and_then(|s| s.get("listen")).is_some());
    let pool_in_file = file
        .as_ref()
        .is_some_and(|v| v.get("max_idle_connections_per_host").is_some());
    let mut options = config.server.clone().unwrap_or_default();
    if !listen_in_file {
        options.listen = SERVE_LISTEN.parse().expect("a valid address");
    }
    if let Some(listen) = &serve.listen {
        options.listen = parse_listen(listen).map_err(|m| format!("--listen: {m}"))?;
    }
    let options: ServerOptions = options.checked().map_err(|e| where_(e.message))?;
    if !pool_in_file {
        config.max_idle_connections_per_host = served_pool_size(&config, &options);
    }
    let gateway = Gateway::new(config).map_err(|e| where_(e.message))?;
    Server::start(Arc::new(gateway), options).map_err(|e| e.message)
}

/// Idle upstream connections kept per host when the config does not say:
/// as many as the server may have requests in flight (up to the config's
/// limit), so that a burst of concurrent requests, once served, does not
/// open new upstream connections for the next one.
fn served_pool_size(config: &Config, options: &ServerOptions) -> usize {
    config.max_idle_connections_per_host.max(
        options
            .max_connections
            .min(aigw::config::MAX_IDLE_PER_HOST_LIMIT),
    )
}

/// Blocks until SIGINT or SIGTERM. Both are blocked first, before the server
/// starts threads that would inherit them, so `sigwait` is the only place
/// they arrive: no handler, nothing async-signal-unsafe.
fn wait_for_signal() {
    // SAFETY: plain libc calls on a local, initialised signal set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let mut signal = 0;
        while libc::sigwait(&set, &mut signal) != 0 {}
    }
}

/// Raises the soft limit on open files to the hard one: each connection
/// holds its socket, its runtime's epoll instance and eventfd, and an
/// upstream socket, so the usual soft limit of 1,024 would refuse
/// connections long before `max_connections`.
fn raise_open_file_limit() {
    // SAFETY: plain libc calls on a local, initialised struct.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Blocks SIGINT and SIGTERM in this thread (and the threads it starts).
fn block_stop_signals() {
    // SAFETY: as above.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}
