//! The `aigw-mock` binary: URL line on stdout, port file, serving.

mod client;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Kills the child even when an assertion fails.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn prints_url_writes_port_file_and_serves() {
    let dir = std::env::temp_dir().join(format!("aigw-mock-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port_file = dir.join("port");
    let _ = std::fs::remove_file(&port_file);

    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_aigw-mock"))
            .arg("--port-file")
            .arg(&port_file)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let port: u16 = line
        .trim_end()
        .strip_prefix("http://127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("bad URL line {line:?}"));
    assert!(line.ends_with('\n'));

    // The port file appears (atomically) just after the URL line.
    let mut contents = String::new();
    for _ in 0..100 {
        if let Ok(c) = std::fs::read_to_string(&port_file) {
            contents = c;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(contents, format!("{port}\n"));

    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /_mock/status=418/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 418 "), "{out}");

    // Nothing else is ever written to stdout.
    drop(child);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_arguments_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_aigw-mock"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(!out.stderr.is_empty());
}
