//! One client connection: read requests in a keep-alive loop, decide what
//! each one gets (special endpoint, fault, echo, stream or normal answer) and
//! write it. Any I/O error just ends the connection.

use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use serde_json::{Value, json};

use crate::RecordedRequest;
use crate::answers::{self, AnswerInput};
use crate::directives::{self, Directives};
use crate::http::{self, ReadError, Request};
use crate::state::{Paused, Shared};
use crate::stream::{self, Ended, StreamPlan};

/// Whether the connection can carry another request.
enum Next {
    KeepAlive,
    Close,
}

/// Serves one connection until the client closes it, a response requires
/// closing, or the server stops.
pub fn serve(stream: TcpStream, shared: &Shared) {
    // Small writes (stream events, byte_per_write) must leave at once.
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(&stream);
    loop {
        let mut interim = &stream;
        let request = match http::read_request(&mut reader, &mut interim) {
            Ok(r) => r,
            Err(ReadError::Closed | ReadError::Io) => break,
            Err(ReadError::Malformed(msg)) => return reject(&stream, 400, &msg),
            Err(ReadError::HeadTooLarge) => return reject(&stream, 431, "request head too large"),
            Err(ReadError::BodyTooLarge) => return reject(&stream, 413, "request body too large"),
        };
        if shared.is_stopped() {
            break;
        }
        match respond(&stream, shared, &request) {
            Ok(Next::KeepAlive) if !request.wants_close() => continue,
            _ => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// Answers a request we could not parse, then closes. The close lingers
/// briefly, draining input, so the client can read the answer instead of
/// getting a reset because it was still sending.
fn reject(stream: &TcpStream, status: u16, message: &str) {
    let body = answers::error_body(message, status);
    let headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("Content-Length".to_string(), body.len().to_string()),
        ("Connection".to_string(), "close".to_string()),
    ];
    let mut w = stream;
    if http::write_head(&mut w, status, &headers).is_ok()
        && http::write_body(&mut w, &body, false).is_ok()
    {
        let _ = stream.shutdown(Shutdown::Write);
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let _ = std::io::copy(&mut stream.take(1 << 20), &mut std::io::sink());
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// What a request gets, decided before any byte is written.
enum Action {
    Drop,
    Fail(u16),
    Answer(u16),
}

fn respond(stream: &TcpStream, shared: &Shared, request: &Request) -> std::io::Result<Next> {
    let (path, query) = match request.target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (request.target.as_str(), None),
    };

    // Control endpoints: not counted, no directives.
    let control = match path {
        "/_mock/stats" => {
            let (total, by_key) = shared.snapshot();
            Some(json!({"requests": total, "by_key": by_key}))
        }
        "/_mock/reset" => {
            shared.reset();
            Some(json!({"reset": true}))
        }
        _ => None,
    };
    if let Some(body) = control {
        let headers = vec![
            (
                "x-mock-request-count".to_string(),
                shared.total().to_string(),
            ),
            ("x-mock-path".to_string(), request.target.clone()),
        ];
        let body = body.to_string().into_bytes();
        return send(stream, request, 200, headers, &body, false);
    }

    let (path_list, routed_path) = directives::strip_path_prefix(path);
    let header_list = request
        .header_values("x-mock")
        .collect::<Vec<_>>()
        .join(",");
    let parsed = parse_directives(&path_list, &header_list);

    // The default counter key is the whole directive text, path part first.
    let full_list = [path_list.as_str(), header_list.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(",");
    let key = match &parsed {
        Ok(d) => d.key.clone().unwrap_or(full_list),
        Err(_) => full_list,
    };
    let recorded = RecordedRequest {
        method: request.method.clone(),
        target: request.target.clone(),
        headers: request.headers.clone(),
        body: request.body.clone(),
    };
    let (total, key_count) = shared.count(&key, recorded);

    let routed = match query {
        Some(q) => format!("{routed_path}?{q}"),
        None => routed_path.clone(),
    };
    let mut headers = vec![
        ("x-mock-request-count".to_string(), total.to_string()),
        ("x-mock-path".to_string(), routed),
    ];

    let d = match parsed {
        Ok(d) => d,
        Err(message) => {
            let body = answers::error_body(&message, 400);
            return send(stream, request, 400, headers, &body, false);
        }
    };
    headers.extend(d.headers.iter().cloned());

    let error_status = d.status.filter(|s| !(200..300).contains(s));
    let action = match d.fail {
        Some(n) if key_count <= n => {
            if d.drop {
                Action::Drop
            } else {
                Action::Fail(error_status.unwrap_or(503))
            }
        }
        Some(_) => Action::Answer(d.status.filter(|s| (200..300).contains(s)).unwrap_or(200)),
        None if d.drop => Action::Drop,
        None => match error_status {
            Some(s) => Action::Fail(s),
            None => Action::Answer(d.status.unwrap_or(200)),
        },
    };

    if let Some(ms) = d.stall_ms.filter(|&ms| ms > 0)
        && shared.pause(Duration::from_millis(ms), None) != Paused::Elapsed
    {
        return Ok(Next::Close);
    }

    let status = match action {
        Action::Drop => return Ok(Next::Close),
        Action::Fail(status) => {
            if let Some(v) = &d.retry_after {
                headers.push(("Retry-After".to_string(), v.clone()));
            }
            let body = answers::error_body(&format!("mock status {status}"), status);
            return send(stream, request, status, headers, &body, d.byte_per_write);
        }
        Action::Answer(status) => status,
    };

    let body_json: Option<Value> = serde_json::from_slice(&request.body).ok();
    if d.echo {
        let body = json!({
            "method": request.method,
            "path": routed_path,
            "query": query.unwrap_or(""),
            "headers": request.headers.iter().map(|(n, v)| [n, v]).collect::<Vec<_>>(),
            "body": String::from_utf8_lossy(&request.body),
        });
        return send(
            stream,
            request,
            status,
            headers,
            &body.to_string().into_bytes(),
            d.byte_per_write,
        );
    }

    // Anthropic, Gemini and OpenAI dialect answers, validated strictly.
    let dialect = crate::dialects::answer(&crate::dialects::Input {
        path: &routed_path,
        query,
        headers: &request.headers,
        json: body_json.as_ref(),
        body_len: request.body.len(),
        number: total,
        d: &d,
    });
    let mut events_override = None;
    match dialect {
        Some(crate::dialects::Answer::Json(s, body)) => {
            let s = if s == 200 { status } else { s };
            return send(stream, request, s, headers, &body, d.byte_per_write);
        }
        Some(crate::dialects::Answer::Stream(events)) => events_override = Some(events),
        None => {}
    }

    let wants_stream = events_override.is_some()
        || d.stream
        || body_json
            .as_ref()
            .and_then(|j| j.get("stream"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
    if wants_stream {
        let plan = StreamPlan {
            events: d.events.unwrap_or(5),
            delay_ms: d.delay_ms.unwrap_or(0),
            error_first: d.error_first,
            error_data_first: d.error_data_first,
            break_after: d.break_after,
            stall_after: d.stall_after,
            crlf: d.crlf,
            byte_per_write: d.byte_per_write,
            include_usage: body_json
                .as_ref()
                .and_then(|j| j.pointer("/stream_options/include_usage"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            model: answers::model_of(body_json.as_ref()),
            number: total,
            prompt_tokens: answers::prompt_tokens(request.body.len()),
            events_override,
        };
        if request.wants_close() {
            headers.push(("Connection".to_string(), "close".to_string()));
        }
        return match stream::write_stream(stream, shared, status, headers, &plan)? {
            Ended::Complete => Ok(Next::KeepAlive),
            Ended::Cut => Ok(Next::Close),
        };
    }

    let body = answers::answer(&AnswerInput {
        path: &routed_path,
        json: body_json.as_ref(),
        body_len: request.body.len(),
        number: total,
        min_size: d.body_size,
    });
    send(stream, request, status, headers, &body, d.byte_per_write)
}

/// Path directives first, then the header's, which override them.
fn parse_directives(path_list: &str, header_list: &str) -> Result<Directives, String> {
    let mut d = Directives::default();
    d.apply(path_list)?;
    d.apply(header_list)?;
    Ok(d)
}

/// Writes a complete JSON response with a Content-Length.
fn send(
    stream: &TcpStream,
    request: &Request,
    status: u16,
    mut headers: Vec<(String, String)>,
    body: &[u8],
    byte_per_write: bool,
) -> std::io::Result<Next> {
    // 204 and 304 never carry a body, and HEAD gets only the head.
    let bodyless = status == 204 || status == 304;
    if !bodyless {
        headers.push(("Content-Type".to_string(), "application/json".to_string()));
        headers.push(("Content-Length".to_string(), body.len().to_string()));
    }
    if request.wants_close() {
        headers.push(("Connection".to_string(), "close".to_string()));
    }
    let mut w = stream;
    http::write_head(&mut w, status, &headers)?;
    if !bodyless && request.method != "HEAD" {
        http::write_body(&mut w, body, byte_per_write)?;
    }
    w.flush()?;
    Ok(Next::KeepAlive)
}
