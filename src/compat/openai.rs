//! OpenAI Chat Completions and Embeddings: the caller's format for
//! `compat/chat/completions` and `compat/embeddings`, and the upstream
//! format of every OpenAI-compatible provider.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::{SeqAccess, Visitor};
use serde_json::{Map, Value, json};

use super::hub::{
    ChatRequest, ChatResponse, Delta, EmbedRequest, Finish, Message, Obj, Part, ResponseFormat,
    Role, Str, Text, TokenUsage, Tool, ToolCall, ToolChoice, check_arguments, check_tool_name, obj,
    opt_bool, opt_f64, opt_u64, unix_now, write_opt_str, write_str, write_text, write_u64,
};
use super::{OutEvent, StreamDecoder, StreamEncoder};
use crate::http::sse::SseEvent;
use crate::json::scan::{Scan, once};

type R<T> = Result<T, String>;

/// Chat Completions fields the hub reads; the rest go to `extra`.
const CHAT_FIELDS: &[&str] = &[
    "model",
    "messages",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "response_format",
    "stream",
    "stream_options",
    "n",
];

/// Reads an OpenAI Chat Completions request. `model` is the provider's
/// model (already split off the body's `model`).
pub fn parse_chat_request(body: &Value, model: &str) -> R<ChatRequest> {
    let o = obj(body, "the request body")?;
    let mut req = ChatRequest {
        model: model.to_string(),
        ..ChatRequest::default()
    };
    let messages = o
        .get("messages")
        .ok_or("missing \"messages\"")?
        .as_array()
        .ok_or("\"messages\" must be an array")?;
    if messages.is_empty() {
        return Err("\"messages\" must not be empty".into());
    }
    for (i, m) in messages.iter().enumerate() {
        parse_message(m, i, &mut req)?;
    }
    if let Some(tools) = o.get("tools").filter(|v| !v.is_null()) {
        let tools = tools.as_array().ok_or("\"tools\" must be an array")?;
        for (i, t) in tools.iter().enumerate() {
            req.tools.push(parse_tool(t, i)?);
        }
    }
    if let Some(tc) = o.get("tool_choice").filter(|v| !v.is_null()) {
        req.tool_choice = Some(match tc {
            Value::String(s) => match s.as_str() {
                "auto" => ToolChoice::Auto,
                "none" => ToolChoice::None,
                "required" => ToolChoice::Required,
                other => {
                    return Err(format!(
                        "tool_choice {other:?} is not auto, none or required"
                    ));
                }
            },
            Value::Object(t) => {
                let name = t
                    .get("function")
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                    .ok_or("tool_choice object needs function.name")?;
                ToolChoice::Named(name.to_string())
            }
            _ => return Err("tool_choice must be a string or an object".into()),
        });
    }
    req.parallel_tool_calls = opt_bool(o, "parallel_tool_calls")?;
    req.temperature = opt_f64(o, "temperature")?;
    req.top_p = opt_f64(o, "top_p")?;
    req.max_tokens = opt_u64(o, "max_completion_tokens")?.or(opt_u64(o, "max_tokens")?);
    req.stop = match o.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|s| {
                s.as_str()
                    .map(String::from)
                    .ok_or("stop entries must be strings")
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("stop must be a string or an array of strings".into()),
    };
    if let Some(rf) = o.get("response_format").filter(|v| !v.is_null()) {
        let rf = obj(rf, "response_format")?;
        req.response_format = Some(match rf.get("type").and_then(Value::as_str) {
            Some("text") => ResponseFormat::Text,
            Some("json_object") => ResponseFormat::JsonObject,
            Some("json_schema") => {
                let js = rf
                    .get("json_schema")
                    .and_then(Value::as_object)
                    .ok_or("response_format json_schema needs a \"json_schema\" object")?;
                let name = js.get("name").and_then(Value::as_str).unwrap_or("response");
                let schema = js
                    .get("schema")
                    .cloned()
                    .unwrap_or(json!({"type": "object"}));
                if !schema.is_object() {
                    return Err("response_format.json_schema.schema must be an object".into());
                }
                ResponseFormat::JsonSchema {
                    name: name.to_string(),
                    schema,
                }
            }
            _ => {
                return Err("response_format.type must be text, json_object or json_schema".into());
            }
        });
    }
    req.stream = opt_bool(o, "stream")?.unwrap_or(false);
    if let Some(so) = o.get("stream_options").filter(|v| !v.is_null()) {
        req.include_usage = opt_bool(obj(so, "stream_options")?, "include_usage")?.unwrap_or(false);
    }
    req.n = opt_u64(o, "n")?;
    for (k, v) in o {
        if !CHAT_FIELDS.contains(&k.as_str()) {
            req.extra.insert(k.clone(), v.clone());
        }
    }
    Ok(req)
}

fn parse_tool(t: &Value, i: usize) -> R<Tool> {
    let what = format!("tools[{i}]");
    let t = obj(t, &what)?;
    if t.get("type").and_then(Value::as_str) != Some("function") {
        return Err(format!(
            "{what}: only tools of type \"function\" are supported"
        ));
    }
    let f = obj(
        t.get("function")
            .ok_or(format!("{what}: missing function"))?,
        &what,
    )?;
    let name = f
        .get("name")
        .and_then(Value::as_str)
        .ok_or(format!("{what}: missing function.name"))?;
    check_tool_name(name, &what)?;
    let parameters = match f.get("parameters") {
        None | Some(Value::Null) => json!({"type": "object", "properties": {}}),
        Some(p @ Value::Object(_)) => p.clone(),
        Some(_) => {
            return Err(format!(
                "{what}: function.parameters must be a JSON Schema object"
            ));
        }
    };
    if let Some(ty) = parameters.get("type") {
        if ty != "object" {
            return Err(format!(
                "{what}: function.parameters must have type \"object\""
            ));
        }
    }
    Ok(Tool {
        name: name.to_string(),
        description: f
            .get("description")
            .and_then(Value::as_str)
            .map(String::from),
        parameters,
    })
}

fn parse_parts(content: &Value, what: &str, images: bool) -> R<Vec<Part>> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![Part::Text(Text::new(s))]),
        Value::Array(items) => {
            let mut parts = Vec::new();
            for (j, p) in items.iter().enumerate() {
                let pw = format!("{what}.content[{j}]");
                let p = obj(p, &pw)?;
                match p.get("type").and_then(Value::as_str) {
                    Some("text") => parts.push(Part::Text(Text::new(
                        p.get("text")
                            .and_then(Value::as_str)
                            .ok_or(format!("{pw}: missing text"))?,
                    ))),
                    Some("image_url") if images => {
                        let url = p
                            .get("image_url")
                            .and_then(|u| u.get("url").or(Some(u)))
                            .and_then(Value::as_str)
                            .ok_or(format!("{pw}: missing image_url.url"))?;
                        if let Some((media_type, data)) = super::hub::parse_data_url(url) {
                            parts.push(Part::Image { media_type, data });
                        } else if url.starts_with("http://") || url.starts_with("https://") {
                            parts.push(Part::ImageUrl(url.to_string()));
                        } else {
                            return Err(format!(
                                "{pw}: image_url.url must be a base64 data: URL or an http(s) URL"
                            ));
                        }
                    }
                    Some(other) => {
                        return Err(format!(
                            "{pw}: content part type {other:?} is not supported here"
                        ));
                    }
                    None => return Err(format!("{pw}: missing type")),
                }
            }
            Ok(parts)
        }
        _ => Err(format!(
            "{what}.content must be a string or an array of parts"
        )),
    }
}

fn parse_message(m: &Value, i: usize, req: &mut ChatRequest) -> R<()> {
    let what = format!("messages[{i}]");
    let o = obj(m, &what)?;
    let role = o
        .get("role")
        .and_then(Value::as_str)
        .ok_or(format!("{what}: missing role"))?;
    let content = o.get("content").unwrap_or(&Value::Null);
    match role {
        "system" | "developer" => {
            let parts = parse_parts(content, &what, false)?;
            let mut m = Message::new(Role::User);
            m.parts = parts;
            req.system.push(m.text());
        }
        "user" => {
            let mut msg = Message::new(Role::User);
            msg.parts = parse_parts(content, &what, true)?;
            if msg.parts.is_empty() {
                return Err(format!("{what}: a user message needs content"));
            }
            req.messages.push(msg);
        }
        "assistant" => {
            let mut msg = Message::new(Role::Assistant);
            msg.parts = parse_parts(content, &what, false)?;
            if let Some(calls) = o.get("tool_calls").filter(|v| !v.is_null()) {
                let calls = calls
                    .as_array()
                    .ok_or(format!("{what}: tool_calls must be an array"))?;
                for (j, c) in calls.iter().enumerate() {
                    let cw = format!("{what}.tool_calls[{j}]");
                    let c = obj(c, &cw)?;
                    let id = c
                        .get("id")
                        .and_then(Value::as_str)
                        .ok_or(format!("{cw}: missing id"))?;
                    let f = c.get("function").ok_or(format!("{cw}: missing function"))?;
                    let name = f
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or(format!("{cw}: missing function.name"))?;
                    let arguments = f
                        .get("arguments")
                        .and_then(Value::as_str)
                        .ok_or(format!("{cw}: missing function.arguments"))?;
                    check_arguments(arguments, &cw)?;
                    msg.tool_calls.push(ToolCall {
                        id: id.to_string(),
                        name: name.to_string(),
                        arguments: arguments.to_string(),
                    });
                }
            }
            if msg.parts.is_empty() && msg.tool_calls.is_empty() {
                return Err(format!(
                    "{what}: an assistant message needs content or tool_calls"
                ));
            }
            req.messages.push(msg);
        }
        "tool" => {
            let mut msg = Message::new(Role::Tool);
            msg.parts = parse_parts(content, &what, false)?;
            let id = o
                .get("tool_call_id")
                .and_then(Value::as_str)
                .ok_or(format!("{what}: a tool message needs tool_call_id"))?;
            msg.tool_call_id = Some(id.to_string());
            req.messages.push(msg);
        }
        other => return Err(format!("{what}: role {other:?} is not supported")),
    }
    Ok(())
}

// The request read typed, straight from the bytes (strings borrowed where
// they hold no escapes, texts kept as JSON wrote them): the fast path for
// the common request. It accepts
// a subset of what `parse_chat_request` does and reads it the same way;
// anything else (tools, images, response formats, unknown fields, any
// mistake) makes it give up, and the `Value` path decides, errors included.

/// A Chat Completions request of the shape the fast path reads.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct FastChat<'a> {
    #[serde(borrow)]
    model: Cow<'a, str>,
    #[serde(borrow)]
    messages: Vec<Obj<FastMessage<'a>>>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    stop: Option<Stops>,
    stream: Option<bool>,
    stream_options: Option<Obj<FastStreamOptions>>,
    n: Option<u64>,
    parallel_tool_calls: Option<bool>,
    #[serde(borrow, default)]
    tool_choice: Str<'a>,
}

#[derive(Deserialize, Debug)]
struct FastMessage<'a> {
    #[serde(borrow)]
    role: Cow<'a, str>,
    #[serde(borrow)]
    content: Option<FastContent<'a>>,
    #[serde(borrow, default)]
    tool_call_id: Str<'a>,
    #[serde(borrow)]
    tool_calls: Option<Vec<Obj<FastCall<'a>>>>,
}

#[derive(Deserialize, Debug)]
struct FastPart<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Str<'a>,
    text: Option<Text>,
}

#[derive(Deserialize, Debug)]
struct FastCall<'a> {
    #[serde(borrow, default)]
    id: Str<'a>,
    #[serde(borrow)]
    function: Option<Obj<FastFunction<'a>>>,
}

#[derive(Deserialize, Debug)]
struct FastFunction<'a> {
    #[serde(borrow, default)]
    name: Str<'a>,
    #[serde(borrow, default)]
    arguments: Str<'a>,
}

#[derive(Deserialize, Debug)]
struct FastStreamOptions {
    include_usage: Option<bool>,
}

/// A message's `content`: a string or an array of parts.
#[derive(Debug)]
enum FastContent<'a> {
    Text(Text),
    Parts(Vec<Obj<FastPart<'a>>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for FastContent<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FastContent<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an array of parts")
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(FastContent::Text(Text::new(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut parts = Vec::new();
                while let Some(p) = seq.next_element()? {
                    parts.push(p);
                }
                Ok(FastContent::Parts(parts))
            }
        }
        d.deserialize_any(V)
    }
}

/// `stop`: a string or an array of strings.
#[derive(Debug)]
struct Stops(Vec<String>);

impl<'de> Deserialize<'de> for Stops {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Stops;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E>(self, v: &str) -> Result<Stops, E> {
                Ok(Stops(vec![v.to_owned()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Stops, A::Error> {
                let mut all = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    all.push(s);
                }
                Ok(Stops(all))
            }
        }
        d.deserialize_any(V)
    }
}

/// A string or null, as `Str` reads it.
fn scan_str<'a>(sc: &mut Scan<'a>) -> Option<Str<'a>> {
    sc.opt(Scan::string).map(Str)
}

/// One message, as `FastMessage`'s derived reader reads it.
fn scan_message<'a>(sc: &mut Scan<'a>) -> Option<FastMessage<'a>> {
    let (mut seen, mut role) = (0u32, None);
    let mut m = FastMessage {
        role: Cow::Borrowed(""),
        content: None,
        tool_call_id: Str(None),
        tool_calls: None,
    };
    sc.object(|sc, key| {
        match key {
            "role" => {
                once(&mut seen, 0)?;
                role = Some(sc.string()?);
            }
            "content" => {
                once(&mut seen, 1)?;
                m.content = sc.opt(|sc| {
                    if sc.peek() == Some(b'"') {
                        return sc
                            .raw_string()
                            .map(|t| FastContent::Text(Text::from_json(t)));
                    }
                    let mut parts = Vec::new();
                    sc.array(|sc| {
                        parts.push(Obj(scan_part(sc)?));
                        Some(())
                    })?;
                    Some(FastContent::Parts(parts))
                })?;
            }
            "tool_call_id" => {
                once(&mut seen, 2)?;
                m.tool_call_id = scan_str(sc)?;
            }
            "tool_calls" => {
                once(&mut seen, 3)?;
                m.tool_calls = sc.opt(|sc| {
                    let mut calls = Vec::new();
                    sc.array(|sc| {
                        calls.push(Obj(scan_call(sc)?));
                        Some(())
                    })?;
                    Some(calls)
                })?;
            }
            _ => sc.skip()?,
        }
        Some(())
    })?;
    m.role = role?;
    Some(m)
}

fn scan_part<'a>(sc: &mut Scan<'a>) -> Option<FastPart<'a>> {
    let (mut seen, mut p) = (
        0u32,
        FastPart {
            kind: Str(None),
            text: None,
        },
    );
    sc.object(|sc, key| match key {
        "type" => {
            once(&mut seen, 0)?;
            p.kind = scan_str(sc)?;
            Some(())
        }
        "text" => {
            once(&mut seen, 1)?;
            p.text = sc.opt(|sc| sc.raw_string().map(Text::from_json))?;
            Some(())
        }
        _ => sc.skip(),
    })?;
    Some(p)
}

fn scan_call<'a>(sc: &mut Scan<'a>) -> Option<FastCall<'a>> {
    let (mut seen, mut c) = (
        0u32,
        FastCall {
            id: Str(None),
            function: None,
        },
    );
    sc.object(|sc, key| match key {
        "id" => {
            once(&mut seen, 0)?;
            c.id = scan_str(sc)?;
            Some(())
        }
        "function" => {
            once(&mut seen, 1)?;
            c.function = sc.opt(|sc| {
                let (mut seen, mut f) = (
                    0u32,
                    FastFunction {
                        name: Str(None),
                        arguments: Str(None),
                    },
                );
                sc.object(|sc, key| match key {
                    "name" => {
                        once(&mut seen, 0)?;
                        f.name = scan_str(sc)?;
                        Some(())
                    }
                    "arguments" => {
                        once(&mut seen, 1)?;
                        f.arguments = scan_str(sc)?;
                        Some(())
                    }
                    _ => sc.skip(),
                })?;
                Some(Obj(f))
            })?;
            Some(())
        }
        _ => sc.skip(),
    })?;
    Some(c)
}

/// Text-only parts (`None`: some part is not text, or not well formed).
fn fast_parts(content: Option<FastContent>) -> Option<Vec<Part>> {
    match content {
        None => Some(Vec::new()),
        Some(FastContent::Text(t)) => Some(vec![Part::Text(t)]),
        Some(FastContent::Parts(parts)) => parts
            .into_iter()
            .map(|Obj(p)| match (p.kind.as_deref(), p.text) {
                (Some("text"), Some(t)) => Some(Part::Text(t)),
                _ => None,
            })
            .collect(),
    }
}

impl<'a> FastChat<'a> {
    /// The request, if it has the shape the fast path reads.
    pub fn read(body: &'a [u8]) -> Option<FastChat<'a>> {
        FastChat::scan(body).or_else(|| FastChat::read_serde(body))
    }

    /// The same, read by serde (the judge where `scan` gives up).
    fn read_serde(body: &'a [u8]) -> Option<FastChat<'a>> {
        super::hub::from_json_bytes::<Obj<FastChat>>(body)
            .ok()
            .map(|o| o.0)
    }

    /// The same, read by the hand-written scanner: what serde's derived
    /// reader above would read, member for member (unknown members refused
    /// here, ignored in messages and parts; a duplicate gives up, as serde
    /// refuses it); `None` hands the body to serde.
    fn scan(body: &'a [u8]) -> Option<FastChat<'a>> {
        let mut sc = Scan::new(body);
        let (mut seen, mut model, mut messages) = (0u32, None, None);
        let mut f = FastChat {
            model: Cow::Borrowed(""),
            messages: Vec::new(),
            temperature: None,
            top_p: None,
            max_tokens: None,
            max_completion_tokens: None,
            stop: None,
            stream: None,
            stream_options: None,
            n: None,
            parallel_tool_calls: None,
            tool_choice: Str(None),
        };
        sc.object(|sc, key| {
            match key {
                "model" => {
                    once(&mut seen, 0)?;
                    model = Some(sc.string()?);
                }
                "messages" => {
                    once(&mut seen, 1)?;
                    let mut all = Vec::new();
                    sc.array(|sc| {
                        all.push(Obj(scan_message(sc)?));
                        Some(())
                    })?;
                    messages = Some(all);
                }
                "temperature" => {
                    once(&mut seen, 2)?;
                    f.temperature = sc.opt(Scan::f64)?;
                }
                "top_p" => {
                    once(&mut seen, 3)?;
                    f.top_p = sc.opt(Scan::f64)?;
                }
                "max_tokens" => {
                    once(&mut seen, 4)?;
                    f.max_tokens = sc.opt(Scan::u64)?;
                }
                "max_completion_tokens" => {
                    once(&mut seen, 5)?;
                    f.max_completion_tokens = sc.opt(Scan::u64)?;
                }
                "stop" => {
                    once(&mut seen, 6)?;
                    f.stop = sc.opt(|sc| {
                        if sc.peek() == Some(b'"') {
                            return Some(Stops(vec![sc.string()?.into_owned()]));
                        }
                        let mut all = Vec::new();
                        sc.array(|sc| {
                            all.push(sc.string()?.into_owned());
                            Some(())
                        })?;
                        Some(Stops(all))
                    })?;
                }
                "stream" => {
                    once(&mut seen, 7)?;
                    f.stream = sc.opt(Scan::bool)?;
                }
                "stream_options" => {
                    once(&mut seen, 8)?;
                    f.stream_options = sc.opt(|sc| {
                        let (mut seen, mut include_usage) = (0u32, None);
                        sc.object(|sc, key| match key {
                            "include_usage" => {
                                once(&mut seen, 0)?;
                                include_usage = sc.opt(Scan::bool)?;
                                Some(())
                            }
                            _ => sc.skip(),
                        })?;
                        Some(Obj(FastStreamOptions { include_usage }))
                    })?;
                }
                "n" => {
                    once(&mut seen, 9)?;
                    f.n = sc.opt(Scan::u64)?;
                }
                "parallel_tool_calls" => {
                    once(&mut seen, 10)?;
                    f.parallel_tool_calls = sc.opt(Scan::bool)?;
                }
                "tool_choice" => {
                    once(&mut seen, 11)?;
                    f.tool_choice = scan_str(sc)?;
                }
                _ => return None,
            }
            Some(())
        })?;
        sc.end()?;
        f.model = model?;
        f.messages = messages?;
        Some(f)
    }

    /// The body's `model` (`{provider}/{model}`), borrowed from the body
    /// where it holds no escape.
    pub fn model(&self) -> Cow<'a, str> {
        self.model.clone()
    }

    /// The hub request, as `parse_chat_request` reads it; `None` where that
    /// one would refuse it (or where only it knows how to read it).
    pub fn into_request(self, model: &str) -> Option<ChatRequest> {
        if self.messages.is_empty() {
            return None;
        }
        let mut req = ChatRequest {
            model: model.to_string(),
            messages: Vec::with_capacity(self.messages.len()),
            ..ChatRequest::default()
        };
        for Obj(m) in self.messages {
            let content = match (&*m.role, m.content) {
                ("system" | "developer", Some(FastContent::Text(t))) => {
                    // Plain text is the instruction as it is (no parts to join).
                    req.system.push(t);
                    continue;
                }
                (_, content) => content,
            };
            let parts = fast_parts(content)?;
            match &*m.role {
                "system" | "developer" => {
                    let mut msg = Message::new(Role::User);
                    msg.parts = parts;
                    req.system.push(msg.text());
                }
                "user" if !parts.is_empty() => {
                    let mut msg = Message::new(Role::User);
                    msg.parts = parts;
                    req.messages.push(msg);
                }
                "assistant" => {
                    let mut msg = Message::new(Role::Assistant);
                    msg.parts = parts;
                    for Obj(c) in m.tool_calls.unwrap_or_default() {
                        let Obj(f) = c.function?;
                        let arguments = f.arguments.0?;
                        check_arguments(&arguments, "").ok()?;
                        msg.tool_calls.push(ToolCall {
                            id: c.id.0?.into_owned(),
                            name: f.name.0?.into_owned(),
                            arguments: arguments.into_owned(),
                        });
                    }
                    if msg.parts.is_empty() && msg.tool_calls.is_empty() {
                        return None;
                    }
                    req.messages.push(msg);
                }
                "tool" => {
                    let mut msg = Message::new(Role::Tool);
                    msg.parts = parts;
                    msg.tool_call_id = Some(m.tool_call_id.0?.into_owned());
                    req.messages.push(msg);
                }
                _ => return None,
            }
        }
        req.tool_choice = match self.tool_choice.as_deref() {
            None => None,
            Some("auto") => Some(ToolChoice::Auto),
            Some("none") => Some(ToolChoice::None),
            Some("required") => Some(ToolChoice::Required),
            Some(_) => return None,
        };
        req.parallel_tool_calls = self.parallel_tool_calls;
        req.temperature = self.temperature;
        req.top_p = self.top_p;
        req.max_tokens = self.max_completion_tokens.or(self.max_tokens);
        req.stop = self.stop.map(|s| s.0).unwrap_or_default();
        req.stream = self.stream.unwrap_or(false);
        req.include_usage = self
            .stream_options
            .and_then(|o| o.0.include_usage)
            .unwrap_or(false);
        req.n = self.n;
        Some(req)
    }
}

/// Writes the hub request as an OpenAI Chat Completions body.
pub fn build_chat_request(req: &ChatRequest) -> Value {
    let mut messages = Vec::new();
    for s in &req.system {
        messages.push(json!({"role": "system", "content": s}));
    }
    for m in &req.messages {
        let content_parts = |parts: &[Part]| -> Value {
            if parts.len() == 1 {
                if let Part::Text(t) = &parts[0] {
                    return json!(t);
                }
            }
            Value::Array(
                parts
                    .iter()
                    .map(|p| match p {
                        Part::Text(t) => json!({"type": "text", "text": t}),
                        Part::Image { media_type, data } => json!({"type": "image_url",
                            "image_url": {"url": format!("data:{media_type};base64,{data}")}}),
                        Part::ImageUrl(u) => json!({"type": "image_url", "image_url": {"url": u}}),
                    })
                    .collect(),
            )
        };
        match m.role {
            Role::User => {
                messages.push(json!({"role": "user", "content": content_parts(&m.parts)}))
            }
            Role::Tool => messages.push(json!({"role": "tool",
                "tool_call_id": m.tool_call_id.clone().unwrap_or_default(), "content": m.text()})),
            Role::Assistant => {
                let mut a = json!({"role": "assistant",
                    "content": if m.parts.is_empty() { Value::Null } else { json!(m.text()) }});
                if !m.tool_calls.is_empty() {
                    a["tool_calls"] = Value::Array(
                        m.tool_calls
                            .iter()
                            .map(|c| {
                                json!({"id": c.id, "type": "function",
                                "function": {"name": c.name, "arguments": c.arguments}})
                            })
                            .collect(),
                    );
                }
                messages.push(a);
            }
        }
    }
    let mut body = json!({"model": req.model, "messages": messages});
    if !req.tools.is_empty() {
        body["tools"] = Value::Array(
            req.tools
                .iter()
                .map(|t| {
                    let mut f = json!({"name": t.name, "parameters": t.parameters});
                    if let Some(d) = &t.description {
                        f["description"] = json!(d);
                    }
                    json!({"type": "function", "function": f})
                })
                .collect(),
        );
    }
    if let Some(tc) = &req.tool_choice {
        body["tool_choice"] = match tc {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Named(n) => json!({"type": "function", "function": {"name": n}}),
        };
    }
    if let Some(p) = req.parallel_tool_calls {
        body["parallel_tool_calls"] = json!(p);
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(t) = req.top_p {
        body["top_p"] = json!(t);
    }
    if let Some(t) = req.max_tokens {
        body["max_tokens"] = json!(t);
    }
    if !req.stop.is_empty() {
        body["stop"] = json!(req.stop);
    }
    if let Some(rf) = &req.response_format {
        body["response_format"] = match rf {
            ResponseFormat::Text => json!({"type": "text"}),
            ResponseFormat::JsonObject => json!({"type": "json_object"}),
            ResponseFormat::JsonSchema { name, schema } => {
                json!({"type": "json_schema", "json_schema": {"name": name, "schema": schema}})
            }
        };
    }
    if req.stream {
        body["stream"] = json!(true);
        // Usage is always asked for: the caller's format may need it.
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

fn finish_of(reason: Option<&str>) -> Finish {
    match reason {
        Some("length") => Finish::Length,
        Some("tool_calls") | Some("function_call") => Finish::ToolCalls,
        Some("content_filter") => Finish::ContentFilter,
        _ => Finish::Stop,
    }
}

pub fn finish_name(f: Finish) -> &'static str {
    match f {
        Finish::Stop => "stop",
        Finish::Length => "length",
        Finish::ToolCalls => "tool_calls",
        Finish::ContentFilter => "content_filter",
    }
}

fn usage_of(u: &Value) -> Option<TokenUsage> {
    let u = u.as_object()?;
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    Some(TokenUsage {
        input: n("prompt_tokens"),
        output: n("completion_tokens"),
        cache_read: u
            .get("prompt_tokens_details")
            .and_then(|d| d.get("cached_tokens"))
            .and_then(Value::as_u64)
            .unwrap_or(0),
        cache_write: 0,
    })
}

/// Reads an OpenAI chat.completion body.
pub fn decode_response(v: &Value) -> R<ChatResponse> {
    let choice = v
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .ok_or("no choices")?;
    let msg = choice.get("message").ok_or("choices[0] has no message")?;
    let mut tool_calls = Vec::new();
    if let Some(calls) = msg.get("tool_calls").and_then(Value::as_array) {
        for c in calls {
            tool_calls.push(ToolCall {
                id: c
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                name: c
                    .pointer("/function/name")
                    .and_then(Value::as_str)
                    .ok_or("a tool call has no function.name")?
                    .to_string(),
                arguments: c
                    .pointer("/function/arguments")
                    .and_then(Value::as_str)
                    .unwrap_or("{}")
                    .to_string(),
            });
        }
    }
    Ok(ChatResponse {
        id: v
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        model: v
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        created: v
            .get("created")
            .and_then(Value::as_u64)
            .unwrap_or_else(unix_now),
        text: msg.get("content").and_then(Value::as_str).map(Text::new),
        tool_calls,
        finish: finish_of(choice.get("finish_reason").and_then(Value::as_str)),
        stop_sequence: None,
        usage: v.get("usage").and_then(usage_of),
    })
}

/// Appends the hub usage as OpenAI's `usage` object.
fn write_usage(s: &mut String, u: &TokenUsage) {
    s.push_str("{\"prompt_tokens\":");
    write_u64(s, u.input);
    s.push_str(",\"completion_tokens\":");
    write_u64(s, u.output);
    s.push_str(",\"total_tokens\":");
    write_u64(s, u.input + u.output);
    s.push_str(",\"prompt_tokens_details\":{\"cached_tokens\":");
    write_u64(s, u.cache_read);
    s.push_str("}}");
}

/// Writes the hub answer as an OpenAI chat.completion body (JSON text,
/// written directly into one buffer sized for it).
pub fn encode_response(r: &ChatResponse) -> String {
    let text_len = r.text.as_ref().map_or(0, Text::len);
    let calls_len: usize = r
        .tool_calls
        .iter()
        .map(|c| c.id.len() + c.name.len() + c.arguments.len() + 80)
        .sum();
    let mut s = String::with_capacity(text_len + calls_len + r.id.len() + r.model.len() + 400);
    s.push_str("{\"id\":");
    write_str(&mut s, &r.id);
    s.push_str(",\"object\":\"chat.completion\",\"created\":");
    write_u64(&mut s, r.created);
    s.push_str(",\"model\":");
    write_str(&mut s, &r.model);
    s.push_str(",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
    match &r.text {
        Some(t) => write_text(&mut s, t),
        None => s.push_str("null"),
    }
    s.push_str(",\"refusal\":null");
    if !r.tool_calls.is_empty() {
        s.push_str(",\"tool_calls\":[");
        for (i, c) in r.tool_calls.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str("{\"id\":");
            write_str(&mut s, &c.id);
            s.push_str(",\"type\":\"function\",\"function\":{\"name\":");
            write_str(&mut s, &c.name);
            s.push_str(",\"arguments\":");
            write_str(&mut s, &c.arguments);
            s.push_str("}}");
        }
        s.push(']');
    }
    s.push_str("},\"logprobs\":null,\"finish_reason\":");
    write_str(&mut s, finish_name(r.finish));
    s.push_str("}]");
    if let Some(u) = &r.usage {
        s.push_str(",\"usage\":");
        write_usage(&mut s, u);
    }
    s.push('}');
    s
}

/// The OpenAI error body.
pub fn encode_error(message: &str, kind: &str, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// Reads an OpenAI `chat.completion.chunk` stream into hub deltas.
#[derive(Default)]
pub struct ChunkDecoder {
    started: bool,
    /// Upstream tool index → hub index, in order of appearance.
    tools: Vec<u64>,
}

impl StreamDecoder for ChunkDecoder {
    fn event(&mut self, ev: &SseEvent<'_>, out: &mut Vec<Delta>) -> R<()> {
        let data = ev.data.trim();
        if data == "[DONE]" {
            out.push(Delta::End);
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        let v: Value =
            serde_json::from_str(data).map_err(|e| format!("a stream event is not JSON: {e}"))?;
        if let Some(err) = v.get("error") {
            let (message, kind) = super::hub::upstream_error(v.to_string().as_bytes());
            let _ = err;
            out.push(Delta::Error {
                kind: kind.unwrap_or_else(|| "api_error".into()),
                message,
            });
            return Ok(());
        }
        if !self.started {
            self.started = true;
            out.push(Delta::Start {
                id: v
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                model: v
                    .get("model")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            });
        }
        if let Some(choice) = v
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
        {
            let delta = choice.get("delta").unwrap_or(&Value::Null);
            if let Some(t) = delta.get("content").and_then(Value::as_str) {
                if !t.is_empty() {
                    out.push(Delta::Text(Text::new(t)));
                }
            }
            if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
                for c in calls {
                    let up = c.get("index").and_then(Value::as_u64).unwrap_or(0);
                    let index = match self.tools.iter().position(|&t| t == up) {
                        Some(i) => i,
                        None => {
                            self.tools.push(up);
                            let i = self.tools.len() - 1;
                            out.push(Delta::ToolStart {
                                index: i,
                                id: c
                                    .get("id")
                                    .and_then(Value::as_str)
                                    .unwrap_or_default()
                                    .to_string(),
                                name: c
                                    .pointer("/function/name")
                                    .and_then(Value::as_str)
                                    .unwrap_or_default()
                                    .to_string(),
                            });
                            i
                        }
                    };
                    if let Some(a) = c.pointer("/function/arguments").and_then(Value::as_str) {
                        if !a.is_empty() {
                            out.push(Delta::ToolArgs {
                                index,
                                fragment: a.to_string(),
                            });
                        }
                    }
                }
            }
            if let Some(f) = choice.get("finish_reason").and_then(Value::as_str) {
                out.push(Delta::Finish {
                    reason: finish_of(Some(f)),
                    stop_sequence: None,
                });
            }
        }
        if let Some(u) = v.get("usage").and_then(usage_of) {
            out.push(Delta::Usage(u));
        }
        Ok(())
    }
}

/// Writes hub deltas as OpenAI `chat.completion.chunk` events, as JSON text
/// written directly: every chunk opens with the same id, created and model,
/// written once (`head`), so an event costs one buffer and its delta.
pub struct ChunkEncoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    usage: Option<TokenUsage>,
    started: bool,
    done: bool,
    /// `{"id":..,"object":"chat.completion.chunk","created":..,"model":..,"choices":`
    head: String,
}

impl ChunkEncoder {
    pub fn new(include_usage: bool, model: &str) -> ChunkEncoder {
        ChunkEncoder {
            id: String::new(),
            model: model.to_string(),
            created: unix_now(),
            include_usage,
            usage: None,
            started: false,
            done: false,
            head: String::new(),
        }
    }

    fn write_head(&mut self) {
        let h = &mut self.head;
        h.clear();
        h.push_str("{\"id\":");
        write_str(h, &self.id);
        h.push_str(",\"object\":\"chat.completion.chunk\",\"created\":");
        write_u64(h, self.created);
        h.push_str(",\"model\":");
        write_str(h, &self.model);
        h.push_str(",\"choices\":");
    }

    /// One chunk: `delta` writes the delta object's JSON.
    fn chunk(&self, finish: Option<&str>, delta: impl FnOnce(&mut String)) -> OutEvent {
        let mut s = String::with_capacity(self.head.len() + 96);
        s.push_str(&self.head);
        s.push_str("[{\"index\":0,\"delta\":");
        delta(&mut s);
        s.push_str(",\"logprobs\":null,\"finish_reason\":");
        write_opt_str(&mut s, finish);
        s.push_str("}]}");
        OutEvent::data(s)
    }

    fn start(&mut self, out: &mut Vec<OutEvent>) {
        if !self.started {
            self.started = true;
            if self.id.is_empty() {
                self.id = super::hub::synth_id("chatcmpl-");
            }
            self.write_head();
            out.push(self.chunk(None, |s| {
                s.push_str("{\"role\":\"assistant\",\"content\":\"\"}")
            }));
        }
    }
}

impl StreamEncoder for ChunkEncoder {
    fn delta(&mut self, d: &Delta, out: &mut Vec<OutEvent>) {
        if self.done {
            return;
        }
        match d {
            Delta::Start { id, model } => {
                if !id.is_empty() {
                    self.id = id.clone();
                }
                if !model.is_empty() {
                    self.model = model.clone();
                }
                self.start(out);
            }
            Delta::Text(t) => {
                self.start(out);
                out.push(self.chunk(None, |s| {
                    s.push_str("{\"content\":");
                    write_text(s, t);
                    s.push('}');
                }));
            }
            Delta::ToolStart { index, id, name } => {
                self.start(out);
                out.push(self.chunk(None, |s| {
                    s.push_str("{\"tool_calls\":[{\"index\":");
                    write_u64(s, *index as u64);
                    s.push_str(",\"id\":");
                    write_str(s, id);
                    s.push_str(",\"type\":\"function\",\"function\":{\"name\":");
                    write_str(s, name);
                    s.push_str(",\"arguments\":\"\"}}]}");
                }));
            }
            Delta::ToolArgs { index, fragment } => {
                self.start(out);
                out.push(self.chunk(None, |s| {
                    s.push_str("{\"tool_calls\":[{\"index\":");
                    write_u64(s, *index as u64);
                    s.push_str(",\"function\":{\"arguments\":");
                    write_str(s, fragment);
                    s.push_str("}}]}");
                }));
            }
            Delta::Finish { reason, .. } => {
                self.start(out);
                out.push(self.chunk(Some(finish_name(*reason)), |s| s.push_str("{}")));
            }
            Delta::Usage(u) => self.usage = Some(*u),
            Delta::End => {
                self.start(out);
                if self.include_usage {
                    let u = self.usage.unwrap_or_default();
                    let mut s = String::with_capacity(self.head.len() + 160);
                    s.push_str(&self.head);
                    s.push_str("[],\"usage\":");
                    write_usage(&mut s, &u);
                    s.push('}');
                    out.push(OutEvent::data(s));
                }
                out.push(OutEvent::data("[DONE]".into()));
                self.done = true;
            }
            Delta::Error { kind, message } => {
                out.push(OutEvent::data(
                    encode_error(message, kind, None).to_string(),
                ));
            }
        }
    }
}

/// Reads an OpenAI Embeddings request.
pub fn parse_embed_request(body: &Value, model: &str) -> R<(EmbedRequest, Map<String, Value>)> {
    let o = obj(body, "the request body")?;
    let (inputs, single) = match o.get("input") {
        Some(Value::String(s)) => (vec![s.clone()], true),
        Some(Value::Array(items)) if !items.is_empty() => (
            items
                .iter()
                .map(|s| s.as_str().map(String::from))
                .collect::<Option<Vec<_>>>()
                .ok_or("input must be a string or an array of strings (token arrays are not translated)")?,
            false,
        ),
        Some(Value::Array(_)) => return Err("input must not be empty".into()),
        Some(_) => return Err("input must be a string or an array of strings".into()),
        None => return Err("missing \"input\"".into()),
    };
    let mut extra = Map::new();
    for (k, v) in o {
        if !["model", "input", "dimensions"].contains(&k.as_str()) {
            extra.insert(k.clone(), v.clone());
        }
    }
    Ok((
        EmbedRequest {
            model: model.to_string(),
            inputs,
            single,
            dimensions: opt_u64(o, "dimensions")?,
        },
        extra,
    ))
}

/// Writes vectors as an OpenAI Embeddings response.
pub fn encode_embeddings(vectors: Vec<Value>, model: &str, prompt_tokens: u64) -> Value {
    json!({
        "object": "list",
        "data": vectors.into_iter().enumerate()
            .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
            .collect::<Vec<_>>(),
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path's answer, and the `Value` path's.
    fn both(body: &str) -> (Option<ChatRequest>, Result<ChatRequest, String>) {
        let fast = FastChat::read(body.as_bytes()).and_then(|f| f.into_request("m"));
        let slow = serde_json::from_str::<Value>(body)
            .map_err(|e| e.to_string())
            .and_then(|v| parse_chat_request(&v, "m"));
        (fast, slow)
    }

    const MESSAGES: &[&str] = &[
        r#"{"role":"user","content":"hi"}"#,
        r#"{"role":"user","content":"esc \" \n \u00e9 ✓"}"#,
        r#"{"role":"user","content":""}"#,
        r#"{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}"#,
        r#"{"role":"user","content":[]}"#,
        r#"{"role":"user","content":null}"#,
        r#"{"role":"user"}"#,
        r#"{"role":"user","content":5}"#,
        r#"{"role":"user","content":[{"type":"text"}]}"#,
        r#"{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}"#,
        r#"{"role":"user","content":[{"type":"text","text":"a","cache_control":{}}],"name":"x"}"#,
        r#"["user","hi"]"#,
        r#"{"role":"system","content":"be brief"}"#,
        r#"{"role":"developer","content":[{"type":"text","text":"x"},{"type":"text","text":"y"}]}"#,
        r#"{"role":"system","content":null}"#,
        r#"{"role":"system","content":[{"type":"image_url","image_url":"http://x"}]}"#,
        r#"{"role":"assistant","content":"ok"}"#,
        r#"{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]}"#,
        r#"{"role":"assistant","tool_calls":[{"id":"c1","function":{"name":"f","arguments":"[1]"}}]}"#,
        r#"{"role":"assistant","tool_calls":[{"id":"c1","function":{"name":"f","arguments":"{"}}]}"#,
        r#"{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"{}"}}]}"#,
        r#"{"role":"assistant","tool_calls":[{"id":"c1","function":["f","{}"]}]}"#,
        r#"{"role":"assistant","tool_calls":[]}"#,
        r#"{"role":"assistant","tool_calls":null,"content":"x"}"#,
        r#"{"role":"tool","tool_call_id":"c1","content":"42"}"#,
        r#"{"role":"tool","content":"42"}"#,
        r#"{"role":"tool","tool_call_id":null,"content":"42"}"#,
        r#"{"role":"user","content":"x","tool_call_id":7}"#,
        r#"{"role":"function","content":"x"}"#,
        r#"{"role":7,"content":"x"}"#,
    ];

    const FIELDS: &[&str] = &[
        "",
        r#","temperature":0.5,"top_p":1"#,
        r#","temperature":null,"max_tokens":null"#,
        r#","temperature":"hot""#,
        r#","max_tokens":256"#,
        r#","max_tokens":256,"max_completion_tokens":100"#,
        r#","max_tokens":1.5"#,
        r#","max_tokens":-1"#,
        r#","stop":"END""#,
        r#","stop":["a","b"]"#,
        r#","stop":["a",null]"#,
        r#","stop":[]"#,
        r#","stop":5"#,
        r#","stream":true,"stream_options":{"include_usage":true,"other":1}"#,
        r#","stream":false,"stream_options":null"#,
        r#","stream_options":[true]"#,
        r#","stream_options":{"include_usage":"yes"}"#,
        r#","stream":"yes""#,
        r#","n":1,"parallel_tool_calls":false"#,
        r#","n":2"#,
        r#","tool_choice":"auto""#,
        r#","tool_choice":"required""#,
        r#","tool_choice":"sometimes""#,
        r#","tool_choice":{"type":"function","function":{"name":"f"}}"#,
        r#","tool_choice":null"#,
        r#","user":"u1""#,
        r#","tools":[{"type":"function","function":{"name":"f"}}]"#,
        r#","response_format":{"type":"json_object"}"#,
        r#","temperature":1,"temperature":2"#,
    ];

    #[test]
    fn the_typed_request_reads_as_the_value_path_does() {
        let (mut fast_taken, mut slow_ok) = (0, 0);
        for fields in FIELDS {
            for m in MESSAGES {
                for body in [
                    format!(r#"{{"model":"p/m","messages":[{m}]{fields}}}"#),
                    format!(
                        r#"{{"messages":[{{"role":"system","content":"s"}},{m},{{"role":"user","content":"q"}}],"model":"p/m"{fields}}}"#
                    ),
                ] {
                    let (fast, slow) = both(&body);
                    slow_ok += slow.is_ok() as usize;
                    if let Some(fast) = fast {
                        fast_taken += 1;
                        assert_eq!(Ok(fast), slow, "{body}");
                    }
                }
            }
        }
        // Most well-formed requests take the fast path (not those with
        // images, tools, response formats or fields it leaves to `extra`).
        assert!(fast_taken * 10 > slow_ok * 6, "{fast_taken} of {slow_ok}");
        for body in [
            r#"{"model":"p/m","messages":[]}"#,
            r#"{"model":"p/m"}"#,
            r#"{"model":5,"messages":[{"role":"user","content":"x"}]}"#,
            r#"["p/m",[{"role":"user","content":"x"}]]"#,
            r#"{"model":"p/m","messages":[{"role":"user","content":"x"}]} trailing"#,
            r#"{"model":"p/m","messages":{"role":"user","content":"x"}}"#,
        ] {
            assert!(both(body).0.is_none(), "{body}");
        }
        let (fast, _) = both(r#"{"model":"p/m","messages":[{"role":"user","content":"hi"}]}"#);
        assert_eq!(fast.unwrap().messages[0].text(), "hi");
    }

    /// The scanner's reading and serde's, as text (`None`: refused or
    /// given up). Where the scanner reads a body, serde must read it alike.
    fn scan_agrees(body: impl AsRef<[u8]>) -> bool {
        let body = body.as_ref();
        let serde = FastChat::read_serde(body).map(|f| format!("{f:?}"));
        match FastChat::scan(body) {
            Some(f) => {
                let shown = String::from_utf8_lossy(body);
                assert_eq!(Some(format!("{f:?}")), serde, "{shown}");
                true
            }
            None => false,
        }
    }

    /// Strings and numbers in their every JSON form, whitespace, duplicates.
    const ODD: &[&str] = &[
        r#"{"model":"p/m","messages":[{"role":"user","content":"a\"b\\c\/d\b\f\n\r\t"}]}"#,
        r#"{"model":"p\/m","messages":[{"role":"user","content":"\u00e9\u00E9\u2713\ud83d\ude00\u0000"}]}"#,
        r#"{"model":"p/m","messages":[{"role":"user","content":"\ud83d"}]}"#,
        r#"{"model":"p/m","messages":[{"role":"user","content":"\ude00x"}]}"#,
        r#"{"model":"p/m","messages":[{"role":"user","content":"\ud83d\u0041"}]}"#,
        r#"{"model":"p/m","messages":[{"role":"user","content":"\u12"}]}"#,
        r#"{"model":"p/m","messages":[{"role":"user","content":"\q"}]}"#,
        "{\"model\":\"p/m\",\"messages\":[{\"role\":\"user\",\"content\":\"raw\ttab\"}]}",
        r#"{"model":"p/m","messages":[{"role":"user","content":"é ✓ 😀"}]}"#,
        " \n\t\r{ \"model\" : \"p/m\" , \"messages\" : [ { \"role\" : \"user\" , \"content\" : [ { \"type\" : \"text\" , \"text\" : \"x\" } ] } ] , \"stop\" : [ \"a\" , \"b\" ] } \n",
        r#"{"model":"p/m","model":"q/m","messages":[{"role":"user","content":"x"}]}"#,
        r#"{"model":"p/m","messages":[{"role":"user","role":"user","content":"x"}]}"#,
        r#"{"model":"p/m","messages":[{"role":"user","content":"x","name":1,"name":2}]}"#,
        r#"{"model":"p/m","messages":[{"role":"user","content":[{"type":"text","text":"a","text":"b"}]}]}"#,
        r#"{"mo\u0064el":"p/m","messages":[{"role":"user","content":"x"}]}"#,
        r#"{"model":"p/m","messages":[{"role":"user","content":"x"}],}"#,
        r#"{"model":"p/m","messages":[{"role":"user","content":"x"},]}"#,
        r#"{"model":"p/m","messages":[{"role":"user","content":"x","extra":{"a":[1,-2.5e+3,true,null,"s"]}}]}"#,
        r#"{"model":"p/m","messages":[{"role":"user","content":"x","extra":[01]}]}"#,
        r#"{"model":"p/m","messages":[{"role":"user","content":"x","extra":1e999}]}"#,
        r#"{"model":"p/m","messages":[{"role":"user","content":"x","extra":"\u12x4"}]}"#,
    ];

    const NUMBERS: &[&str] = &[
        "0",
        "1",
        "-0",
        "-1",
        "0.0",
        "-0.0",
        "0.5",
        "1.50",
        "2",
        "1e0",
        "1E1",
        "1e+1",
        "1e-1",
        "5e-1",
        "0.7",
        "0.1",
        "0.30000000000000004",
        "1.0000000000000002",
        "123456789012345678",
        "1e400",
        "-1e400",
        "1e-400",
        "01",
        "1.",
        ".5",
        "+1",
        "-",
        "1e",
        "256.0",
        "18446744073709551615",
        "18446744073709551616",
        "null",
        "true",
        "\"1\"",
    ];

    #[test]
    fn the_scanner_reads_requests_as_serde_does() {
        let mut read = 0;
        let mut bodies = Vec::new();
        for fields in FIELDS {
            for m in MESSAGES {
                bodies.push(format!(r#"{{"model":"p/m","messages":[{m}]{fields}}}"#));
                bodies.push(format!(
                    r#"{{"messages":[{{"role":"system","content":"s"}},{m},{{"role":"user","content":"q"}}],"model":"p/m"{fields}}}"#
                ));
            }
        }
        bodies.extend(ODD.iter().map(|s| s.to_string()));
        for n in NUMBERS {
            for key in [
                "temperature",
                "top_p",
                "max_tokens",
                "max_completion_tokens",
                "n",
            ] {
                bodies.push(format!(
                    r#"{{"model":"p/m","messages":[{{"role":"user","content":"x"}}],"{key}":{n}}}"#
                ));
            }
        }
        let mut by_serde = 0;
        for body in &bodies {
            read += scan_agrees(body) as usize;
            by_serde += FastChat::read_serde(body.as_bytes()).is_some() as usize;
        }
        // It reads nearly all that serde's typed reader reads (it gives up
        // only on the few forms where the two could differ).
        assert!(read * 100 > by_serde * 95, "{read} of {by_serde}");
        // The common cases are its own.
        for body in [
            r#"{"model":"p/m","messages":[{"role":"system","content":"s"},{"role":"user","content":"\u00e9 \ud83d\ude00 \"q\""}],"max_tokens":256,"temperature":0.7,"stream":true,"stream_options":{"include_usage":true}}"#,
            r#"{"model":"p/m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"1"}],"temperature":-0,"top_p":1e-1}"#,
        ] {
            assert!(scan_agrees(body), "{body}");
        }
    }

    #[test]
    fn the_scanner_gives_up_on_every_truncation() {
        let bodies = [
            r#"{"model":"p/m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"é\n\u00e9\ud83d\ude00"}]},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"c1","content":"1"}],"max_tokens":256,"temperature":0.75,"top_p":1e-1,"stop":["a"],"n":1,"stream":false,"stream_options":{"include_usage":true},"tool_choice":"auto","parallel_tool_calls":true}"#,
            " { \"model\" : \"p/m\" , \"messages\" : [ { \"role\" : \"user\" , \"content\" : \"x\" , \"x\" : [ 1 , { } ] } ] } ",
        ];
        for body in bodies {
            assert!(scan_agrees(body), "{body}");
            // Every cut, mid-character ones included (those are not UTF-8).
            for cut in 0..body.len() {
                let b = &body.as_bytes()[..cut];
                assert!(!scan_agrees(b) || body[cut..].trim().is_empty(), "{cut}");
                let _ = FastChat::read(b);
            }
        }
    }

    #[test]
    fn the_scanner_checks_utf8_as_serde_does() {
        let bad: &[&[u8]] = &[
            b"\xff",
            b"\xc3",
            b"\xc0\xaf",
            b"\xed\xa0\x80",
            b"\xe2\x9c",
            b"\xf4\x90\x80\x80",
            b"\xe2\x9c\x93",
            b"\xc3\xa9\\n\xff",
            b"\\n\xc3\xa9",
        ];
        for bytes in bad {
            for (pre, post) in [
                (&b"{\"model\":\"p/m\",\"messages\":[{\"role\":\"user\",\"content\":\"a"[..], &b"b\"}]}"[..]),
                (b"{\"model\":\"p/", b"\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}"),
                (b"{\"model\":\"p/m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"x", b"\":1}]}"),
                (b"{\"model\":\"p/m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"x\":[\"", b"\"]}]}"),
                (b"{\"model\":\"p/m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", b""),
            ] {
                let body = [pre, bytes, post].concat();
                let took = scan_agrees(&body);
                // Valid UTF-8 is read; anything else is serde's to refuse
                // (and anything after the object too).
                let valid = std::str::from_utf8(&body).is_ok() && !post.is_empty();
                assert_eq!(took, valid, "{body:?}");
            }
        }
    }
}
