//! Tokens and cost: reading a provider's usage report out of a response
//! (plain JSON or a stream of events) and pricing it.

use serde::Deserialize;
use serde_json::Value;

use crate::json::scan::{Scan, once};

/// Token counts a response reported. Either may be missing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub tokens_in: Option<u64>,
    pub tokens_out: Option<u64>,
}

impl Usage {
    pub fn is_empty(&self) -> bool {
        self.tokens_in.is_none() && self.tokens_out.is_none()
    }

    /// Later reports win field by field (a stream's final chunk, Anthropic's
    /// `message_delta` after `message_start`).
    fn merge(&mut self, later: Usage) {
        self.tokens_in = later.tokens_in.or(self.tokens_in);
        self.tokens_out = later.tokens_out.or(self.tokens_out);
    }
}

fn count(v: &Value, path: &[&str]) -> Option<u64> {
    let mut v = v;
    for key in path {
        v = v.get(key)?;
    }
    v.as_u64()
        .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
}

/// The usage in one JSON document: a whole response body, or one streamed
/// event's data. Knows every format the built-in providers use:
/// - OpenAI and compatibles: `usage.prompt_tokens` / `usage.completion_tokens`
/// - Anthropic: `usage.input_tokens` / `usage.output_tokens`, and in streams
///   `message.usage` of `message_start`
/// - Google: `usageMetadata.promptTokenCount` / `candidatesTokenCount`
/// - Workers AI: the same fields under `result.usage` (or top-level `usage`
///   in streams)
/// - Cohere: `meta.billed_units` (v1), `usage.billed_units` or
///   `usage.tokens` (v2), and `response.meta.billed_units` in v1 stream-end
///   events, `delta.usage.billed_units` in v2 message-end events
pub fn usage_in(doc: &Value) -> Usage {
    // Later entries win where several are present (Cohere's billed units
    // over its raw token counts).
    let candidates: [&[&str]; 9] = [
        &["usage"],
        &["message", "usage"],
        &["result", "usage"],
        &["response", "usage"],
        &["usage", "tokens"],
        &["usage", "billed_units"],
        &["meta", "billed_units"],
        &["response", "meta", "billed_units"],
        &["delta", "usage", "billed_units"],
    ];
    let mut found = Usage::default();
    for path in candidates {
        let Some(u) = path.iter().try_fold(doc, |v, key| v.get(key)) else {
            continue;
        };
        if !u.is_object() {
            continue;
        }
        let usage = Usage {
            tokens_in: count(u, &["prompt_tokens"])
                .or_else(|| count(u, &["input_tokens"]))
                .or_else(|| count(u, &["inputTokens"])),
            tokens_out: count(u, &["completion_tokens"])
                .or_else(|| count(u, &["output_tokens"]))
                .or_else(|| count(u, &["outputTokens"])),
        };
        found.merge(usage);
    }
    if let Some(meta) = doc.get("usageMetadata") {
        found.merge(Usage {
            tokens_in: count(meta, &["promptTokenCount"]),
            tokens_out: count(meta, &["candidatesTokenCount"]),
        });
    }
    found
}

// A typed view of just the fields `usage_in` reads. Deserialising into it
// skips everything else without building a tree, which profiles showed to
// be most of a request's JSON cost. Documents whose fields have other
// shapes (a string `result`, say) fail here and take the `Value` path.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Counts {
    prompt_tokens: Option<f64>,
    completion_tokens: Option<f64>,
    input_tokens: Option<f64>,
    output_tokens: Option<f64>,
    #[serde(rename = "inputTokens")]
    input_tokens_camel: Option<f64>,
    #[serde(rename = "outputTokens")]
    output_tokens_camel: Option<f64>,
    billed_units: Option<Box<Counts>>,
    tokens: Option<Box<Counts>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Meta {
    billed_units: Option<Counts>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Holder {
    usage: Option<Counts>,
    meta: Option<Meta>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct GoogleUsage {
    #[serde(rename = "promptTokenCount")]
    prompt: Option<f64>,
    #[serde(rename = "candidatesTokenCount")]
    candidates: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Doc {
    usage: Option<Counts>,
    message: Option<Holder>,
    result: Option<Holder>,
    response: Option<Holder>,
    meta: Option<Meta>,
    delta: Option<Holder>,
    #[serde(rename = "usageMetadata")]
    usage_metadata: Option<GoogleUsage>,
}

fn tokens(v: Option<f64>) -> Option<u64> {
    v.filter(|f| *f >= 0.0).map(|f| f as u64)
}

impl Counts {
    fn usage(&self) -> Usage {
        Usage {
            tokens_in: tokens(
                self.prompt_tokens
                    .or(self.input_tokens)
                    .or(self.input_tokens_camel),
            ),
            tokens_out: tokens(
                self.completion_tokens
                    .or(self.output_tokens)
                    .or(self.output_tokens_camel),
            ),
        }
    }
}

impl Doc {
    /// The same places, in the same order, as `usage_in`.
    fn usage(&self) -> Usage {
        let usage = self.usage.as_ref();
        let places = [
            usage,
            self.message.as_ref().and_then(|h| h.usage.as_ref()),
            self.result.as_ref().and_then(|h| h.usage.as_ref()),
            self.response.as_ref().and_then(|h| h.usage.as_ref()),
            usage.and_then(|u| u.tokens.as_deref()),
            usage.and_then(|u| u.billed_units.as_deref()),
            self.meta.as_ref().and_then(|m| m.billed_units.as_ref()),
            self.response
                .as_ref()
                .and_then(|h| h.meta.as_ref())
                .and_then(|m| m.billed_units.as_ref()),
            self.delta
                .as_ref()
                .and_then(|h| h.usage.as_ref())
                .and_then(|u| u.billed_units.as_deref()),
        ];
        let mut found = Usage::default();
        for counts in places.into_iter().flatten() {
            found.merge(counts.usage());
        }
        if let Some(g) = &self.usage_metadata {
            found.merge(Usage {
                tokens_in: tokens(g.prompt),
                tokens_out: tokens(g.candidates),
            });
        }
        found
    }
}

/// Whether a text can hold a usage report at all: most stream events and
/// many bodies do not, and are then not parsed.
fn mentions_usage(text: &[u8]) -> bool {
    static USAGE: once_cell::sync::Lazy<memchr::memmem::Finder<'static>> =
        once_cell::sync::Lazy::new(|| memchr::memmem::Finder::new("usage"));
    static BILLED: once_cell::sync::Lazy<memchr::memmem::Finder<'static>> =
        once_cell::sync::Lazy::new(|| memchr::memmem::Finder::new("billed_units"));
    USAGE.find(text).is_some() || BILLED.find(text).is_some()
}

/// The usage in one JSON text (a body, or one event's data).
fn usage_of_text(text: &[u8]) -> Usage {
    if !mentions_usage(text) {
        return Usage::default();
    }
    if let Some(doc) = scan_doc(text) {
        return doc.usage();
    }
    match serde_json::from_slice::<Doc>(text) {
        Ok(doc) => doc.usage(),
        Err(_) => usage_of_value_text(text),
    }
}

// The fast path: the same typed view read by the hand-written scanner,
// without serde. It gives up (`None`) on anything it is not sure to read
// exactly as the `Doc` deserialisation does (a duplicate field, a number
// past 15 digits, a field of another type), and the caller then takes the
// serde path. On an OpenAI answer of 1 KB it is most of the usage read's
// cost gone: serde walks every skipped member through its visitor.
fn scan_doc(text: &[u8]) -> Option<Doc> {
    let mut s = Scan::new(text);
    let mut doc = Doc::default();
    let mut seen = 0u32;
    s.object(|s, key| {
        match key {
            "usage" => {
                once(&mut seen, 0)?;
                doc.usage = s.opt(scan_counts)?;
            }
            "message" => {
                once(&mut seen, 1)?;
                doc.message = s.opt(scan_holder)?;
            }
            "result" => {
                once(&mut seen, 2)?;
                doc.result = s.opt(scan_holder)?;
            }
            "response" => {
                once(&mut seen, 3)?;
                doc.response = s.opt(scan_holder)?;
            }
            "meta" => {
                once(&mut seen, 4)?;
                doc.meta = s.opt(scan_meta)?;
            }
            "delta" => {
                once(&mut seen, 5)?;
                doc.delta = s.opt(scan_holder)?;
            }
            "usageMetadata" => {
                once(&mut seen, 6)?;
                doc.usage_metadata = s.opt(scan_google)?;
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    s.end()?;
    Some(doc)
}

fn scan_counts(s: &mut Scan<'_>) -> Option<Counts> {
    let mut c = Counts::default();
    let mut seen = 0u32;
    s.object(|s, key| {
        match key {
            "prompt_tokens" => {
                once(&mut seen, 0)?;
                c.prompt_tokens = s.opt(Scan::f64)?;
            }
            "completion_tokens" => {
                once(&mut seen, 1)?;
                c.completion_tokens = s.opt(Scan::f64)?;
            }
            "input_tokens" => {
                once(&mut seen, 2)?;
                c.input_tokens = s.opt(Scan::f64)?;
            }
            "output_tokens" => {
                once(&mut seen, 3)?;
                c.output_tokens = s.opt(Scan::f64)?;
            }
            "inputTokens" => {
                once(&mut seen, 4)?;
                c.input_tokens_camel = s.opt(Scan::f64)?;
            }
            "outputTokens" => {
                once(&mut seen, 5)?;
                c.output_tokens_camel = s.opt(Scan::f64)?;
            }
            "billed_units" => {
                once(&mut seen, 6)?;
                c.billed_units = s.opt(|s| scan_counts(s).map(Box::new))?;
            }
            "tokens" => {
                once(&mut seen, 7)?;
                c.tokens = s.opt(|s| scan_counts(s).map(Box::new))?;
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(c)
}

fn scan_holder(s: &mut Scan<'_>) -> Option<Holder> {
    let mut h = Holder::default();
    let mut seen = 0u32;
    s.object(|s, key| {
        match key {
            "usage" => {
                once(&mut seen, 0)?;
                h.usage = s.opt(scan_counts)?;
            }
            "meta" => {
                once(&mut seen, 1)?;
                h.meta = s.opt(scan_meta)?;
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(h)
}

fn scan_meta(s: &mut Scan<'_>) -> Option<Meta> {
    let mut m = Meta::default();
    let mut seen = 0u32;
    s.object(|s, key| {
        match key {
            "billed_units" => {
                once(&mut seen, 0)?;
                m.billed_units = s.opt(scan_counts)?;
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(m)
}

fn scan_google(s: &mut Scan<'_>) -> Option<GoogleUsage> {
    let mut g = GoogleUsage::default();
    let mut seen = 0u32;
    s.object(|s, key| {
        match key {
            "promptTokenCount" => {
                once(&mut seen, 0)?;
                g.prompt = s.opt(Scan::f64)?;
            }
            "candidatesTokenCount" => {
                once(&mut seen, 1)?;
                g.candidates = s.opt(Scan::f64)?;
            }
            _ => s.skip()?,
        }
        Some(())
    })?;
    Some(g)
}

/// Usage of a whole response body: a JSON document, or an event stream
/// read whole (a `"stream": true` answer to `aigw_send`), whose events
/// carry it.
pub fn usage_of_body(body: &[u8]) -> Usage {
    if !looks_like_event_stream(body) {
        return usage_of_text(body);
    }
    let mut usage = StreamUsage::default();
    let mut parser = crate::http::sse::SseParser::new(body.len().max(1));
    let _ = parser.feed(body, &mut |event| {
        usage.event(&event.data);
        true
    });
    usage.usage()
}

/// Whether a body opens like `text/event-stream` (a field or a comment),
/// which no JSON document does.
fn looks_like_event_stream(body: &[u8]) -> bool {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&body[..0], |i| &body[i..]);
    [&b"data:"[..], b"event:", b"id:", b"retry:", b":"]
        .iter()
        .any(|field| start.starts_with(field))
}

/// The slow path: any JSON shape, through a `Value` tree.
fn usage_of_value_text(body: &[u8]) -> Usage {
    match serde_json::from_slice::<Value>(body) {
        Ok(doc @ Value::Object(_)) => usage_in(&doc),
        // Google's streamGenerateContent without SSE answers a JSON array.
        Ok(Value::Array(items)) => {
            let mut usage = Usage::default();
            for item in &items {
                usage.merge(usage_in(item));
            }
            usage
        }
        _ => Usage::default(),
    }
}

/// The usage one stream event's data reports, if any.
pub fn usage_of_event(data: &str) -> Usage {
    if data.starts_with('{') {
        usage_of_text(data.as_bytes())
    } else {
        Usage::default()
    }
}

/// Accumulates usage over a stream's events.
#[derive(Debug, Default)]
pub struct StreamUsage {
    usage: Usage,
}

impl StreamUsage {
    /// Looks at one event's data. Cheap for events without usage: the JSON
    /// is parsed only when the text mentions a usage field.
    pub fn event(&mut self, data: &str) {
        self.add(usage_of_event(data));
    }

    /// Adds what one event reported (see [`usage_of_event`]).
    pub fn add(&mut self, usage: Usage) {
        self.usage.merge(usage);
    }

    pub fn usage(&self) -> Usage {
        self.usage
    }
}

/// A caller's own prices (`cf-aig-custom-cost`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CustomCost {
    PerToken { input: f64, output: f64 },
    Total(f64),
}

impl CustomCost {
    /// Parses `{"per_token_in":..,"per_token_out":..}` or `{"total_cost":..}`.
    pub fn parse(text: &str) -> Result<CustomCost, String> {
        let doc: serde_json::Map<String, Value> =
            serde_json::from_str(text).map_err(|_| "expected a JSON object".to_string())?;
        let number = |key: &str| -> Result<Option<f64>, String> {
            match doc.get(key) {
                None => Ok(None),
                Some(v) => v
                    .as_f64()
                    .filter(|f| f.is_finite() && *f >= 0.0)
                    .map(Some)
                    .ok_or_else(|| format!("{key} must be a non-negative number")),
            }
        };
        // An unknown key is not quoted: it is part of a header value.
        if doc
            .keys()
            .any(|k| !["per_token_in", "per_token_out", "total_cost"].contains(&k.as_str()))
        {
            return Err(
                "unknown key (expected per_token_in, per_token_out or total_cost)".to_string(),
            );
        }
        match (
            number("per_token_in")?,
            number("per_token_out")?,
            number("total_cost")?,
        ) {
            (None, None, Some(total)) => Ok(CustomCost::Total(total)),
            (input, output, None) if input.is_some() || output.is_some() => {
                Ok(CustomCost::PerToken {
                    input: input.unwrap_or(0.0),
                    output: output.unwrap_or(0.0),
                })
            }
            _ => Err("give per_token_in/per_token_out, or total_cost alone".into()),
        }
    }
}

/// USD per million tokens, input and output, for the common models of the
/// built-in providers (list prices; matched by the longest model-name prefix,
/// so dated variants such as `gpt-4o-mini-2024-07-18` match). A model not
/// listed has no cost unless `cf-aig-custom-cost` gives one.
pub const PRICES: &[(&str, f64, f64)] = &[
    // OpenAI
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-4-turbo", 10.00, 30.00),
    ("gpt-4", 30.00, 60.00),
    ("gpt-3.5-turbo", 0.50, 1.50),
    ("o1-mini", 1.10, 4.40),
    ("o1", 15.00, 60.00),
    ("o3-mini", 1.10, 4.40),
    ("o4-mini", 1.10, 4.40),
    ("text-embedding-3-small", 0.02, 0.0),
    ("text-embedding-3-large", 0.13, 0.0),
    // Anthropic
    ("claude-3-5-sonnet", 3.00, 15.00),
    ("claude-3-7-sonnet", 3.00, 15.00),
    ("claude-sonnet-4", 3.00, 15.00),
    ("claude-3-5-haiku", 0.80, 4.00),
    ("claude-3-haiku", 0.25, 1.25),
    ("claude-3-opus", 15.00, 75.00),
    ("claude-opus-4", 15.00, 75.00),
    // Google
    ("gemini-1.5-flash", 0.075, 0.30),
    ("gemini-1.5-pro", 1.25, 5.00),
    ("gemini-2.0-flash", 0.10, 0.40),
    ("gemini-2.5-flash", 0.30, 2.50),
    ("gemini-2.5-pro", 1.25, 10.00),
    // Mistral
    ("mistral-large", 2.00, 6.00),
    ("mistral-small", 0.20, 0.60),
    ("open-mistral-nemo", 0.15, 0.15),
    // Groq, Cerebras, Workers AI (Llama)
    ("llama-3.1-8b", 0.05, 0.08),
    ("llama-3.3-70b", 0.59, 0.79),
    ("llama3-70b", 0.59, 0.79),
    ("llama3-8b", 0.05, 0.08),
    ("@cf/meta/llama-3.1-8b-instruct", 0.28, 0.83),
    // DeepSeek, xAI, Cohere, Perplexity
    ("deepseek-chat", 0.27, 1.10),
    ("deepseek-reasoner", 0.55, 2.19),
    ("grok-2", 2.00, 10.00),
    ("grok-3", 3.00, 15.00),
    ("command-r-plus", 2.50, 10.00),
    ("command-r", 0.15, 0.60),
    ("sonar-pro", 3.00, 15.00),
    ("sonar", 1.00, 1.00),
];

/// The list price of a model, per token (input, output).
pub fn price_of(model: &str) -> Option<(f64, f64)> {
    // OpenRouter-style "vendor/model" names price as the model.
    let bare =
        model.rsplit_once('/').map_or(
            model,
            |(vendor, m)| if vendor.starts_with('@') { model } else { m },
        );
    PRICES
        .iter()
        .filter(|(prefix, _, _)| bare.starts_with(prefix) || model.starts_with(prefix))
        .max_by_key(|(prefix, _, _)| prefix.len())
        .map(|(_, i, o)| (i / 1e6, o / 1e6))
}

/// Cost in USD of a response, from the caller's custom cost if given, else
/// the price table. `None` when it cannot be known.
pub fn cost(model: Option<&str>, usage: Usage, custom: Option<CustomCost>) -> Option<f64> {
    match custom {
        Some(CustomCost::Total(total)) => Some(total),
        Some(CustomCost::PerToken { input, output }) => {
            if usage.is_empty() {
                return None;
            }
            Some(
                usage.tokens_in.unwrap_or(0) as f64 * input
                    + usage.tokens_out.unwrap_or(0) as f64 * output,
            )
        }
        None => {
            let (input, output) = price_of(model?)?;
            if usage.is_empty() {
                return None;
            }
            Some(
                usage.tokens_in.unwrap_or(0) as f64 * input
                    + usage.tokens_out.unwrap_or(0) as f64 * output,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(i: u64, o: u64) -> Usage {
        Usage {
            tokens_in: Some(i),
            tokens_out: Some(o),
        }
    }

    #[test]
    fn plain_bodies_of_every_provider() {
        let cases: &[(&str, Usage)] = &[
            (
                r#"{"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}"#,
                u(10, 5),
            ),
            (
                r#"{"type":"message","usage":{"input_tokens":12,"output_tokens":7}}"#,
                u(12, 7),
            ),
            (
                r#"{"candidates":[],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":4}}"#,
                u(3, 4),
            ),
            (
                r#"{"result":{"response":"x","usage":{"prompt_tokens":8,"completion_tokens":2}},"success":true}"#,
                u(8, 2),
            ),
            (
                r#"{"text":"x","meta":{"billed_units":{"input_tokens":20,"output_tokens":9}}}"#,
                u(20, 9),
            ),
            (
                r#"{"message":{},"usage":{"billed_units":{"input_tokens":21,"output_tokens":6},"tokens":{"input_tokens":30,"output_tokens":6}}}"#,
                u(21, 6),
            ),
        ];
        for (body, want) in cases {
            assert_eq!(usage_of_body(body.as_bytes()), *want, "{body}");
            // The typed fast path and the Value path agree.
            assert_eq!(usage_of_value_text(body.as_bytes()), *want, "{body}");
        }
        // Shapes the typed view refuses still work, through the slow path.
        let odd =
            r#"{"result":"text","message":"hi","usage":{"prompt_tokens":2,"completion_tokens":1}}"#;
        assert_eq!(usage_of_body(odd.as_bytes()), u(2, 1));
        assert!(usage_of_body(b"[]").is_empty());
        assert!(usage_of_body(b"not json").is_empty());
        assert!(usage_of_body(br#"{"choices":[]}"#).is_empty());
    }

    /// Bodies whose usage the scanner must read (and serde agree on).
    const SCANNED: &[&str] = &[
        r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Say \"hi\"\n\u00e9 \ud83d\ude00 — done","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":0}},"system_fingerprint":"fp"}"#,
        r#"{"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}"#,
        r#"{"type":"message","usage":{"input_tokens":12,"output_tokens":7}}"#,
        r#"{"candidates":[],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":4}}"#,
        r#"{"result":{"response":"x","usage":{"prompt_tokens":8,"completion_tokens":2}},"success":true}"#,
        r#"{"text":"x","meta":{"billed_units":{"input_tokens":20,"output_tokens":9}}}"#,
        r#"{"message":{},"usage":{"billed_units":{"input_tokens":21,"output_tokens":6},"tokens":{"input_tokens":30,"output_tokens":6}}}"#,
        r#"{"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1}}}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}"#,
        r#"{"event_type":"stream-end","response":{"meta":{"billed_units":{"input_tokens":2,"output_tokens":3}}}}"#,
        r#"{"type":"message-end","delta":{"usage":{"billed_units":{"input_tokens":7,"output_tokens":8}}}}"#,
        r#"{"usage":{"inputTokens":4,"outputTokens":5},"usage_note":null}"#,
        r#" { "usage" : { "prompt_tokens" : 1.5e1 , "completion_tokens" : null } } "#,
    ];

    /// The serde reading `usage_of_text` does when the scanner gives up.
    fn serde_usage(text: &[u8]) -> Usage {
        match serde_json::from_slice::<Doc>(text) {
            Ok(doc) => doc.usage(),
            Err(_) => usage_of_value_text(text),
        }
    }

    /// Variants of a body: truncations, other spellings of its numbers and
    /// keys, duplicates, nulls, whitespace.
    fn variants(body: &str) -> Vec<String> {
        let mut out = vec![body.to_string()];
        for i in 0..body.len() {
            if body.is_char_boundary(i) {
                out.push(body[..i].to_string());
            }
        }
        for (from, to) in [
            (":", " :\n\t"),
            (",", " , "),
            ("10", "10.0"),
            ("10", "1e1"),
            ("10", "-10"),
            ("10", "0.1e2"),
            ("10", "10000000000000000000"),
            ("10", "\"10\""),
            ("10", "010"),
            ("5", "null"),
            ("5", "[5]"),
            ("12", "1.2E+1"),
            ("\"usage\":{", "\"usage\":null,\"usage\":{"),
            ("\"usage\":{", "\"usage\":{\"prompt_tokens\":1,"),
            ("\"usage\"", "\"us\\u0061ge\""),
            ("\"usage\"", "\"usage\" "),
            (
                "{\"",
                "{\"extra\":[{\"a\":[1,2,{}]},\"s\\\"\",true,false,null],\"",
            ),
            ("{", "{\"message\":\"text\","),
            ("}", ",}"),
            ("}}", "}} x"),
            ("\"", "\"\u{1}"),
        ] {
            if body.contains(from) {
                out.push(body.replacen(from, to, 1));
                out.push(body.replace(from, to));
            }
        }
        out
    }

    #[test]
    fn the_scanner_reads_usage_exactly_as_serde_does() {
        let mut checked = 0;
        let mut scanned = 0;
        for body in SCANNED {
            assert!(
                scan_doc(body.as_bytes()).is_some(),
                "the scanner gave up on {body}"
            );
            for v in variants(body) {
                let serde = serde_usage(v.as_bytes());
                if let Some(doc) = scan_doc(v.as_bytes()) {
                    // Whatever the scanner accepts, serde's typed view
                    // accepts too, with the same result.
                    assert!(
                        serde_json::from_slice::<Doc>(v.as_bytes()).is_ok(),
                        "the scanner accepted what serde refuses: {v}"
                    );
                    assert_eq!(doc.usage(), serde, "{v}");
                    scanned += 1;
                }
                // (A key spelled with escapes is not looked for at all.)
                if mentions_usage(v.as_bytes()) {
                    assert_eq!(usage_of_text(v.as_bytes()), serde, "{v}");
                }
                checked += 1;
            }
        }
        assert!(checked > 1500 && scanned > 100, "{checked} {scanned}");
    }

    #[test]
    fn streamed_usage() {
        // OpenAI: the final chunk (stream_options.include_usage) carries it.
        let mut s = StreamUsage::default();
        s.event(r#"{"choices":[{"delta":{"content":"hi"}}]}"#);
        s.event(r#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3}}"#);
        s.event("[DONE]");
        assert_eq!(s.usage(), u(9, 3));
        // Anthropic: input in message_start, output in message_delta.
        let mut s = StreamUsage::default();
        s.event(
            r#"{"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1}}}"#,
        );
        s.event(r#"{"type":"content_block_delta","delta":{"text":"x"}}"#);
        s.event(r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}"#);
        assert_eq!(s.usage(), u(25, 15));
        // Google: every chunk has usageMetadata; the last wins.
        let mut s = StreamUsage::default();
        s.event(r#"{"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":1}}"#);
        s.event(r#"{"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":6}}"#);
        assert_eq!(s.usage(), u(4, 6));
        // Workers AI and Cohere stream ends.
        let mut s = StreamUsage::default();
        s.event(r#"{"response":"","usage":{"prompt_tokens":5,"completion_tokens":11}}"#);
        assert_eq!(s.usage(), u(5, 11));
        let mut s = StreamUsage::default();
        s.event(r#"{"event_type":"stream-end","response":{"meta":{"billed_units":{"input_tokens":2,"output_tokens":3}}}}"#);
        assert_eq!(s.usage(), u(2, 3));
        let mut s = StreamUsage::default();
        s.event(r#"{"type":"message-end","delta":{"usage":{"billed_units":{"input_tokens":7,"output_tokens":8}}}}"#);
        assert_eq!(s.usage(), u(7, 8));
    }

    #[test]
    fn prices_and_costs() {
        assert_eq!(
            price_of("gpt-4o-mini-2024-07-18"),
            Some((0.15 / 1e6, 0.60 / 1e6))
        );
        assert_eq!(price_of("gpt-4o"), Some((2.5 / 1e6, 10.0 / 1e6)));
        assert_eq!(price_of("openai/gpt-4o-mini"), price_of("gpt-4o-mini"));
        assert!(price_of("@cf/meta/llama-3.1-8b-instruct").is_some());
        assert_eq!(price_of("my-own-model"), None);
        let c = cost(Some("gpt-4o-mini"), u(1_000_000, 1_000_000), None).unwrap();
        assert!((c - 0.75).abs() < 1e-9, "{c}");
        assert_eq!(cost(Some("unknown"), u(1, 1), None), None);
        assert_eq!(cost(Some("gpt-4o"), Usage::default(), None), None);
        let custom =
            CustomCost::parse(r#"{"per_token_in":0.000001,"per_token_out":0.000002}"#).unwrap();
        let c = cost(Some("unknown"), u(100, 50), Some(custom)).unwrap();
        assert!((c - 0.0002).abs() < 1e-12, "{c}");
        assert_eq!(
            cost(
                None,
                Usage::default(),
                Some(CustomCost::parse(r#"{"total_cost":0.5}"#).unwrap())
            ),
            Some(0.5)
        );
        for bad in [
            "",
            "[]",
            r#"{"per_token_in":-1}"#,
            r#"{"total":1}"#,
            r#"{}"#,
            r#"{"total_cost":1,"per_token_in":1}"#,
            r#"{"per_token_in":"x"}"#,
        ] {
            assert!(CustomCost::parse(bad).is_err(), "{bad}");
        }
    }
}
