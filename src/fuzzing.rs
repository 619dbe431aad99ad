//! Entry points for the coverage-guided fuzz targets in `fuzz/` (not API).
//! Each takes the fuzzer's raw bytes, runs one parser or builder of the core
//! and panics when an oracle (a property every input must keep) fails.
//! Depends on the core modules only.
//!
//! `AIGW_FUZZ_KNOWN_DEFECTS` (a comma-separated list of issue-10 defect
//! numbers: 1, 2, 5) turns off the oracle that detects that defect, so a run
//! can look for other bugs while a known one is still open.

use once_cell::sync::Lazy;
use serde_json::Value;

use crate::cache::AUTH_HEADERS;
use crate::config::Config;
use crate::error::ErrorKind;
use crate::log::redact_body;
use crate::provider::{BUILTIN_PROVIDERS, Providers, check_base_url, check_configurable_slug};
use crate::request::{CONTROL_PREFIX, TRANSPORT_HEADERS, check_header, split_controls};
use crate::sse::{OwnedEvent, SseParser};
use crate::universal::parse_steps;

static KNOWN_DEFECTS: Lazy<Vec<u32>> = Lazy::new(|| {
    std::env::var("AIGW_FUZZ_KNOWN_DEFECTS")
        .unwrap_or_default()
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect()
});

fn known(defect: u32) -> bool {
    KNOWN_DEFECTS.contains(&defect)
}

/// Stands for a credential: the fuzz inputs write `$K` where one goes.
pub const CANARY: &str = "sk-aigw-fuzz-canary-9b1f";

fn with_canary(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut rest = data;
    while let Some(at) = memchr::memmem::find(rest, b"$K") {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(CANARY.as_bytes());
        rest = &rest[at + 2..];
    }
    out.extend_from_slice(rest);
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    memchr::memmem::find(haystack, needle.as_bytes()).is_some()
}

/// Undoes JSON string escapes anywhere in `text`, so a credential written
/// as `sk\u002d...` is still found.
fn unescape(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] != b'\\' || i + 1 == text.len() {
            out.push(text[i]);
            i += 1;
            continue;
        }
        let hex = text
            .get(i + 2..i + 6)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok());
        match (text[i + 1], hex) {
            (b'u', Some(code)) => {
                let c = char::from_u32(code).unwrap_or('\u{FFFD}');
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                i += 6;
            }
            (c, _) => {
                out.push(match c {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 8,
                    b'f' => 12,
                    other => other,
                });
                i += 2;
            }
        }
    }
    out
}

/// `universal::parse_steps`: never panics; an accepted body has steps with
/// a provider slug and checked headers, and each step's `query` is the
/// caller's bytes, verbatim.
pub fn universal(data: &[u8]) {
    match parse_steps(data) {
        Ok(steps) => {
            assert!(!steps.is_empty(), "accepted a body with no steps");
            for step in &steps {
                assert!(
                    !step.provider.is_empty() && !step.provider.contains(['/', '?']),
                    "accepted provider {:?}",
                    step.provider
                );
                for (name, value) in &step.headers {
                    assert!(
                        check_header(name, value).is_ok(),
                        "accepted header {name:?}: {value:?}"
                    );
                }
                if let Some(body) = &step.body {
                    assert!(
                        memchr::memmem::find(data, body).is_some(),
                        "query is not the caller's bytes"
                    );
                }
            }
            assert_eq!(parse_steps(data).ok(), Some(steps), "not deterministic");
        }
        Err(e) => assert_eq!(e.kind, ErrorKind::InvalidRequest, "{e:?}"),
    }
}

/// `Config::parse` on UTF-8 text: never panics; what it accepts is valid,
/// and every provider it configures builds URLs on its base's origin.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config = match Config::parse(Some(text)) {
        Ok(c) => c,
        Err(e) => {
            assert_eq!(e.kind, ErrorKind::InvalidConfig, "{e:?}");
            return;
        }
    };
    let providers = Providers::new(config.providers.clone(), config.account_id.clone());
    for (slug, o) in &config.providers {
        assert!(
            check_configurable_slug(slug).is_ok(),
            "accepted slug {slug:?}"
        );
        assert!(check_base_url(&o.base_url).is_ok(), "accepted {o:?}");
        let rest = if slug == "azure-openai" {
            "res/dep/chat/completions?api-version=1"
        } else {
            "v1/chat/completions"
        };
        check_target(&providers, &config, slug, rest);
    }
}

/// Builds the target and checks the URL's origin is the configured base's.
fn check_target(providers: &Providers, config: &Config, slug: &str, rest: &str) {
    let target = match providers.target(slug, rest) {
        Ok(t) => t,
        Err(e) => {
            assert!(
                matches!(
                    e.kind,
                    ErrorKind::InvalidRequest
                        | ErrorKind::InvalidConfig
                        | ErrorKind::UnknownProvider
                ),
                "{e:?}"
            );
            return;
        }
    };
    let base = match config.providers.get(slug) {
        Some(o) => o.base_url.as_str(),
        None => match BUILTIN_PROVIDERS.iter().find(|b| b.slug == slug) {
            Some(b) => b.base_url,
            None => panic!("built a target for unknown provider {slug:?}"),
        },
    };
    if known(1) && slug == "azure-openai" && azure_placeholders_unsafe(rest) {
        return;
    }
    check_origin(base, &target.url);
}

/// Known defect 1: azure-openai pastes the resource and deployment segments
/// in unchecked. These are the values a fixed gateway must refuse or that a
/// host template cannot hold.
fn azure_placeholders_unsafe(rest: &str) -> bool {
    let path = rest.split('?').next().unwrap_or("").trim_start_matches('/');
    path.splitn(3, '/').take(2).any(|s| {
        !s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Placeholders in a base stand for one host label (or path segment).
const PLACEHOLDER: &str = "aigwplaceholder";

/// The oracle of URL building: parsed as the transport (ureq, through the
/// `http` crate) parses it, the URL's scheme, host and port are the base's,
/// with each `{placeholder}` of the base's host matching one label.
fn check_origin(base: &str, url: &str) {
    let Some(got) = origin(url) else {
        // Unparseable: the transport refuses it, nothing is sent.
        return;
    };
    let template = replace_placeholders(base);
    let Some(want) = origin(&template) else {
        return;
    };
    let same_host = host_matches(&want.1.to_ascii_lowercase(), &got.1.to_ascii_lowercase());
    assert!(
        got.0 == want.0 && same_host && got.2 == want.2,
        "URL {url:?} leaves the origin of base {base:?}: got {got:?}, base is {want:?}"
    );
}

/// Scheme, host and port (the scheme's default if none) as ureq sees them.
fn origin(url: &str) -> Option<(String, String, u16)> {
    let uri: ureq::http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let port = uri.port_u16().unwrap_or(default);
    Some((scheme, uri.host()?.to_string(), port))
}

fn replace_placeholders(base: &str) -> String {
    let mut out = String::with_capacity(base.len());
    let mut rest = base;
    while let Some(open) = rest.find('{') {
        match rest[open..].find('}') {
            Some(close) => {
                out.push_str(&rest[..open]);
                out.push_str(PLACEHOLDER);
                rest = &rest[open + close + 1..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

/// Whether `host` is `pattern` with each placeholder replaced by one label
/// (tried at every length: a label may run into the literal after it).
fn host_matches(pattern: &str, host: &str) -> bool {
    let host = host.as_bytes();
    let is_label = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    // reach[i]: the pattern read so far can end at host[i].
    let mut reach = vec![false; host.len() + 1];
    reach[0] = true;
    for (k, literal) in pattern.split(PLACEHOLDER).enumerate() {
        if k > 0 {
            let mut next = vec![false; host.len() + 1];
            for start in (0..host.len()).filter(|&i| reach[i]) {
                for end in start + 1..=host.len() {
                    if !is_label(host[end - 1]) {
                        break;
                    }
                    next[end] = true;
                }
            }
            reach = next;
        }
        let literal = literal.as_bytes();
        let mut next = vec![false; host.len() + 1];
        for i in (0..=host.len()).filter(|&i| reach[i]) {
            if host[i..].starts_with(literal) {
                next[i + literal.len()] = true;
            }
        }
        reach = next;
    }
    reach[host.len()]
}

/// `Providers::target` from a gateway path or a Universal step, with config
/// overrides. Input lines: mode+path (`P<path>`, or `U<provider>\t<endpoint>`),
/// account id (empty: none), then `<slug> <base_url>` overrides.
pub fn url(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or("");
    let account = lines.next().unwrap_or("");
    let mut providers = serde_json::Map::new();
    for line in lines {
        let (slug, base) = line.split_once(' ').unwrap_or((line, ""));
        providers.insert(slug.into(), serde_json::json!({ "base_url": base }));
    }
    let mut doc = serde_json::json!({ "providers": providers });
    if !account.is_empty() {
        doc["account_id"] = account.into();
    }
    let Ok(config) = Config::parse(Some(&doc.to_string())) else {
        return;
    };
    let gateway = Providers::new(config.providers.clone(), config.account_id.clone());
    if let Some(path) = first.strip_prefix('P') {
        if let Ok((slug, rest)) = crate::provider::split_path(path) {
            check_target(&gateway, &config, slug, rest);
        }
    } else if let Some(step) = first.strip_prefix('U') {
        let (provider, endpoint) = step.split_once('\t').unwrap_or((step, ""));
        let body = serde_json::json!({ "provider": provider, "endpoint": endpoint });
        if let Ok(steps) = parse_steps(body.to_string().as_bytes()) {
            check_target(&gateway, &config, &steps[0].provider, &steps[0].endpoint);
        }
    }
}

/// Marks a control header value the error messages must not quote.
const CONTROL_CANARY: &str = "SEKRIT";

/// `request::split_controls` on `name: value` lines: control headers are
/// consumed, transport headers dropped, all others forwarded in order; an
/// error names the header, never quotes its value (known defect 5).
pub fn controls(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let headers: Vec<(String, String)> = text
        .split('\n')
        .map(|line| {
            let (n, v) = line.split_once(':').unwrap_or((line, ""));
            (n.to_string(), v.to_string())
        })
        .collect();
    let is_control = |n: &str| n.to_ascii_lowercase().starts_with(CONTROL_PREFIX);
    let is_transport = |n: &str| TRANSPORT_HEADERS.contains(&n.to_ascii_lowercase().as_str());
    match split_controls(&headers) {
        Ok((_, forward)) => {
            let expected: Vec<&(String, String)> = headers
                .iter()
                .filter(|(n, _)| !is_control(n) && !is_transport(n))
                .collect();
            assert!(
                forward.iter().eq(expected.iter().copied()),
                "forwarded {forward:?}, expected {expected:?}"
            );
        }
        Err(e) => {
            assert_eq!(e.kind, ErrorKind::InvalidRequest, "{e:?}");
            assert!(e.message.starts_with("header "), "{e:?}");
            let named = headers.iter().any(|(n, _)| n.contains(CONTROL_CANARY));
            if !known(5) && !named {
                assert!(
                    !e.message.contains(CONTROL_CANARY),
                    "error quotes a header value: {:?}",
                    e.message
                );
            }
        }
    }
}

fn parse_all(
    stream: &[u8],
    limit: usize,
    sizes: &mut dyn FnMut() -> usize,
) -> (Vec<OwnedEvent>, bool, Option<u64>) {
    let mut parser = SseParser::new(limit);
    let mut events = Vec::new();
    let mut rest = stream;
    loop {
        let n = sizes().min(rest.len());
        let fed = parser.feed(&rest[..n], &mut |e| {
            events.push(OwnedEvent::from_event(e));
            true
        });
        if fed.is_err() {
            return (events, false, parser.retry_ms());
        }
        rest = &rest[n..];
        if rest.is_empty() {
            return (events, true, parser.retry_ms());
        }
    }
}

/// The WHATWG event-stream rules written as plainly as possible, on the
/// whole stream at once: the reference `SseParser` is compared with.
fn reference_events(stream: &[u8]) -> Vec<OwnedEvent> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let s = stream.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(stream);
    let mut lines = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < s.len() {
        match s[i] {
            b'\n' => {
                lines.push(&s[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&s[start..i]);
                if s.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    let (mut events, mut event, mut data, mut id) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for line in lines {
        if line.is_empty() {
            if !data.is_empty() {
                data.pop();
                events.push(OwnedEvent {
                    event: if event.is_empty() {
                        "message".into()
                    } else {
                        text(&event)
                    },
                    data: text(&data),
                    id: text(&id),
                });
            }
            data.clear();
            event.clear();
            continue;
        }
        if line[0] == b':' {
            continue;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(c) => (
                &line[..c],
                line[c + 1..].strip_prefix(b" ").unwrap_or(&line[c + 1..]),
            ),
            None => (line, &b""[..]),
        };
        match field {
            b"event" => event = value.to_vec(),
            b"data" => {
                data.extend_from_slice(value);
                data.push(b'\n');
            }
            b"id" if !value.contains(&0) => id = value.to_vec(),
            _ => {}
        }
    }
    events
}

/// `sse::SseParser`: the first 8 bytes seed the chunking, the rest is the
/// stream. However the stream is split, the same events come out, and they
/// are the reference's; a small size limit only ever cuts the events short.
pub fn sse(data: &[u8]) {
    let (seed, stream) = data.split_at(data.len().min(8));
    let mut state = seed.iter().fold(0x9E37_79B9_7F4A_7C15u64, |s, &b| {
        (s ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
    }) | 1;
    let max_piece = (state % 64) as usize + 1;
    let limit = (state >> 8) as usize % 512 + 1;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        // Empty pieces too: a read may return nothing.
        (state % (max_piece as u64 + 1)) as usize
    };
    let unlimited = usize::MAX;
    let (whole, ok, retry) = parse_all(stream, unlimited, &mut || usize::MAX);
    assert!(ok, "an unlimited parser failed");
    let (pieces, ok, retry_pieces) = parse_all(stream, unlimited, &mut random);
    assert!(ok, "an unlimited parser failed");
    assert_eq!(
        whole, pieces,
        "the split changed the events (pieces up to {max_piece})"
    );
    assert_eq!(retry, retry_pieces, "the split changed the retry value");
    assert_eq!(
        whole,
        reference_events(stream),
        "events differ from the reference"
    );
    for e in &whole {
        assert!(!e.event.contains(['\r', '\n']), "{e:?}");
        assert!(!e.id.contains(['\r', '\n', '\0']), "{e:?}");
        assert!(!e.data.contains('\r'), "{e:?}");
        let _ = crate::sse::is_error_event(&e.as_event());
    }
    for sizes in [
        &mut (|| usize::MAX) as &mut dyn FnMut() -> usize,
        &mut random,
    ] {
        let (cut, _, _) = parse_all(stream, limit, sizes);
        let differ = cut.iter().zip(&whole).position(|(a, b)| a != b);
        assert!(
            whole.starts_with(&cut),
            "limit {limit} changed the events: {} events, {} without the limit; \
             first difference at {differ:?}: {:?}",
            cut.len(),
            whole.len(),
            differ.map(|i| (&cut[i], &whole[i]))
        );
        for e in &cut {
            // The data bytes were counted (lossy UTF-8 may triple them).
            assert!(e.data.len() <= 3 * limit, "event over limit {limit}: {e:?}");
        }
    }
}

/// `log::redact_body`: a credential (written `$K` in the input) placed only
/// in an accepted Universal body's `authorization` or credential headers
/// never appears in the log's copy of the body (known defect 2: when the
/// redactor's own re-parse fails).
pub fn redact(data: &[u8]) {
    let body = with_canary(data);
    let Ok(steps) = parse_steps(&body) else {
        return;
    };
    let mut in_credential = false;
    for step in &steps {
        if step.provider.contains(CANARY) || step.endpoint.contains(CANARY) {
            return;
        }
        if step
            .body
            .as_deref()
            .is_some_and(|b| contains(&unescape(b), CANARY))
        {
            return;
        }
        for (name, value) in &step.headers {
            if name.contains(CANARY) {
                return;
            }
            if AUTH_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                in_credential |= value.contains(CANARY);
            } else if value.contains(CANARY) {
                return;
            }
        }
    }
    if !in_credential {
        return;
    }
    if known(2) && serde_json::from_slice::<Value>(&body).is_err() {
        return;
    }
    let logged = redact_body(&body);
    assert!(
        !contains(&unescape(logged.as_bytes()), CANARY),
        "a credential reached the log: {logged}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(
            with_canary(b"a$Kb$K"),
            format!("a{CANARY}b{CANARY}").as_bytes()
        );
        assert_eq!(unescape(br#"sk\u002dx\/\n\"#), b"sk-x/\n\\");
        assert!(host_matches(
            "aigwplaceholder.openai.azure.com",
            "res-1.openai.azure.com"
        ));
        assert!(!host_matches(
            "aigwplaceholder.openai.azure.com",
            "a.b.openai.azure.com"
        ));
        assert!(!host_matches(
            "aigwplaceholder.openai.azure.com",
            "localhost"
        ));
        assert_eq!(
            replace_placeholders("https://{resource}.x/{deployment}"),
            "https://aigwplaceholder.x/aigwplaceholder"
        );
        assert!(azure_placeholders_unsafe("x@127.0.0.1:/dep/x"));
        assert!(!azure_placeholders_unsafe("res/dep/chat"));
    }

    #[test]
    fn the_oracles_hold_on_good_inputs() {
        universal(br#"[{"provider":"openai","endpoint":"chat","query":{"a":1}}]"#);
        config(br#"{"providers":{"openai":{"base_url":"http://127.0.0.1:1/v1"}}}"#);
        url(b"Popenai/chat/completions\n\ncustom-x http://127.0.0.1:9/v1");
        url(b"Uworkers-ai\t@cf/meta/x\nACCT");
        controls(b"cf-aig-max-attempts: 3\nx-a: 1\nHost: h");
        sse(b"12345678data: a\r\n\r\nevent: e\rdata: b\n\n");
        redact(br#"{"provider":"openai","endpoint":"x","authorization":"Bearer $K"}"#);
    }

    #[test]
    #[should_panic(expected = "leaves the origin")]
    fn the_url_oracle_sees_a_foreign_host() {
        check_origin(
            "https://{resource}.openai.azure.com/openai",
            "https://x@127.0.0.1:8443/.openai.azure.com/openai",
        );
    }
}
