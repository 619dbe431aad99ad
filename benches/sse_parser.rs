//! SSE parser throughput, in MB/s, on an OpenAI-shaped chat stream fed in
//! network-sized pieces. Run: `cargo bench --bench sse_parser`.
//! Prints figures; asserts nothing about speed.

use std::hint::black_box;
use std::time::Instant;

use aigw::sse::{DEFAULT_MAX_EVENT_BYTES, SseParser};

fn stream(events: usize, eol: &str) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..events {
        s.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-{i}\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\
             \"model\":\"gpt-4o-mini\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token {i} \"}},\
             \"finish_reason\":null}}]}}{eol}{eol}"
        ));
    }
    s.push_str(&format!("data: [DONE]{eol}{eol}"));
    s.into_bytes()
}

fn measure(name: &str, body: &[u8], piece: usize) {
    let rounds = 20;
    let mut best = f64::INFINITY;
    let mut events = 0;
    for _ in 0..rounds {
        let mut parser = SseParser::new(DEFAULT_MAX_EVENT_BYTES);
        let mut count = 0usize;
        let started = Instant::now();
        for chunk in body.chunks(piece) {
            parser
                .feed(black_box(chunk), &mut |e| {
                    count += black_box(e.data.len()) & 1 | 1;
                    true
                })
                .expect("within limits");
        }
        best = best.min(started.elapsed().as_secs_f64());
        events = count;
    }
    let mb = body.len() as f64 / 1e6;
    println!(
        "{name:<34} {:>7.1} MB  {events:>7} events  best of {rounds}: {:>8.2} ms  {:>8.0} MB/s  {:>6.0} ns/event",
        mb,
        best * 1e3,
        mb / best,
        best * 1e9 / events as f64
    );
}

fn main() {
    println!("aigw SSE parser throughput (single thread)");
    let lf = stream(100_000, "\n");
    let crlf = stream(100_000, "\r\n");
    measure("LF, 16 KiB pieces", &lf, 16 * 1024);
    measure("CRLF, 16 KiB pieces", &crlf, 16 * 1024);
    measure("LF, 1 KiB pieces", &lf, 1024);
    measure("LF, 64-byte pieces", &lf, 64);
    // One large event, many data lines (a long completion in one event).
    let mut big = String::new();
    for i in 0..80_000 {
        big.push_str(&format!(
            "data: line {i} of a long multi-line event payload\n"
        ));
    }
    big.push('\n');
    measure("one 4 MB multi-line event", big.as_bytes(), 16 * 1024);
}
