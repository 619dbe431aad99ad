//! `aigw-mock [--port N] [--port-file PATH]`: runs the mock provider until
//! killed. Prints exactly one line, the base URL, to stdout.

use std::io::Write;
use std::process::ExitCode;

const USAGE: &str = "usage: aigw-mock [--port N] [--port-file PATH]";

fn main() -> ExitCode {
    let (port, port_file) = match parse_args(std::env::args().skip(1)) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            eprintln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("aigw-mock: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let server = match aigw_mock::MockServer::start_on(port) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("aigw-mock: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };

    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{}", server.url())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        eprintln!("aigw-mock: cannot write to stdout");
    }
    drop(stdout);

    if let Some(path) = port_file
        && let Err(e) = write_port_file(&path, server.port())
    {
        eprintln!("aigw-mock: cannot write port file {path}: {e}");
        return ExitCode::FAILURE;
    }

    // Serve until killed; the default SIGTERM/SIGINT handling ends us.
    loop {
        std::thread::park();
    }
}

/// `Ok(None)` means help was asked for.
fn parse_args(args: impl Iterator<Item = String>) -> Result<Option<(u16, Option<String>)>, String> {
    let mut port = 0u16;
    let mut port_file = None;
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--port" => {
                let v = value()?;
                port = v.parse().map_err(|_| format!("bad port: {v:?}"))?;
            }
            "--port-file" => port_file = Some(value()?),
            "-h" | "--help" => return Ok(None),
            _ => return Err(format!("unknown argument: {arg:?}")),
        }
    }
    Ok(Some((port, port_file)))
}

/// Writes the port through a temporary file and a rename, so a script
/// polling for the file never reads it half-written.
fn write_port_file(path: &str, port: u16) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp.{}", std::process::id());
    std::fs::write(&tmp, format!("{port}\n"))?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
