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

use crate::call::request::{CONTROL_PREFIX, TRANSPORT_HEADERS, check_header, split_controls};
use crate::config::Config;
use crate::error::ErrorKind;
use crate::http::headers::SECRET_HEADERS as AUTH_HEADERS;
use crate::http::sse::{OwnedEvent, SseParser};
use crate::observe::log::redact_body;
use crate::plan::universal::parse_steps;
use crate::providers::provider::{
    BUILTIN_PROVIDERS, Providers, check_base_url, check_configurable_slug,
};

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
        if let Ok((slug, rest)) = crate::providers::provider::split_path(path) {
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
        let _ = crate::http::sse::is_error_event(&e.as_event());
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

// ---- the unified API's translators (src/compat) ----------------------------

/// The caller formats and the target providers (one per upstream dialect)
/// the compat targets pick from with their first byte.
const COMPAT_CALLERS: [crate::compat::Caller; 3] = [
    crate::compat::Caller::Chat,
    crate::compat::Caller::Messages,
    crate::compat::Caller::Embeddings,
];
const COMPAT_PROVIDERS: [&str; 3] = ["anthropic", "google-ai-studio", "openai"];

/// Bases on 127.0.0.1 (nothing is sent) with a path, so a URL that leaves
/// the base's path or origin is seen; each provider holds a stored key.
static COMPAT_CONFIG: Lazy<(Config, Providers)> = Lazy::new(|| {
    let config = Config::parse(Some(&format!(
        r#"{{"providers":{{
            "anthropic":{{"base_url":"http://127.0.0.1:9/ant","api_key":"{CANARY}"}},
            "google-ai-studio":{{"base_url":"http://127.0.0.1:9/goog","api_key":"{CANARY}"}},
            "openai":{{"base_url":"http://127.0.0.1:9/oai/v1","api_key":"{CANARY}"}}}}}}"#
    )))
    .expect("the compat fuzz config");
    let providers = Providers::new(config.providers.clone(), config.account_id.clone());
    (config, providers)
});

/// `compat::plan_step`: the first byte picks the caller's format, the target
/// provider and whether the caller sends a key (the rest is the request
/// body; unless bit 6 is set, a JSON object's `model` is pointed at the
/// picked provider). Never panics; a refusal is an invalid request or an
/// unknown provider and never shows the key; an accepted request's upstream
/// body is JSON (with the provider's model where the format has one), its
/// URL is under the configured base, and the key is in the provider's own
/// header, once.
pub fn compat_request(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let caller = COMPAT_CALLERS[usize::from(pick % 3)];
    let provider = COMPAT_PROVIDERS[usize::from(pick / 3 % 3)];
    let caller_key = pick & 0x80 != 0;
    let mut body = body.to_vec();
    if pick & 0x40 == 0 {
        if let Ok(Value::Object(mut o)) = serde_json::from_slice::<Value>(&body) {
            let model = match o.get("model") {
                Some(Value::String(m)) => m.split_once('/').map_or(m.as_str(), |(_, m)| m),
                _ => "m",
            };
            let model = format!("{provider}/{model}");
            o.insert("model".into(), Value::String(model));
            body = serde_json::to_vec(&o).unwrap();
        }
    }
    let (config, providers) = &*COMPAT_CONFIG;
    let key = format!("{CANARY}-caller");
    let mut headers = vec![("x-other".to_string(), "1".to_string())];
    if caller_key {
        headers.push(("Authorization".into(), format!("Bearer {key}")));
    }
    let settings = crate::config::Controls::default().resolve();
    let drop = pick & 0x20 != 0;
    let step = match crate::compat::plan_step(
        providers, config, caller, &body, headers, drop, 0, settings,
    ) {
        Ok(s) => s,
        Err(e) => {
            assert!(
                matches!(
                    e.kind,
                    ErrorKind::InvalidRequest | ErrorKind::UnknownProvider
                ),
                "{e:?}"
            );
            if !contains(&body, CANARY) {
                assert!(!e.message.contains(CANARY), "a key in {:?}", e.message);
            }
            return;
        }
    };
    let compat = step.compat.as_ref().expect("a compat step");
    let upstream: Value = match serde_json::from_slice(&step.body) {
        Ok(v) => v,
        Err(e) => panic!("the upstream body is not JSON ({e}): {:?}", step.body),
    };
    if compat.dialect != crate::compat::Dialect::Gemini {
        assert_eq!(
            upstream.get("model").and_then(Value::as_str),
            Some(compat.model.as_str()),
            "the upstream model"
        );
    }
    let base = &config.providers[compat.provider.as_str()].base_url;
    assert!(
        step.target.url.starts_with(&format!("{base}/")),
        "URL {:?} is not under {base:?}",
        step.target.url
    );
    check_origin(base, &step.target.url);
    let own = crate::providers::credentials::credential_header(&compat.provider).name;
    let creds: Vec<&(String, String)> = step
        .headers
        .iter()
        .filter(|(n, _)| {
            crate::http::headers::PROVIDER_CREDENTIAL_HEADERS
                .contains(&n.to_ascii_lowercase().as_str())
        })
        .collect();
    let want = if caller_key { key.as_str() } else { CANARY };
    assert!(
        creds.len() == 1
            && creds[0].0.eq_ignore_ascii_case(own)
            && creds[0].1.trim_start_matches("Bearer ") == want,
        "credential headers {creds:?}, want {own}: {want}"
    );
}

/// Records what a translated stream hands the caller.
#[derive(Default)]
struct Recorder {
    bytes: Vec<u8>,
    events: Vec<OwnedEvent>,
}

impl crate::call::stream::StreamSink for Recorder {
    fn on_response(&mut self, _: &crate::call::response::Response) -> bool {
        true
    }
    fn on_data(&mut self, data: &[u8]) -> bool {
        self.bytes.extend_from_slice(data);
        true
    }
    fn on_event(&mut self, event: &crate::http::sse::SseEvent<'_>) -> bool {
        self.events.push(OwnedEvent::from_event(event));
        true
    }
}

/// A fixed, valid request of `caller` for `provider`, planned: the step
/// whose answers `compat_answer` translates.
fn answer_step(
    caller: crate::compat::Caller,
    provider: &str,
    stream: bool,
) -> Option<crate::call::gateway::PlannedStep> {
    use crate::compat::Caller;
    let body = match caller {
        Caller::Chat => serde_json::json!({"model": format!("{provider}/m"), "stream": stream,
            "stream_options": {"include_usage": stream},
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]}),
        Caller::Messages => serde_json::json!({"model": format!("{provider}/m"), "stream": stream,
            "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}]}),
        Caller::Embeddings => {
            serde_json::json!({"model": format!("{provider}/m"), "input": ["a", "b"]})
        }
    };
    let (config, providers) = &*COMPAT_CONFIG;
    let settings = crate::config::Controls::default().resolve();
    let body = body.to_string().into_bytes();
    crate::compat::plan_step(
        providers,
        config,
        caller,
        &body,
        Vec::new(),
        false,
        0,
        settings,
    )
    .ok()
}

/// Checks `bytes` is an SSE stream of `caller`'s format: every event's data
/// is JSON (a chat stream may end in one `[DONE]`, last), and Anthropic
/// events are named for their data's `type`.
fn check_caller_sse(caller: crate::compat::Caller, bytes: &[u8]) -> Vec<OwnedEvent> {
    let mut events = Vec::new();
    let mut parser = SseParser::new(usize::MAX);
    parser
        .feed(bytes, &mut |e| {
            events.push(OwnedEvent::from_event(e));
            true
        })
        .unwrap();
    // The caller's bytes end on an event boundary: nothing is left over.
    assert!(
        bytes.is_empty() || bytes.ends_with(b"\n\n"),
        "the stream ends mid-event: {:?}",
        String::from_utf8_lossy(bytes)
    );
    for (i, e) in events.iter().enumerate() {
        if caller == crate::compat::Caller::Chat && e.data == "[DONE]" {
            assert_eq!(i + 1, events.len(), "[DONE] is not last");
            continue;
        }
        let v: Value = match serde_json::from_str(&e.data) {
            Ok(v) => v,
            Err(err) => panic!("event data is not JSON ({err}): {:?}", e.data),
        };
        match caller {
            crate::compat::Caller::Messages => assert_eq!(
                v.get("type").and_then(Value::as_str),
                Some(e.event.as_str()),
                "event name and data type differ"
            ),
            _ => assert_eq!(e.event, "message", "a chat event with a name"),
        }
    }
    events
}

/// A translated answer: a whole answer by `CompatStep::translate_whole`,
/// a stream through `CompatSink` as the gateway drives it. The first byte
/// picks the caller's format, the upstream provider, streaming and the
/// status (2xx or an error); the second seeds the stream's chunking; the
/// rest is the upstream body. Never panics; the caller gets valid JSON or a
/// valid SSE stream of its own format, or a protocol / interrupted-stream
/// error; the chunking changes nothing the caller sees.
pub fn compat_answer(data: &[u8]) {
    use crate::call::stream::StreamSink;
    use crate::compat::{Caller, CompatSink};
    let [pick, seed, body @ ..] = data else {
        return;
    };
    let caller = COMPAT_CALLERS[usize::from(pick % 3)];
    let provider = COMPAT_PROVIDERS[usize::from(pick / 3 % 3)];
    let stream = pick & 0x40 != 0 && caller != Caller::Embeddings;
    let status = if pick & 0x80 != 0 {
        400 + u16::from(*pick & 0x1f)
    } else {
        200
    };
    let Some(step) = answer_step(caller, provider, stream) else {
        return; // anthropic has no embeddings
    };
    let compat = step.compat.clone().unwrap();
    let content_type = if stream {
        "text/event-stream"
    } else {
        "application/json"
    };
    let head = crate::call::response::Response {
        status,
        headers: [("content-type", content_type)].into_iter().collect(),
        body: Vec::new(),
        step: 0,
    };

    // Whole.
    let mut whole = head.clone();
    whole.body = body.to_vec();
    let whole_ok = match compat.translate_whole(&mut whole) {
        Ok(()) if status != 200 => {
            // Translated, or passed on when already in the caller's shape.
            let v: Value = match serde_json::from_slice(&whole.body) {
                Ok(v) => v,
                Err(e) => panic!("the translated error is not JSON ({e})"),
            };
            let message = v.pointer("/error/message").and_then(Value::as_str);
            assert!(message.is_some(), "an error without a message: {v}");
            if caller == Caller::Messages {
                assert_eq!(v["type"], "error", "not an Anthropic error: {v}");
            }
            true
        }
        Ok(()) if compat.passthrough => {
            assert_eq!(whole.body, body, "a pass-through answer changed");
            true
        }
        Ok(()) if stream => {
            check_caller_sse(caller, &whole.body);
            true
        }
        Ok(()) => {
            let parsed: Result<Value, _> = serde_json::from_slice(&whole.body);
            assert!(parsed.is_ok(), "the translated answer is not JSON");
            true
        }
        Err(e) => {
            assert_eq!(e.kind, ErrorKind::Protocol, "{e:?}");
            assert!(status == 200, "an error answer failed to translate: {e:?}");
            false
        }
    };

    // Through the streaming path, in pieces of random sizes.
    let mut state = u64::from(*seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 48) as usize + 1
    };
    let plan = crate::call::gateway::Plan {
        steps: vec![step],
        universal: false,
        features: Default::default(),
        response_headers: Vec::new(),
        route: None,
    };
    let mut recorder = Recorder::default();
    let mut sink = match CompatSink::wrap(&plan, &mut recorder) {
        Ok(s) => s,
        Err(_) => panic!("a compat plan not wrapped"),
    };
    let mut parser = SseParser::new(crate::http::sse::DEFAULT_MAX_EVENT_BYTES);
    let mut going = sink.on_response(&head);
    let mut rest = body;
    while going && !rest.is_empty() {
        let n = random().min(rest.len());
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        going = sink.on_data(piece);
        if going && stream && status == 200 {
            let fed = parser.feed(piece, &mut |e| sink.on_event(e));
            going = matches!(fed, Ok(true));
        }
    }
    let failure = sink.take_failure();
    let finished = if going { sink.finish() } else { Ok(()) };
    drop(sink);
    let finished_ok = finished.is_ok();
    if !going {
        let e = failure.expect("the translation stopped without a reason");
        assert_eq!(e.kind, ErrorKind::StreamInterrupted, "{e:?}");
        assert!(
            !whole_ok || compat.passthrough,
            "pieces failed where the whole passed: {e:?}"
        );
    } else if let Err(e) = finished {
        assert!(
            matches!(e.kind, ErrorKind::Protocol | ErrorKind::StreamInterrupted),
            "{e:?}"
        );
    }
    if status == 200 && going {
        assert_eq!(
            finished_ok, whole_ok,
            "the streaming path and the whole answer disagree"
        );
        if finished_ok && !stream && !compat.passthrough {
            let parsed: Result<Value, _> = serde_json::from_slice(&recorder.bytes);
            assert!(parsed.is_ok(), "the streamed whole answer is not JSON");
        }
    }
    if stream && status == 200 && !compat.passthrough {
        let events = check_caller_sse(caller, &recorder.bytes);
        assert_eq!(events, recorder.events, "on_event and on_data disagree");
        if going && whole_ok {
            let names = |b: &[u8]| {
                let mut v = Vec::new();
                SseParser::new(usize::MAX)
                    .feed(b, &mut |e| {
                        v.push(e.event.to_string());
                        true
                    })
                    .unwrap();
                v
            };
            assert_eq!(
                names(&recorder.bytes),
                names(&whole.body),
                "the chunking changed the stream"
            );
        }
    }
}
