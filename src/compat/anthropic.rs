//! Anthropic Messages API: the caller's format for `compat/messages`, and
//! the upstream format of `anthropic` (`v1/messages`).

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::hub::{
    ChatRequest, ChatResponse, Delta, Finish, Message, Part, ResponseFormat, Role, Str, Text,
    TokenUsage, Tool, ToolCall, ToolChoice, check_tool_name, obj, opt_f64, synth_id, write_str,
    write_text, write_u64,
};
use super::{OutEvent, StreamDecoder, StreamEncoder};
use crate::http::sse::SseEvent;
use crate::json::scan::{Scan, once};

type R<T> = Result<T, String>;

/// `max_tokens` sent when the caller's format left it out (Anthropic requires one).
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// The instruction added for `response_format: json_object`, which the
/// Messages API has no switch for.
pub const JSON_OBJECT_INSTRUCTION: &str =
    "Respond with a single valid JSON object and nothing else: no prose, no code fences.";

const MESSAGES_FIELDS: &[&str] = &[
    "model",
    "messages",
    "system",
    "max_tokens",
    "tools",
    "tool_choice",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "stream",
    "metadata",
];

fn text_of_blocks(v: &Value, what: &str) -> R<Text> {
    match v {
        Value::String(s) => Ok(Text::new(s)),
        Value::Array(items) => {
            let mut out = Vec::new();
            for (i, b) in items.iter().enumerate() {
                match b.get("type").and_then(Value::as_str) {
                    Some("text") => out.push(Text::new(
                        b.get("text")
                            .and_then(Value::as_str)
                            .ok_or(format!("{what}[{i}]: missing text"))?,
                    )),
                    _ => return Err(format!("{what}[{i}]: only text blocks are translated here")),
                }
            }
            Ok(Text::join(&out, "\n"))
        }
        _ => Err(format!(
            "{what} must be a string or an array of text blocks"
        )),
    }
}

/// Reads an Anthropic Messages request into the hub.
pub fn parse_messages_request(body: &Value, model: &str) -> R<ChatRequest> {
    let o = obj(body, "the request body")?;
    let mut req = ChatRequest {
        model: model.to_string(),
        ..ChatRequest::default()
    };
    req.max_tokens = Some(
        o.get("max_tokens")
            .ok_or("missing \"max_tokens\"")?
            .as_u64()
            .ok_or("max_tokens must be a non-negative integer")?,
    );
    if let Some(s) = o.get("system").filter(|v| !v.is_null()) {
        req.system.push(text_of_blocks(s, "system")?);
    }
    let messages = o
        .get("messages")
        .ok_or("missing \"messages\"")?
        .as_array()
        .ok_or("\"messages\" must be an array")?;
    if messages.is_empty() {
        return Err("\"messages\" must not be empty".into());
    }
    for (i, m) in messages.iter().enumerate() {
        let what = format!("messages[{i}]");
        let m = obj(m, &what)?;
        let role = match m.get("role").and_then(Value::as_str) {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            Some(other) => return Err(format!("{what}: role {other:?} must be user or assistant")),
            None => return Err(format!("{what}: missing role")),
        };
        let content = m.get("content").ok_or(format!("{what}: missing content"))?;
        let blocks: Vec<Value> = match content {
            Value::String(s) => vec![json!({"type": "text", "text": s})],
            Value::Array(items) => items.clone(),
            _ => {
                return Err(format!(
                    "{what}: content must be a string or an array of blocks"
                ));
            }
        };
        let mut msg = Message::new(role);
        for (j, b) in blocks.iter().enumerate() {
            let bw = format!("{what}.content[{j}]");
            let b = obj(b, &bw)?;
            match b.get("type").and_then(Value::as_str) {
                Some("text") => msg.parts.push(Part::Text(
                    b.get("text")
                        .and_then(Value::as_str)
                        .ok_or(format!("{bw}: missing text"))?
                        .into(),
                )),
                Some("image") if role == Role::User => {
                    let src = obj(b.get("source").ok_or(format!("{bw}: missing source"))?, &bw)?;
                    match src.get("type").and_then(Value::as_str) {
                        Some("base64") => msg.parts.push(Part::Image {
                            media_type: src
                                .get("media_type")
                                .and_then(Value::as_str)
                                .ok_or(format!("{bw}: missing source.media_type"))?
                                .into(),
                            data: src
                                .get("data")
                                .and_then(Value::as_str)
                                .ok_or(format!("{bw}: missing source.data"))?
                                .into(),
                        }),
                        Some("url") => msg.parts.push(Part::ImageUrl(
                            src.get("url")
                                .and_then(Value::as_str)
                                .ok_or(format!("{bw}: missing source.url"))?
                                .into(),
                        )),
                        _ => return Err(format!("{bw}: image source must be base64 or url")),
                    }
                }
                Some("tool_use") if role == Role::Assistant => {
                    let input = b.get("input").cloned().unwrap_or(json!({}));
                    if !input.is_object() {
                        return Err(format!("{bw}: input must be an object"));
                    }
                    msg.tool_calls.push(ToolCall {
                        id: b
                            .get("id")
                            .and_then(Value::as_str)
                            .ok_or(format!("{bw}: missing id"))?
                            .into(),
                        name: b
                            .get("name")
                            .and_then(Value::as_str)
                            .ok_or(format!("{bw}: missing name"))?
                            .into(),
                        arguments: input.to_string(),
                    });
                }
                Some("tool_result") if role == Role::User => {
                    // A tool result is its own turn in the hub, before the
                    // user's other content.
                    let mut t = Message::new(Role::Tool);
                    t.tool_call_id = Some(
                        b.get("tool_use_id")
                            .and_then(Value::as_str)
                            .ok_or(format!("{bw}: missing tool_use_id"))?
                            .into(),
                    );
                    let text = match b.get("content") {
                        None | Some(Value::Null) => Text::default(),
                        Some(c) => text_of_blocks(c, &format!("{bw}.content"))?,
                    };
                    t.parts.push(Part::Text(text));
                    req.messages.push(t);
                }
                Some(other) => return Err(format!("{bw}: block type {other:?} is not translated")),
                None => return Err(format!("{bw}: missing type")),
            }
        }
        if !msg.parts.is_empty() || !msg.tool_calls.is_empty() {
            req.messages.push(msg);
        }
    }
    if let Some(tools) = o.get("tools").filter(|v| !v.is_null()) {
        for (i, t) in tools
            .as_array()
            .ok_or("\"tools\" must be an array")?
            .iter()
            .enumerate()
        {
            let what = format!("tools[{i}]");
            let t = obj(t, &what)?;
            let name = t
                .get("name")
                .and_then(Value::as_str)
                .ok_or(format!("{what}: missing name"))?;
            check_tool_name(name, &what)?;
            let schema = t
                .get("input_schema")
                .ok_or(format!("{what}: missing input_schema"))?;
            if !schema.is_object() {
                return Err(format!("{what}: input_schema must be a JSON Schema object"));
            }
            req.tools.push(Tool {
                name: name.into(),
                description: t
                    .get("description")
                    .and_then(Value::as_str)
                    .map(String::from),
                parameters: schema.clone(),
            });
        }
    }
    if let Some(tc) = o.get("tool_choice").filter(|v| !v.is_null()) {
        let tc = obj(tc, "tool_choice")?;
        req.tool_choice = Some(match tc.get("type").and_then(Value::as_str) {
            Some("auto") => ToolChoice::Auto,
            Some("any") => ToolChoice::Required,
            Some("none") => ToolChoice::None,
            Some("tool") => ToolChoice::Named(
                tc.get("name")
                    .and_then(Value::as_str)
                    .ok_or("tool_choice tool needs a name")?
                    .into(),
            ),
            _ => return Err("tool_choice.type must be auto, any, tool or none".into()),
        });
        if tc.get("disable_parallel_tool_use").and_then(Value::as_bool) == Some(true) {
            req.parallel_tool_calls = Some(false);
        }
    }
    req.temperature = opt_f64(o, "temperature")?;
    req.top_p = opt_f64(o, "top_p")?;
    req.top_k = o.get("top_k").and_then(Value::as_u64);
    if let Some(s) = o.get("stop_sequences").filter(|v| !v.is_null()) {
        req.stop = s
            .as_array()
            .ok_or("stop_sequences must be an array")?
            .iter()
            .map(|s| {
                s.as_str()
                    .map(String::from)
                    .ok_or("stop_sequences entries must be strings")
            })
            .collect::<Result<_, _>>()?;
    }
    req.stream = o.get("stream").and_then(Value::as_bool).unwrap_or(false);
    req.include_usage = true;
    for (k, v) in o {
        if !MESSAGES_FIELDS.contains(&k.as_str()) {
            req.extra.insert(k.clone(), v.clone());
        }
    }
    Ok(req)
}

/// Name of the tool a `json_schema` response format becomes.
pub fn json_tool_name(req: &ChatRequest) -> Option<String> {
    match &req.response_format {
        Some(ResponseFormat::JsonSchema { name, .. }) => Some(name.clone()),
        _ => None,
    }
}

/// Appends a JSON value (a tool schema, a number) as serde writes it.
fn write_json(s: &mut String, v: &impl serde::Serialize) {
    s.push_str(&serde_json::to_string(v).unwrap_or_else(|_| "null".into()));
}

/// Writes the hub request as an Anthropic Messages body (JSON text, written
/// directly into one buffer). Consecutive turns of one role merge (the API
/// wants user and assistant to alternate); tool results become
/// `tool_result` blocks of a user turn. A `json_schema` response format
/// becomes one forced tool whose input is the answer.
pub fn build_request(req: &ChatRequest) -> R<String> {
    if req.temperature.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
        return Err("temperature must be between 0 and 1 for anthropic".into());
    }
    let role_of = |m: &Message| match m.role {
        Role::Assistant => "assistant",
        Role::User | Role::Tool => "user",
    };
    // A turn with no blocks is left out (and merges nothing).
    let has_blocks = |m: &Message| match m.role {
        Role::Tool => true,
        Role::Assistant if !m.tool_calls.is_empty() => true,
        _ => m
            .parts
            .iter()
            .any(|p| !matches!(p, Part::Text(t) if t.is_empty())),
    };
    if let Some(first) = req.messages.iter().find(|m| has_blocks(m)) {
        if role_of(first) != "user" {
            return Err("the conversation must start with a user message for anthropic".into());
        }
    }
    if let Some(ResponseFormat::JsonSchema { name, .. }) = &req.response_format {
        if !req.tools.is_empty() {
            return Err(
                "response_format json_schema together with tools is not translated for anthropic"
                    .into(),
            );
        }
        check_tool_name(name, "response_format.json_schema.name")?;
    }
    let size: usize = req
        .messages
        .iter()
        .flat_map(|m| m.parts.iter())
        .map(|p| match p {
            Part::Text(t) => t.len(),
            Part::ImageUrl(u) => u.len(),
            Part::Image { data, .. } => data.len(),
        })
        .sum::<usize>()
        + req.system.iter().map(Text::len).sum::<usize>();
    let mut s = String::with_capacity(size + size / 8 + 256);
    s.push_str("{\"model\":");
    write_str(&mut s, &req.model);
    s.push_str(",\"max_tokens\":");
    write_u64(&mut s, req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS));
    s.push_str(",\"messages\":[");
    let mut open: Option<&str> = None;
    for m in req.messages.iter().filter(|m| has_blocks(m)) {
        let role = role_of(m);
        match open {
            Some(r) if r == role => s.push(','),
            Some(_) => s.push_str("]},"),
            None => {}
        }
        if open != Some(role) {
            s.push_str("{\"role\":");
            write_str(&mut s, role);
            s.push_str(",\"content\":[");
            open = Some(role);
        }
        if m.role == Role::Tool {
            s.push_str("{\"type\":\"tool_result\",\"tool_use_id\":");
            write_str(&mut s, m.tool_call_id.as_deref().unwrap_or_default());
            s.push_str(",\"content\":");
            write_text(&mut s, &m.text());
            s.push('}');
            continue;
        }
        let mut first = true;
        let mut sep = |s: &mut String| {
            if !std::mem::take(&mut first) {
                s.push(',');
            }
        };
        for p in &m.parts {
            match p {
                Part::Text(t) if t.is_empty() => continue,
                Part::Text(t) => {
                    sep(&mut s);
                    s.push_str("{\"type\":\"text\",\"text\":");
                    write_text(&mut s, t);
                }
                Part::Image { media_type, data } => {
                    sep(&mut s);
                    s.push_str(
                        "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":",
                    );
                    write_str(&mut s, media_type);
                    s.push_str(",\"data\":");
                    write_str(&mut s, data);
                    s.push('}');
                }
                Part::ImageUrl(u) => {
                    sep(&mut s);
                    s.push_str("{\"type\":\"image\",\"source\":{\"type\":\"url\",\"url\":");
                    write_str(&mut s, u);
                    s.push('}');
                }
            }
            s.push('}');
        }
        if m.role == Role::Assistant {
            for c in &m.tool_calls {
                sep(&mut s);
                s.push_str("{\"type\":\"tool_use\",\"id\":");
                write_str(&mut s, &c.id);
                s.push_str(",\"name\":");
                write_str(&mut s, &c.name);
                s.push_str(",\"input\":");
                // Arguments were checked to be a JSON object when read;
                // they go as they are, without a parse into a tree.
                match serde_json::from_str::<&RawValue>(&c.arguments) {
                    Ok(raw) if raw.get().starts_with('{') => s.push_str(raw.get()),
                    _ => s.push_str("{}"),
                }
                s.push('}');
            }
        }
    }
    if open.is_some() {
        s.push_str("]}");
    }
    s.push(']');
    let json_object = req.response_format == Some(ResponseFormat::JsonObject);
    if !req.system.is_empty() || json_object {
        let mut system = Text::join(&req.system, "\n\n");
        if json_object {
            if !system.is_empty() {
                system.push_plain("\n\n");
            }
            system.push_plain(JSON_OBJECT_INSTRUCTION);
        }
        s.push_str(",\"system\":");
        write_text(&mut s, &system);
    }
    let schema_tool = match &req.response_format {
        Some(ResponseFormat::JsonSchema { name, schema }) => Some((name, schema)),
        _ => None,
    };
    if !req.tools.is_empty() || schema_tool.is_some() {
        s.push_str(",\"tools\":[");
        for (i, t) in req.tools.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str("{\"name\":");
            write_str(&mut s, &t.name);
            if let Some(d) = &t.description {
                s.push_str(",\"description\":");
                write_str(&mut s, d);
            }
            s.push_str(",\"input_schema\":");
            write_json(&mut s, &t.parameters);
            s.push('}');
        }
        if let Some((name, schema)) = schema_tool {
            s.push_str("{\"name\":");
            write_str(&mut s, name);
            s.push_str(",\"description\":\"Give the answer in this schema.\",\"input_schema\":");
            write_json(&mut s, schema);
            s.push('}');
        }
        s.push(']');
    }
    let tool_choice = match (schema_tool, &req.tool_choice) {
        (Some((name, _)), _) => Some(("tool", Some(name.as_str()))),
        (None, None) => None,
        (None, Some(ToolChoice::Auto)) => Some(("auto", None)),
        (None, Some(ToolChoice::None)) => Some(("none", None)),
        (None, Some(ToolChoice::Required)) => Some(("any", None)),
        (None, Some(ToolChoice::Named(n))) => Some(("tool", Some(n.as_str()))),
    };
    if let Some((kind, name)) = tool_choice {
        s.push_str(",\"tool_choice\":{\"type\":");
        write_str(&mut s, kind);
        if let Some(n) = name {
            s.push_str(",\"name\":");
            write_str(&mut s, n);
        }
        if req.parallel_tool_calls == Some(false) && kind != "none" {
            s.push_str(",\"disable_parallel_tool_use\":true");
        }
        s.push('}');
    }
    if let Some(t) = req.temperature {
        s.push_str(",\"temperature\":");
        write_json(&mut s, &t);
    }
    if let Some(t) = req.top_p {
        s.push_str(",\"top_p\":");
        write_json(&mut s, &t);
    }
    if let Some(t) = req.top_k {
        s.push_str(",\"top_k\":");
        write_u64(&mut s, t);
    }
    if !req.stop.is_empty() {
        s.push_str(",\"stop_sequences\":[");
        for (i, t) in req.stop.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            write_str(&mut s, t);
        }
        s.push(']');
    }
    if req.stream {
        s.push_str(",\"stream\":true");
    }
    s.push('}');
    Ok(s)
}

fn finish_of(reason: Option<&str>) -> Finish {
    match reason {
        Some("max_tokens") | Some("model_context_window_exceeded") => Finish::Length,
        Some("tool_use") => Finish::ToolCalls,
        Some("refusal") => Finish::ContentFilter,
        _ => Finish::Stop,
    }
}

fn stop_reason(f: Finish, stop_sequence: &Option<String>) -> &'static str {
    match f {
        Finish::Stop if stop_sequence.is_some() => "stop_sequence",
        Finish::Stop => "end_turn",
        Finish::Length => "max_tokens",
        Finish::ToolCalls => "tool_use",
        Finish::ContentFilter => "refusal",
    }
}

fn usage_json(u: &TokenUsage) -> Value {
    json!({
        "input_tokens": u.input.saturating_sub(u.cache_read + u.cache_write),
        "output_tokens": u.output,
        "cache_read_input_tokens": u.cache_read,
        "cache_creation_input_tokens": u.cache_write,
    })
}

// The answer and stream events as read (typed, strings borrowed from the
// body where they hold no escapes, texts kept as JSON wrote them, tool
// inputs as raw JSON text): no `Value` tree on the hot paths.

#[derive(Deserialize, Debug)]
struct WireMessage<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Str<'a>,
    #[serde(borrow, default)]
    id: Str<'a>,
    #[serde(borrow, default)]
    model: Str<'a>,
    #[serde(borrow)]
    content: Option<Vec<WireBlock<'a>>>,
    #[serde(borrow, default)]
    stop_reason: Str<'a>,
    #[serde(borrow, default)]
    stop_sequence: Str<'a>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize, Debug)]
struct WireBlock<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Str<'a>,
    text: Option<Text>,
    #[serde(borrow, default)]
    id: Str<'a>,
    #[serde(borrow, default)]
    name: Str<'a>,
    #[serde(borrow)]
    input: Option<&'a RawValue>,
}

#[derive(Deserialize, Default, Clone, Copy, Debug)]
struct WireUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
}

impl WireUsage {
    /// Anthropic's `input_tokens` leaves out cache reads and writes; the
    /// hub counts them in.
    fn hub(self) -> TokenUsage {
        let (read, write) = (
            self.cache_read_input_tokens.unwrap_or(0),
            self.cache_creation_input_tokens.unwrap_or(0),
        );
        TokenUsage {
            input: self.input_tokens.unwrap_or(0) + read + write,
            output: self.output_tokens.unwrap_or(0),
            cache_read: read,
            cache_write: write,
        }
    }
}

/// A string or null, as `Str` reads it.
fn scan_str<'a>(sc: &mut Scan<'a>) -> Option<Str<'a>> {
    sc.opt(Scan::string).map(Str)
}

/// A text or null, as `Option<Text>` reads it (kept escaped).
fn scan_text(sc: &mut Scan<'_>) -> Option<Option<Text>> {
    sc.opt(|sc| sc.raw_string().map(Text::from_json))
}

impl<'a> WireMessage<'a> {
    /// The message, read by serde where the scanner gives up.
    fn read(body: &'a [u8]) -> serde_json::Result<WireMessage<'a>> {
        match WireMessage::scan(body) {
            Some(m) => Ok(m),
            None => super::hub::from_json_bytes(body),
        }
    }

    /// The common answer (text blocks, usage, stop reason) read by the
    /// hand-written scanner as serde's derived reader reads it: unknown
    /// members skipped, a duplicate, a tool input or any other shape gives
    /// up (`None`), and serde reads the body instead.
    fn scan(body: &'a [u8]) -> Option<WireMessage<'a>> {
        let mut sc = Scan::new(body);
        let m = WireMessage::scan_in(&mut sc)?;
        sc.end()?;
        Some(m)
    }

    /// The message at the cursor (a whole body, or an event's `message`).
    fn scan_in(sc: &mut Scan<'a>) -> Option<WireMessage<'a>> {
        let mut seen = 0u32;
        let mut m = WireMessage {
            kind: Str(None),
            id: Str(None),
            model: Str(None),
            content: None,
            stop_reason: Str(None),
            stop_sequence: Str(None),
            usage: None,
        };
        sc.object(|sc, key| {
            match key {
                "type" => {
                    once(&mut seen, 0)?;
                    m.kind = scan_str(sc)?;
                }
                "id" => {
                    once(&mut seen, 1)?;
                    m.id = scan_str(sc)?;
                }
                "model" => {
                    once(&mut seen, 2)?;
                    m.model = scan_str(sc)?;
                }
                "content" => {
                    once(&mut seen, 3)?;
                    m.content = sc.opt(|sc| {
                        let mut blocks = Vec::new();
                        sc.array(|sc| {
                            blocks.push(scan_block(sc)?);
                            Some(())
                        })?;
                        Some(blocks)
                    })?;
                }
                "stop_reason" => {
                    once(&mut seen, 4)?;
                    m.stop_reason = scan_str(sc)?;
                }
                "stop_sequence" => {
                    once(&mut seen, 5)?;
                    m.stop_sequence = scan_str(sc)?;
                }
                "usage" => {
                    once(&mut seen, 6)?;
                    m.usage = sc.opt(scan_usage)?;
                }
                _ => sc.skip()?,
            }
            Some(())
        })?;
        Some(m)
    }
}

fn scan_block<'a>(sc: &mut Scan<'a>) -> Option<WireBlock<'a>> {
    let mut seen = 0u32;
    let mut b = WireBlock {
        kind: Str(None),
        text: None,
        id: Str(None),
        name: Str(None),
        input: None,
    };
    sc.object(|sc, key| {
        match key {
            "type" => {
                once(&mut seen, 0)?;
                b.kind = scan_str(sc)?;
            }
            "text" => {
                once(&mut seen, 1)?;
                b.text = scan_text(sc)?;
            }
            "id" => {
                once(&mut seen, 2)?;
                b.id = scan_str(sc)?;
            }
            "name" => {
                once(&mut seen, 3)?;
                b.name = scan_str(sc)?;
            }
            // A tool input is kept as raw JSON, which only serde makes.
            "input" => return None,
            _ => sc.skip()?,
        }
        Some(())
    })?;
    Some(b)
}

fn scan_usage(sc: &mut Scan<'_>) -> Option<WireUsage> {
    let mut seen = 0u32;
    let mut u = WireUsage::default();
    sc.object(|sc, key| {
        let (bit, slot) = match key {
            "input_tokens" => (0, &mut u.input_tokens),
            "output_tokens" => (1, &mut u.output_tokens),
            "cache_read_input_tokens" => (2, &mut u.cache_read_input_tokens),
            "cache_creation_input_tokens" => (3, &mut u.cache_creation_input_tokens),
            _ => return sc.skip(),
        };
        once(&mut seen, bit)?;
        *slot = sc.opt(Scan::u64)?;
        Some(())
    })?;
    Some(u)
}

/// A tool input as the arguments' JSON text (`{}` when absent or null).
fn input_text(input: Option<&RawValue>) -> String {
    match input.map(RawValue::get) {
        None | Some("null") => "{}".into(),
        Some(t) => t.to_string(),
    }
}

/// Reads an Anthropic message body. A `tool_use` of `json_tool` (the
/// response format's tool) becomes the answer's text.
pub fn decode_response(body: &[u8], json_tool: Option<&str>) -> R<ChatResponse> {
    let v = WireMessage::read(body).map_err(|e| format!("not a message ({e})"))?;
    if v.kind.as_deref() != Some("message") {
        return Err("the body is not a message".into());
    }
    let content = v.content.ok_or("the message has no content array")?;
    let mut text: Option<Text> = None;
    let mut tool_calls = Vec::new();
    let mut finish = finish_of(v.stop_reason.as_deref());
    for b in content {
        match b.kind.as_deref() {
            Some("text") => {
                let t = b.text.unwrap_or_default();
                match &mut text {
                    Some(all) => all.push(&t),
                    None => text = Some(t),
                }
            }
            Some("tool_use") => {
                let name = b.name.as_deref().ok_or("a tool_use block has no name")?;
                if Some(name) == json_tool {
                    text.get_or_insert_with(Text::default)
                        .push_plain(&input_text(b.input));
                    finish = Finish::Stop;
                    continue;
                }
                tool_calls.push(ToolCall {
                    id: b
                        .id
                        .as_deref()
                        .map(String::from)
                        .unwrap_or_else(|| synth_id("toolu_")),
                    name: name.into(),
                    arguments: input_text(b.input),
                });
            }
            // Thinking and other blocks have no place in the other formats.
            _ => {}
        }
    }
    Ok(ChatResponse {
        id: v.id.as_deref().unwrap_or_default().into(),
        model: v.model.as_deref().unwrap_or_default().into(),
        created: super::hub::unix_now(),
        text,
        tool_calls,
        finish,
        stop_sequence: v.stop_sequence.as_deref().map(String::from),
        usage: v.usage.map(WireUsage::hub),
    })
}

/// Writes the hub answer as an Anthropic message body.
pub fn encode_response(r: &ChatResponse) -> Value {
    let mut content = Vec::new();
    if let Some(t) = r.text.as_ref().filter(|t| !t.is_empty()) {
        content.push(json!({"type": "text", "text": t}));
    }
    for c in &r.tool_calls {
        let input: Value = serde_json::from_str(&c.arguments).unwrap_or(json!({}));
        content.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}));
    }
    let id = if r.id.starts_with("msg_") {
        r.id.clone()
    } else {
        format!("msg_{}", r.id)
    };
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": r.model,
        "content": content,
        "stop_reason": stop_reason(r.finish, &r.stop_sequence),
        "stop_sequence": r.stop_sequence,
        "usage": usage_json(&r.usage.unwrap_or_default()),
    })
}

/// The Anthropic error body.
pub fn encode_error(message: &str, kind: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// Anthropic's error type for an HTTP status.
pub fn error_type_for(status: u16) -> &'static str {
    match status {
        400 | 413 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        529 | 503 => "overloaded_error",
        _ => "api_error",
    }
}

/// Reads an Anthropic event stream into hub deltas.
pub struct EventDecoder {
    json_tool: Option<String>,
    /// Upstream content block index → hub tool index (None: text or the
    /// response format's tool, whose input is text).
    blocks: Vec<(u64, Option<usize>)>,
    tools: usize,
    usage: TokenUsage,
    stop_sequence: Option<String>,
}

impl EventDecoder {
    pub fn new(json_tool: Option<String>) -> EventDecoder {
        EventDecoder {
            json_tool,
            blocks: Vec::new(),
            tools: 0,
            usage: TokenUsage::default(),
            stop_sequence: None,
        }
    }
}

#[derive(Deserialize, Debug)]
struct WireEvent<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Str<'a>,
    #[serde(borrow)]
    message: Option<WireMessage<'a>>,
    index: Option<u64>,
    #[serde(borrow)]
    content_block: Option<WireBlock<'a>>,
    #[serde(borrow)]
    delta: Option<WireDelta<'a>>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize, Debug)]
struct WireDelta<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Str<'a>,
    text: Option<Text>,
    #[serde(borrow, default)]
    partial_json: Str<'a>,
    #[serde(borrow, default)]
    stop_reason: Str<'a>,
    #[serde(borrow, default)]
    stop_sequence: Str<'a>,
}

impl<'a> WireEvent<'a> {
    /// The event, read by serde where the scanner gives up.
    fn read(data: &'a str) -> serde_json::Result<WireEvent<'a>> {
        match WireEvent::scan(data.as_bytes()) {
            Some(v) => Ok(v),
            None => serde_json::from_str(data),
        }
    }

    /// The event read by the scanner as serde's derived reader reads it
    /// (as `WireMessage::scan`: unknown members skipped, anything else
    /// gives up).
    fn scan(data: &'a [u8]) -> Option<WireEvent<'a>> {
        let mut sc = Scan::new(data);
        let mut seen = 0u32;
        let mut v = WireEvent {
            kind: Str(None),
            message: None,
            index: None,
            content_block: None,
            delta: None,
            usage: None,
        };
        sc.object(|sc, key| {
            match key {
                "type" => {
                    once(&mut seen, 0)?;
                    v.kind = scan_str(sc)?;
                }
                "message" => {
                    once(&mut seen, 1)?;
                    v.message = sc.opt(WireMessage::scan_in)?;
                }
                "index" => {
                    once(&mut seen, 2)?;
                    v.index = sc.opt(Scan::u64)?;
                }
                "content_block" => {
                    once(&mut seen, 3)?;
                    v.content_block = sc.opt(scan_block)?;
                }
                "delta" => {
                    once(&mut seen, 4)?;
                    v.delta = sc.opt(scan_delta)?;
                }
                "usage" => {
                    once(&mut seen, 5)?;
                    v.usage = sc.opt(scan_usage)?;
                }
                _ => sc.skip()?,
            }
            Some(())
        })?;
        sc.end()?;
        Some(v)
    }
}

fn scan_delta<'a>(sc: &mut Scan<'a>) -> Option<WireDelta<'a>> {
    let mut seen = 0u32;
    let mut d = WireDelta {
        kind: Str(None),
        text: None,
        partial_json: Str(None),
        stop_reason: Str(None),
        stop_sequence: Str(None),
    };
    sc.object(|sc, key| {
        let (bit, slot) = match key {
            "type" => (0, &mut d.kind),
            "text" => {
                once(&mut seen, 1)?;
                d.text = scan_text(sc)?;
                return Some(());
            }
            "partial_json" => (2, &mut d.partial_json),
            "stop_reason" => (3, &mut d.stop_reason),
            "stop_sequence" => (4, &mut d.stop_sequence),
            _ => return sc.skip(),
        };
        once(&mut seen, bit)?;
        *slot = scan_str(sc)?;
        Some(())
    })?;
    Some(d)
}

/// The text of the stream's most frequent event, a text delta, when it is
/// spelled as Anthropic writes it (this key order, no spaces, no escape in
/// the text): read without a parser, as serde would read it. Any other
/// spelling gives `None` and is read by serde.
fn quick_text_delta(data: &str) -> Option<&str> {
    let rest = data.strip_prefix(r#"{"type":"content_block_delta","index":"#)?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    // A JSON integer: no leading zero; small enough for the u64 index.
    if digits == 0 || digits > 18 || (digits > 1 && rest.starts_with('0')) {
        return None;
    }
    let rest = rest[digits..].strip_prefix(r#","delta":{"type":"text_delta","text":""#)?;
    let end = rest
        .bytes()
        .position(|b| b == b'"' || b == b'\\' || b < 0x20)?;
    let (text, tail) = rest.split_at(end);
    let tail = tail.strip_prefix('"')?;
    (tail.trim_end_matches([' ', '\t', '\n', '\r']) == "}}").then_some(text)
}

impl StreamDecoder for EventDecoder {
    fn event(&mut self, ev: &SseEvent<'_>, out: &mut Vec<Delta>) -> R<()> {
        if ev.data.trim().is_empty() {
            return Ok(());
        }
        if let Some(text) = quick_text_delta(&ev.data) {
            if !text.is_empty() {
                out.push(Delta::Text(Text::from_json(text)));
            }
            return Ok(());
        }
        let v = WireEvent::read(&ev.data)
            .map_err(|e| format!("a stream event is not JSON of its kind: {e}"))?;
        match v.kind.as_deref().unwrap_or(&ev.event) {
            "message_start" => {
                let m = v.message;
                if let Some(u) = m.as_ref().and_then(|m| m.usage) {
                    self.usage = u.hub();
                }
                let (id, model) = m
                    .as_ref()
                    .map(|m| (m.id.as_deref(), m.model.as_deref()))
                    .unwrap_or_default();
                out.push(Delta::Start {
                    id: id.unwrap_or_default().into(),
                    model: model.unwrap_or_default().into(),
                });
            }
            "content_block_start" => {
                let index = v.index.unwrap_or(0);
                let tool = match v.content_block {
                    Some(b) if b.kind.as_deref() == Some("tool_use") => {
                        let name = b.name.as_deref().unwrap_or_default();
                        if Some(name) == self.json_tool.as_deref() {
                            None
                        } else {
                            let i = self.tools;
                            self.tools += 1;
                            out.push(Delta::ToolStart {
                                index: i,
                                id: b
                                    .id
                                    .as_deref()
                                    .map(String::from)
                                    .unwrap_or_else(|| synth_id("toolu_")),
                                name: name.into(),
                            });
                            Some(i)
                        }
                    }
                    _ => None,
                };
                self.blocks.push((index, tool));
            }
            "content_block_delta" => {
                let index = v.index.unwrap_or(0);
                let tool = self
                    .blocks
                    .iter()
                    .find(|(b, _)| *b == index)
                    .and_then(|(_, t)| *t);
                let Some(d) = v.delta else { return Ok(()) };
                match d.kind.as_deref() {
                    Some("text_delta") => {
                        if let Some(t) = d.text.filter(|t| !t.is_empty()) {
                            out.push(Delta::Text(t));
                        }
                    }
                    Some("input_json_delta") => {
                        let f = d.partial_json.as_deref().unwrap_or_default();
                        if !f.is_empty() {
                            out.push(match tool {
                                Some(index) => Delta::ToolArgs {
                                    index,
                                    fragment: f.into(),
                                },
                                None => Delta::Text(f.into()),
                            });
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(u) = v.usage {
                    let later = u.hub();
                    self.usage.output = later.output;
                    if u.input_tokens.is_some() {
                        self.usage.input = later.input;
                        self.usage.cache_read = later.cache_read;
                        self.usage.cache_write = later.cache_write;
                    }
                }
                let (stop_reason, stop_sequence) = v
                    .delta
                    .as_ref()
                    .map(|d| (d.stop_reason.as_deref(), d.stop_sequence.as_deref()))
                    .unwrap_or_default();
                self.stop_sequence = stop_sequence.map(String::from);
                let mut reason = finish_of(stop_reason);
                if reason == Finish::ToolCalls && self.tools == 0 && self.json_tool.is_some() {
                    reason = Finish::Stop;
                }
                out.push(Delta::Finish {
                    reason,
                    stop_sequence: self.stop_sequence.clone(),
                });
                out.push(Delta::Usage(self.usage));
            }
            "message_stop" => out.push(Delta::End),
            "error" => {
                let (message, kind) = super::hub::upstream_error(ev.data.as_bytes());
                out.push(Delta::Error {
                    kind: kind.unwrap_or_else(|| "api_error".into()),
                    message,
                });
            }
            // ping, content_block_stop, and events added later.
            _ => {}
        }
        Ok(())
    }
}

/// Writes hub deltas as Anthropic stream events.
pub struct EventEncoder {
    model: String,
    started: bool,
    /// The open content block: its index and whether it is text.
    open: Option<(usize, bool)>,
    next_block: usize,
    /// Hub tool index → content block index.
    tool_blocks: Vec<usize>,
    finish: Option<(Finish, Option<String>)>,
    usage: TokenUsage,
    done: bool,
}

impl EventEncoder {
    pub fn new(model: &str) -> EventEncoder {
        EventEncoder {
            model: model.into(),
            started: false,
            open: None,
            next_block: 0,
            tool_blocks: Vec::new(),
            finish: None,
            usage: TokenUsage::default(),
            done: false,
        }
    }

    fn ev(name: &'static str, data: Value) -> OutEvent {
        OutEvent {
            event: Some(name),
            data: data.to_string(),
        }
    }

    fn start(&mut self, id: &str, out: &mut Vec<OutEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let id = if id.is_empty() {
            synth_id("msg_")
        } else if id.starts_with("msg_") {
            id.to_string()
        } else {
            format!("msg_{id}")
        };
        out.push(Self::ev(
            "message_start",
            json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": self.model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": usage_json(&self.usage)}}),
        ));
    }

    fn close(&mut self, out: &mut Vec<OutEvent>) {
        if let Some((index, _)) = self.open.take() {
            out.push(Self::ev(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ));
        }
    }

    fn open_block(&mut self, block: Value, text: bool, out: &mut Vec<OutEvent>) -> usize {
        self.close(out);
        let index = self.next_block;
        self.next_block += 1;
        out.push(Self::ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": block}),
        ));
        self.open = Some((index, text));
        index
    }
}

impl StreamEncoder for EventEncoder {
    fn delta(&mut self, d: &Delta, out: &mut Vec<OutEvent>) {
        if self.done {
            return;
        }
        match d {
            Delta::Start { id, model } => {
                if !model.is_empty() {
                    self.model = model.clone();
                }
                self.start(id, out);
            }
            Delta::Text(t) => {
                self.start("", out);
                let index = match self.open {
                    Some((i, true)) => i,
                    _ => self.open_block(json!({"type": "text", "text": ""}), true, out),
                };
                out.push(Self::ev(
                    "content_block_delta",
                    json!({"type": "content_block_delta",
                    "index": index, "delta": {"type": "text_delta", "text": t}}),
                ));
            }
            Delta::ToolStart { id, name, .. } => {
                self.start("", out);
                let index = self.open_block(
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                    false,
                    out,
                );
                self.tool_blocks.push(index);
            }
            Delta::ToolArgs { index, fragment } => {
                if let Some(&block) = self.tool_blocks.get(*index) {
                    out.push(Self::ev("content_block_delta", json!({"type": "content_block_delta",
                        "index": block, "delta": {"type": "input_json_delta", "partial_json": fragment}})));
                }
            }
            Delta::Finish {
                reason,
                stop_sequence,
            } => self.finish = Some((*reason, stop_sequence.clone())),
            Delta::Usage(u) => self.usage = *u,
            Delta::End => {
                self.start("", out);
                self.close(out);
                let (reason, seq) = self.finish.clone().unwrap_or((Finish::Stop, None));
                out.push(Self::ev(
                    "message_delta",
                    json!({"type": "message_delta",
                    "delta": {"stop_reason": stop_reason(reason, &seq), "stop_sequence": seq},
                    "usage": usage_json(&self.usage)}),
                ));
                out.push(Self::ev("message_stop", json!({"type": "message_stop"})));
                self.done = true;
            }
            Delta::Error { kind, message } => {
                out.push(Self::ev("error", encode_error(message, kind)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of escape, written by a caller or a provider, as JSON
    /// text and as the text it stands for.
    const ESCAPED: &str = r#"a \u00e9 é \ud83d\ude00 \"q\" \\ \/ \n\t\u0001 \b\f\r end"#;
    const PLAIN: &str = "a é é 😀 \"q\" \\ / \n\t\u{1} \u{8}\u{c}\r end";

    #[test]
    fn escaped_texts_reach_the_messages_request_as_written() {
        let body = format!(
            r#"{{"model":"anthropic/m","max_tokens":9,"messages":[{{"role":"system","content":"{ESCAPED}"}},{{"role":"user","content":"{ESCAPED}"}},{{"role":"assistant","content":[{{"type":"text","text":"{ESCAPED}"}}]}},{{"role":"user","content":"x"}}]}}"#
        );
        let req = super::super::openai::FastChat::read(body.as_bytes())
            .and_then(|f| f.into_request("m"))
            .expect("the fast path reads it");
        let sent: Value = serde_json::from_str(&build_request(&req).unwrap()).unwrap();
        assert_eq!(sent["system"], PLAIN);
        assert_eq!(sent["messages"][0]["content"][0]["text"], PLAIN);
        assert_eq!(sent["messages"][1]["content"][0]["text"], PLAIN);
        // Copied, not decoded and escaped again.
        let sent = build_request(&req).unwrap();
        assert!(sent.contains(ESCAPED), "{sent}");
    }

    #[test]
    fn escaped_answer_texts_reach_the_chat_completion_as_written() {
        let body = format!(
            r#"{{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{{"type":"text","text":"{ESCAPED}"}},{{"type":"text","text":"!"}}],"stop_reason":"end_turn","usage":{{"input_tokens":1,"output_tokens":2}}}}"#
        );
        let hub = decode_response(body.as_bytes(), None).unwrap();
        assert_eq!(hub.text.as_ref().unwrap().plain(), format!("{PLAIN}!"));
        let out = super::super::openai::encode_response(&hub);
        assert!(out.contains(&format!("{ESCAPED}!")), "{out}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], format!("{PLAIN}!"));

        let mut dec = EventDecoder::new(None);
        let mut deltas = Vec::new();
        let data = format!(
            r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{ESCAPED}"}}}}"#
        );
        let ev = SseEvent {
            event: "content_block_delta".into(),
            data: data.into(),
            id: "".into(),
        };
        dec.event(&ev, &mut deltas).unwrap();
        match &deltas[..] {
            [Delta::Text(t)] => {
                assert_eq!(t.as_json(), ESCAPED);
                assert_eq!(t.plain(), PLAIN);
            }
            other => panic!("{other:?}"),
        }
    }

    /// Where the scanner reads an answer, serde reads it alike.
    fn scan_agrees(body: impl AsRef<[u8]>) -> bool {
        let body = body.as_ref();
        let serde = super::super::hub::from_json_bytes::<WireMessage>(body)
            .ok()
            .map(|m| format!("{m:?}"));
        match WireMessage::scan(body) {
            Some(m) => {
                let shown = String::from_utf8_lossy(body);
                assert_eq!(Some(format!("{m:?}")), serde, "{shown}");
                true
            }
            None => false,
        }
    }

    const HEADS: &[&str] = &[
        r#""id":"msg_1","type":"message","role":"assistant","model":"claude""#,
        r#""type":"message","id":null,"model":null"#,
        r#""type":"message""#,
        r#""type":"error""#,
        r#""type":5"#,
        r#""type":"message","id":"a\"b\\\n\u00e9\ud83d\ude00","model":"m\/x""#,
        r#""type":"message","id":"\ud83d""#,
        r#""type":"message","id":"raw	tab""#,
        r#""type":"message","type":"message""#,
        r#""type":"message","extra":{"a":[1,-2.5e+3,true,null,"s"]},"container":null"#,
        r#""type":"message","extra":[01]"#,
    ];

    const BLOCKS: &[&str] = &[
        r#"[{"type":"text","text":"Hello"}]"#,
        r#"[{"type":"text","text":"a\nb"},{"type":"text","text":" c","citations":[]}]"#,
        r#"[]"#,
        r#"null"#,
        r#"{}"#,
        r#"[{"type":"text"}]"#,
        r#"[{"type":"text","text":null}]"#,
        r#"[{"type":"text","text":5}]"#,
        r#"[{"type":"text","text":"a","text":"b"}]"#,
        r#"[{"type":"thinking","thinking":"hm","signature":"s"},{"type":"text","text":"x"}]"#,
        r#"[{"type":"tool_use","id":"t1","name":"f","input":{"a":1}}]"#,
        r#"[["text","x"]]"#,
    ];

    const TAILS: &[&str] = &[
        r#","stop_reason":"end_turn","stop_sequence":null"#,
        r#","stop_reason":"stop_sequence","stop_sequence":"END""#,
        r#","stop_reason":null"#,
        r#","stop_reason":7"#,
        r#","usage":{"input_tokens":212,"cache_creation_input_tokens":0,"cache_read_input_tokens":5,"output_tokens":118}"#,
        r#","usage":{"input_tokens":1,"output_tokens":2,"service_tier":"standard","server_tool_use":{"web_search_requests":0}}"#,
        r#","usage":{"input_tokens":null}"#,
        r#","usage":null"#,
        r#","usage":{"input_tokens":1.5}"#,
        r#","usage":{"input_tokens":-1}"#,
        r#","usage":{"input_tokens":1,"input_tokens":2}"#,
        r#","usage":{"input_tokens":18446744073709551616}"#,
        r#","usage":[1,2]"#,
        "",
    ];

    #[test]
    fn the_scanner_reads_answers_as_serde_does() {
        let (mut read, mut by_serde, mut n) = (0, 0, 0);
        for head in HEADS {
            for blocks in BLOCKS {
                for tail in TAILS {
                    for body in [
                        format!(r#"{{{head},"content":{blocks}{tail}}}"#),
                        format!(" {{ \"content\" : {blocks} {tail} , {head} }}\n"),
                    ] {
                        n += 1;
                        read += scan_agrees(&body) as usize;
                        by_serde +=
                            super::super::hub::from_json_bytes::<WireMessage>(body.as_bytes())
                                .is_ok() as usize;
                    }
                }
            }
        }
        assert!(n > 3000);
        // Nearly all that serde reads, but tool inputs (raw JSON), lone
        // surrogates and the array form of a struct.
        assert!(read * 100 > by_serde * 70, "{read} of {by_serde}");
        for body in [
            r#"{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"a\nb \u00e9"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":212,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":118}}"#,
            r#"{"type":"message","content":[],"usage":{}}"#,
        ] {
            assert!(scan_agrees(body), "{body}");
        }
        for body in [
            "",
            "null",
            "[]",
            "{}x",
            r#"{"type":"message"} {}"#,
            "\u{feff}{}",
        ] {
            assert!(!scan_agrees(body) || body == "{}", "{body}");
        }
    }

    /// Where the scanner reads a stream event, serde reads it alike.
    fn event_agrees(data: &str) -> bool {
        let serde = serde_json::from_str::<WireEvent>(data)
            .ok()
            .map(|v| format!("{v:?}"));
        match WireEvent::scan(data.as_bytes()) {
            Some(v) => {
                assert_eq!(Some(format!("{v:?}")), serde, "{data}");
                true
            }
            None => false,
        }
    }

    #[test]
    fn the_scanner_reads_stream_events_as_serde_does() {
        let start = |m: &str| format!(r#"{{"type":"message_start","message":{m}}}"#);
        let mut events: Vec<String> = Vec::new();
        for head in HEADS {
            for tail in TAILS {
                events.push(start(&format!(r#"{{{head},"content":[]{tail}}}"#)));
            }
        }
        for blocks in BLOCKS {
            let block = blocks.trim_start_matches('[').trim_end_matches(']');
            let block = block.split("},{").next().unwrap_or_default();
            let block = if block.starts_with('{') && !block.ends_with('}') {
                format!("{block}}}")
            } else {
                block.to_string()
            };
            for index in ["0", "3", "null", "-1", "1.5", "\"0\""] {
                events.push(format!(
                    r#"{{"type":"content_block_start","index":{index},"content_block":{block}}}"#
                ));
            }
        }
        for delta in [
            r#"{"type":"text_delta","text":"Hi \"there\"\n\u00e9"}"#,
            r#"{"type":"input_json_delta","partial_json":"{\"a\":"}"#,
            r#"{"type":"text_delta","text":"a","text":"b"}"#,
            r#"{"type":"text_delta","text":5}"#,
            r#"{"stop_reason":"end_turn","stop_sequence":null}"#,
            r#"{"stop_reason":"stop_sequence","stop_sequence":"END","other":[1]}"#,
            r#"{"type":"signature_delta","signature":"abc"}"#,
            r#"null"#,
            r#"[]"#,
        ] {
            events.push(format!(
                r#"{{"type":"content_block_delta","index":0,"delta":{delta}}}"#
            ));
            for tail in TAILS {
                events.push(format!(
                    r#"{{"type":"message_delta","delta":{delta}{tail}}}"#
                ));
            }
        }
        events.extend(
            [
                r#"{"type":"ping"}"#,
                r#"{"type":"content_block_stop","index":0}"#,
                r#"{"type":"message_stop"}"#,
                r#" { "type" : "message_stop" } "#,
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                r#"{"type":"ping","type":"ping"}"#,
                r#"{"type":"ping"} x"#,
                r#"{"type":"ping","#,
                r#"{}"#,
                r#"[]"#,
            ]
            .map(String::from),
        );
        let (mut read, mut by_serde) = (0, 0);
        for data in &events {
            read += event_agrees(data) as usize;
            by_serde += serde_json::from_str::<WireEvent>(data).is_ok() as usize;
        }
        assert!(events.len() > 300, "{}", events.len());
        assert!(read * 100 > by_serde * 70, "{read} of {by_serde}");
        // Every cut: where the scanner reads one, serde reads it alike.
        for data in &events {
            for cut in (0..data.len()).filter(|&c| data.is_char_boundary(c)) {
                event_agrees(&data[..cut]);
            }
        }
    }

    #[test]
    fn the_answer_scanner_gives_up_on_every_truncation() {
        let body = r#" { "id" : "msg_1" , "type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"é a\nb \u00e9\ud83d\ude00"},{"type":"thinking","thinking":"x","n":[1.5e3,-0,{}]}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":212,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":118}} "#;
        assert!(scan_agrees(body));
        // Every cut, mid-character ones included (those are not UTF-8).
        for cut in 0..body.len() {
            let b = &body.as_bytes()[..cut];
            assert!(!scan_agrees(b) || body[cut..].trim().is_empty(), "{cut}");
            let _ = decode_response(b, None);
        }
        // Bytes that are not UTF-8, in a text, an id, a key, a skipped value.
        for bad in [
            &b"\xff"[..],
            b"\xc0\xaf",
            b"\xed\xa0\x80",
            b"\xe2\x9c",
            b"\xc3\xa9\\n\xff",
        ] {
            for (pre, post) in [
                (
                    &br#"{"type":"message","content":[{"type":"text","text":"a"#[..],
                    &br#"b"}]}"#[..],
                ),
                (br#"{"type":"message","id":""#, br#"","content":[]}"#),
                (br#"{"type":"message","content":[],"x"#, br#"":1}"#),
                (br#"{"type":"message","content":[],"x":{"y":[""#, br#""]}}"#),
            ] {
                let body = [pre, bad, post].concat();
                // serde's to judge (it lets bad bytes pass in what it skips).
                assert!(!scan_agrees(&body), "{body:?}");
            }
        }
    }

    #[test]
    fn quick_text_deltas_read_as_serde_reads_them() {
        let hit = [
            (
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
                "Hi",
            ),
            (
                r#"{"type":"content_block_delta","index":12,"delta":{"type":"text_delta","text":""}}"#,
                "",
            ),
            (
                r#"{"type":"content_block_delta","index":3,"delta":{"type":"text_delta","text":"é ✓ 😀"}}  "#,
                "é ✓ 😀",
            ),
        ];
        for (data, text) in hit {
            assert_eq!(quick_text_delta(data), Some(text), "{data}");
            let v: WireEvent = serde_json::from_str(data).unwrap();
            assert_eq!(v.kind.as_deref(), Some("content_block_delta"));
            let d = v.delta.unwrap();
            assert_eq!(d.kind.as_deref(), Some("text_delta"));
            assert_eq!(d.text.unwrap(), text);
        }
        // Other spellings (and broken JSON) are left to serde.
        for data in [
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\nb"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\"b"}}"#,
            "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\tb\"}}",
            r#"{"type":"content_block_delta","index":01,"delta":{"type":"text_delta","text":"a"}}"#,
            r#"{"type":"content_block_delta","index":-1,"delta":{"type":"text_delta","text":"a"}}"#,
            r#"{"type":"content_block_delta","index":99999999999999999999,"delta":{"type":"text_delta","text":"a"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a","x":1}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}},"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"text":"a","type":"text_delta"}}"#,
            r#"{"type": "content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}"#,
            r#" {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{"}}"#,
        ] {
            assert_eq!(quick_text_delta(data), None, "{data}");
        }
    }

    #[test]
    fn a_stream_of_text_deltas_decodes_either_way() {
        let mut dec = EventDecoder::new(None);
        let mut out = Vec::new();
        for data in [
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"one "}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"two\n"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}"#,
            r#"{"index":0,"delta":{"text":"three","type":"text_delta"},"type":"content_block_delta"}"#,
        ] {
            let ev = SseEvent {
                event: "content_block_delta".into(),
                data: data.into(),
                id: "".into(),
            };
            dec.event(&ev, &mut out).unwrap();
        }
        assert_eq!(
            out,
            vec![
                Delta::Text("one ".into()),
                Delta::Text("two\n".into()),
                Delta::Text("three".into()),
            ]
        );
    }
}
