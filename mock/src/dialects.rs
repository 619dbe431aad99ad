//! Provider dialects the mock checks strictly: Anthropic Messages
//! (`/v1/messages`, when the request carries `anthropic-version`, as every
//! real client does), Gemini (`:generateContent`, `:streamGenerateContent`,
//! `:embedContent`, `:batchEmbedContents`, when the body has the dialect's
//! `contents`/`content`/`requests`), OpenAI embeddings, and OpenAI chat when
//! a dialect directive (`tool_calls`, `truncate`, `cache_read`, `no_end`) is
//! given. Requests are validated the way those APIs do (required fields,
//! allowed keys, role order, tool call/result pairing) and refused with the
//! API's own error shape; answers and streams have the real shapes.
//!
//! Requests without those markers keep the mock's older, lenient answers.

use serde_json::{Map, Value, json};

use crate::answers::{REPLY, completion_tokens, prompt_tokens, unix_now};
use crate::directives::Directives;

/// What a dialect answers.
pub enum Answer {
    Json(u16, Vec<u8>),
    /// SSE events, each complete (`event:`/`data:` lines and the blank line).
    Stream(Vec<String>),
}

pub struct Input<'a> {
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a [(String, String)],
    pub json: Option<&'a Value>,
    pub body_len: usize,
    pub number: u64,
    pub d: &'a Directives,
}

impl Input<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The dialect answer for a request, or `None` for the older answers.
pub fn answer(input: &Input) -> Option<Answer> {
    let p = input.path;
    let d = input.d;
    if p.ends_with("/v1/messages") && input.header("anthropic-version").is_some() {
        return Some(anthropic(input));
    }
    let gemini_body = input.json.is_some_and(|j| {
        j.get("contents").is_some() || j.get("content").is_some() || j.get("requests").is_some()
    });
    if p.contains(":streamGenerateContent")
        || p.contains(":batchEmbedContents")
        || p.contains(":embedContent")
        || (p.contains(":generateContent") && gemini_body)
    {
        return Some(gemini(input));
    }
    if p.ends_with("/embeddings") {
        return Some(openai_embeddings(input));
    }
    let dialect_directive =
        d.tool_calls.is_some() || d.truncate || d.cache_read.is_some() || d.no_end;
    if p.ends_with("chat/completions") && dialect_directive {
        return Some(openai_chat(input));
    }
    None
}

fn sse(event: Option<&str>, data: &Value) -> String {
    match event {
        Some(e) => format!("event: {e}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

fn wants_stream(input: &Input) -> bool {
    input.d.stream
        || input
            .json
            .and_then(|j| j.get("stream"))
            .and_then(Value::as_bool)
            .unwrap_or(false)
}

fn tool_names(tools: impl Iterator<Item = String>) -> Vec<String> {
    let names: Vec<String> = tools.collect();
    if names.is_empty() {
        vec!["mock_tool".into()]
    } else {
        names
    }
}

// ---- Anthropic ---------------------------------------------------------

fn anthropic_error(status: u16, message: &str) -> Answer {
    let kind = match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        _ => "api_error",
    };
    Answer::Json(
        status,
        json!({"type": "error", "error": {"type": kind, "message": message}})
            .to_string()
            .into_bytes(),
    )
}

fn keys(o: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("{what}.{k}: Extra inputs are not permitted")),
        None => Ok(()),
    }
}

fn anthropic_check(j: &Value) -> Result<(), String> {
    let o = j.as_object().ok_or("body: Input should be an object")?;
    keys(
        o,
        &[
            "model",
            "messages",
            "max_tokens",
            "system",
            "stop_sequences",
            "stream",
            "temperature",
            "top_p",
            "top_k",
            "tools",
            "tool_choice",
            "metadata",
            "thinking",
            "service_tier",
        ],
        "body",
    )?;
    o.get("model")
        .and_then(Value::as_str)
        .ok_or("model: Field required")?;
    let max = o.get("max_tokens").ok_or("max_tokens: Field required")?;
    if max.as_u64().is_none_or(|m| m < 1) {
        return Err("max_tokens: Input should be a positive integer".into());
    }
    if let Some(t) = o.get("temperature")
        && t.as_f64().is_none_or(|t| !(0.0..=1.0).contains(&t))
    {
        return Err("temperature: Input should be between 0 and 1".into());
    }
    match o.get("system") {
        None | Some(Value::String(_)) => {}
        Some(Value::Array(blocks)) => {
            for b in blocks {
                if b.get("type").and_then(Value::as_str) != Some("text") || b.get("text").is_none()
                {
                    return Err("system: blocks must be text blocks".into());
                }
            }
        }
        Some(_) => return Err("system: Input should be a string or a list of text blocks".into()),
    }
    if let Some(s) = o.get("stop_sequences")
        && !s.as_array().is_some_and(|a| a.iter().all(Value::is_string))
    {
        return Err("stop_sequences: Input should be a list of strings".into());
    }
    let mut tool_names = Vec::new();
    if let Some(tools) = o.get("tools") {
        for (i, t) in tools
            .as_array()
            .ok_or("tools: Input should be a list")?
            .iter()
            .enumerate()
        {
            let t = t
                .as_object()
                .ok_or(format!("tools.{i}: Input should be an object"))?;
            keys(
                t,
                &[
                    "name",
                    "description",
                    "input_schema",
                    "cache_control",
                    "type",
                ],
                &format!("tools.{i}"),
            )?;
            let name = t
                .get("name")
                .and_then(Value::as_str)
                .ok_or(format!("tools.{i}.name: Field required"))?;
            let schema = t
                .get("input_schema")
                .ok_or(format!("tools.{i}.input_schema: Field required"))?;
            if schema.get("type").and_then(Value::as_str) != Some("object") {
                return Err(format!(
                    "tools.{i}.input_schema.type: Input should be 'object'"
                ));
            }
            tool_names.push(name.to_string());
        }
    }
    if let Some(tc) = o.get("tool_choice") {
        let tc = tc
            .as_object()
            .ok_or("tool_choice: Input should be an object")?;
        keys(
            tc,
            &["type", "name", "disable_parallel_tool_use"],
            "tool_choice",
        )?;
        match tc.get("type").and_then(Value::as_str) {
            Some("auto" | "any" | "none") => {}
            Some("tool") => {
                let name = tc
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or("tool_choice.name: Field required")?;
                if !tool_names.iter().any(|n| n == name) {
                    return Err(format!("tool_choice.name: no tool named {name:?}"));
                }
            }
            _ => {
                return Err(
                    "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'".into(),
                );
            }
        }
    }
    let messages = o.get("messages").ok_or("messages: Field required")?;
    let messages = messages
        .as_array()
        .ok_or("messages: Input should be a list")?;
    if messages.is_empty() {
        return Err("messages: at least one message is required".into());
    }
    let mut pending_tool_uses: Vec<String> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let what = format!("messages.{i}");
        let m = m
            .as_object()
            .ok_or(format!("{what}: Input should be an object"))?;
        keys(m, &["role", "content"], &what)?;
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .ok_or(format!("{what}.role: Field required"))?;
        let expected = if i % 2 == 0 { "user" } else { "assistant" };
        if role != "user" && role != "assistant" {
            return Err(format!(
                "{what}.role: Input should be 'user' or 'assistant'"
            ));
        }
        if role != expected {
            return Err(format!(
                "messages: roles must alternate between \"user\" and \"assistant\", starting with \"user\" ({what} is {role:?})"
            ));
        }
        let content = m
            .get("content")
            .ok_or(format!("{what}.content: Field required"))?;
        let blocks: Vec<Value> = match content {
            Value::String(s) if !s.is_empty() => vec![json!({"type": "text", "text": s})],
            Value::Array(b) if !b.is_empty() => b.clone(),
            _ => {
                return Err(format!(
                    "{what}.content: must be a non-empty string or list"
                ));
            }
        };
        let mut results: Vec<String> = Vec::new();
        let mut uses: Vec<String> = Vec::new();
        let mut seen_other = false;
        for (j, b) in blocks.iter().enumerate() {
            let bw = format!("{what}.content.{j}");
            let b = b
                .as_object()
                .ok_or(format!("{bw}: Input should be an object"))?;
            match b.get("type").and_then(Value::as_str) {
                Some("text") => {
                    keys(b, &["type", "text", "cache_control", "citations"], &bw)?;
                    if b.get("text")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        return Err(format!("{bw}.text: text content blocks must be non-empty"));
                    }
                    seen_other = true;
                }
                Some("image") => {
                    keys(b, &["type", "source", "cache_control"], &bw)?;
                    let src = b
                        .get("source")
                        .and_then(Value::as_object)
                        .ok_or(format!("{bw}.source: Field required"))?;
                    match src.get("type").and_then(Value::as_str) {
                        Some("base64") => {
                            keys(
                                src,
                                &["type", "media_type", "data"],
                                &format!("{bw}.source"),
                            )?;
                            let mt = src.get("media_type").and_then(Value::as_str).unwrap_or("");
                            if !["image/jpeg", "image/png", "image/gif", "image/webp"].contains(&mt)
                            {
                                return Err(format!(
                                    "{bw}.source.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"
                                ));
                            }
                            if src
                                .get("data")
                                .and_then(Value::as_str)
                                .is_none_or(str::is_empty)
                            {
                                return Err(format!("{bw}.source.data: Field required"));
                            }
                        }
                        Some("url") => {
                            keys(src, &["type", "url"], &format!("{bw}.source"))?;
                        }
                        _ => {
                            return Err(format!(
                                "{bw}.source.type: Input should be 'base64' or 'url'"
                            ));
                        }
                    }
                    seen_other = true;
                }
                Some("tool_use") if role == "assistant" => {
                    keys(
                        b,
                        &["type", "id", "name", "input", "cache_control", "caller"],
                        &bw,
                    )?;
                    let id = b
                        .get("id")
                        .and_then(Value::as_str)
                        .ok_or(format!("{bw}.id: Field required"))?;
                    b.get("name")
                        .and_then(Value::as_str)
                        .ok_or(format!("{bw}.name: Field required"))?;
                    if !b.get("input").is_some_and(Value::is_object) {
                        return Err(format!("{bw}.input: Input should be an object"));
                    }
                    uses.push(id.to_string());
                }
                Some("tool_result") if role == "user" => {
                    keys(
                        b,
                        &[
                            "type",
                            "tool_use_id",
                            "content",
                            "is_error",
                            "cache_control",
                        ],
                        &bw,
                    )?;
                    if seen_other {
                        return Err(format!(
                            "{bw}: tool_result blocks must come before any other content"
                        ));
                    }
                    let id = b
                        .get("tool_use_id")
                        .and_then(Value::as_str)
                        .ok_or(format!("{bw}.tool_use_id: Field required"))?;
                    results.push(id.to_string());
                }
                Some(t) => {
                    return Err(format!(
                        "{bw}.type: {t:?} is not allowed in a {role} message"
                    ));
                }
                None => return Err(format!("{bw}.type: Field required")),
            }
        }
        if role == "user" {
            for id in &pending_tool_uses {
                if !results.contains(id) {
                    return Err(format!(
                        "{what}: tool_use ids were found without tool_result blocks immediately after: {id}"
                    ));
                }
            }
            for id in &results {
                if !pending_tool_uses.contains(id) {
                    return Err(format!(
                        "{what}: unexpected tool_use_id found in tool_result blocks: {id}. Each tool_result block must have a corresponding tool_use block in the previous message."
                    ));
                }
            }
            pending_tool_uses.clear();
        } else {
            pending_tool_uses = uses;
        }
    }
    if !pending_tool_uses.is_empty() {
        return Err(
            "messages: the last assistant message has tool_use blocks without results".into(),
        );
    }
    Ok(())
}

fn anthropic(input: &Input) -> Answer {
    let Some(j) = input.json else {
        return anthropic_error(400, "body: the request body is not valid JSON");
    };
    if let Err(e) = anthropic_check(j) {
        return anthropic_error(400, &e);
    }
    let d = input.d;
    let model = j["model"].as_str().unwrap_or("mock-model");
    let n = input.number;
    let forced = j
        .pointer("/tool_choice/type")
        .and_then(Value::as_str)
        .filter(|t| *t == "tool")
        .and_then(|_| j.pointer("/tool_choice/name").and_then(Value::as_str));
    let names = tool_names(
        j.get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| t.get("name").and_then(Value::as_str).map(String::from)),
    );
    let calls: Vec<(String, String, Value)> = match (forced, d.tool_calls) {
        (Some(name), _) => vec![(
            format!("toolu_mock_{n}_0"),
            name.to_string(),
            json!({"reply": REPLY}),
        )],
        (None, Some(k)) => (0..k)
            .map(|i| {
                (
                    format!("toolu_mock_{n}_{i}"),
                    names[i as usize % names.len()].clone(),
                    json!({"arg": i}),
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    let stop_reason = if d.truncate {
        "max_tokens"
    } else if !calls.is_empty() {
        "tool_use"
    } else {
        "end_turn"
    };
    let cache_read = d.cache_read.unwrap_or(0);
    let cache_write = d.cache_write.unwrap_or(0);
    let input_tokens = prompt_tokens(input.body_len);
    let usage = |output: u64| {
        json!({"input_tokens": input_tokens, "output_tokens": output,
        "cache_read_input_tokens": cache_read, "cache_creation_input_tokens": cache_write})
    };
    if !wants_stream(input) {
        let mut content = Vec::new();
        if calls.is_empty() {
            content.push(json!({"type": "text", "text": REPLY}));
        }
        for (id, name, args) in &calls {
            content.push(json!({"type": "tool_use", "id": id, "name": name, "input": args}));
        }
        return Answer::Json(200, json!({
            "id": format!("msg_mock_{n}"), "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop_reason, "stop_sequence": null,
            "usage": usage(completion_tokens()),
        }).to_string().into_bytes());
    }
    if d.error_first || d.error_data_first {
        let err = json!({"type": "error", "error": {"type": "overloaded_error", "message": "mock stream error"}});
        return Answer::Stream(vec![sse(d.error_first.then_some("error"), &err)]);
    }
    let mut events = vec![
        sse(
            Some("message_start"),
            &json!({"type": "message_start", "message": {
            "id": format!("msg_mock_{n}"), "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage(1)}}),
        ),
        sse(Some("ping"), &json!({"type": "ping"})),
    ];
    let mut index = 0;
    let tokens = d.events_or(5);
    if calls.is_empty() {
        events.push(sse(
            Some("content_block_start"),
            &json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
        ));
        for i in 0..tokens {
            events.push(sse(
                Some("content_block_delta"),
                &json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": format!("tok{i} ")}}),
            ));
        }
        events.push(sse(
            Some("content_block_stop"),
            &json!({"type": "content_block_stop", "index": 0}),
        ));
        index = 1;
    }
    for (id, name, args) in &calls {
        events.push(sse(
            Some("content_block_start"),
            &json!({"type": "content_block_start", "index": index,
            "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
        ));
        let text = args.to_string();
        let (a, b) = text.split_at(text.len() / 2);
        for piece in [a, b] {
            events.push(sse(
                Some("content_block_delta"),
                &json!({"type": "content_block_delta", "index": index,
                "delta": {"type": "input_json_delta", "partial_json": piece}}),
            ));
        }
        events.push(sse(
            Some("content_block_stop"),
            &json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    }
    events.push(sse(Some("message_delta"), &json!({"type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": {"output_tokens": tokens}})));
    if !d.no_end {
        events.push(sse(Some("message_stop"), &json!({"type": "message_stop"})));
    }
    Answer::Stream(events)
}

// ---- Gemini ------------------------------------------------------------

fn gemini_error(status: u16, message: &str) -> Answer {
    let s = if status == 400 {
        "INVALID_ARGUMENT"
    } else {
        "INTERNAL"
    };
    Answer::Json(
        status,
        json!({"error": {"code": status, "message": message, "status": s}})
            .to_string()
            .into_bytes(),
    )
}

const SCHEMA_KEYS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];

fn schema_check(s: &Value, what: &str) -> Result<(), String> {
    let o = s
        .as_object()
        .ok_or(format!("{what}: schema must be an object"))?;
    if let Some(k) = o.keys().find(|k| !SCHEMA_KEYS.contains(&k.as_str())) {
        return Err(format!(
            "Invalid JSON payload received. Unknown name \"{k}\" at '{what}': Cannot find field."
        ));
    }
    if let Some(props) = o.get("properties").and_then(Value::as_object) {
        for (n, p) in props {
            schema_check(p, &format!("{what}.properties[{n}]"))?;
        }
    }
    if let Some(items) = o.get("items") {
        schema_check(items, &format!("{what}.items"))?;
    }
    Ok(())
}

fn gemini_parts_check(parts: &Value, what: &str) -> Result<Vec<(String, bool)>, String> {
    let parts = parts
        .as_array()
        .filter(|p| !p.is_empty())
        .ok_or(format!("{what}.parts: must not be empty"))?;
    let mut calls = Vec::new();
    for (k, p) in parts.iter().enumerate() {
        let pw = format!("{what}.parts[{k}]");
        let p = p.as_object().ok_or(format!("{pw}: must be an object"))?;
        keys(
            p,
            &[
                "text",
                "inlineData",
                "functionCall",
                "functionResponse",
                "fileData",
                "thought",
                "thoughtSignature",
            ],
            &pw,
        )
        .map_err(|e| format!("Invalid JSON payload received. {e}"))?;
        let data: Vec<&String> = p
            .keys()
            .filter(|k| !["thought", "thoughtSignature"].contains(&k.as_str()))
            .collect();
        if data.len() != 1 {
            return Err(format!(
                "{pw}: a part must hold exactly one of text, inlineData, functionCall, functionResponse"
            ));
        }
        if let Some(d) = p.get("inlineData")
            && (d.get("mimeType").and_then(Value::as_str).is_none()
                || d.get("data").and_then(Value::as_str).is_none())
        {
            return Err(format!("{pw}.inlineData: mimeType and data are required"));
        }
        if let Some(fc) = p.get("functionCall") {
            let name = fc
                .get("name")
                .and_then(Value::as_str)
                .ok_or(format!("{pw}.functionCall.name: required"))?;
            calls.push((name.to_string(), true));
        }
        if let Some(fr) = p.get("functionResponse") {
            let name = fr
                .get("name")
                .and_then(Value::as_str)
                .ok_or(format!("{pw}.functionResponse.name: required"))?;
            if !fr.get("response").is_some_and(Value::is_object) {
                return Err(format!("{pw}.functionResponse.response: must be an object"));
            }
            calls.push((name.to_string(), false));
        }
    }
    Ok(calls)
}

fn gemini_check(j: &Value) -> Result<(), String> {
    let o = j.as_object().ok_or("body must be an object")?;
    keys(
        o,
        &[
            "contents",
            "systemInstruction",
            "tools",
            "toolConfig",
            "generationConfig",
            "safetySettings",
            "cachedContent",
        ],
        "GenerateContentRequest",
    )
    .map_err(|e| format!("Invalid JSON payload received. {e}"))?;
    let contents = o
        .get("contents")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or("* GenerateContentRequest.contents: contents is not specified")?;
    let mut pending: Vec<String> = Vec::new();
    for (i, c) in contents.iter().enumerate() {
        let what = format!("contents[{i}]");
        let c = c.as_object().ok_or(format!("{what}: must be an object"))?;
        keys(c, &["role", "parts"], &what)
            .map_err(|e| format!("Invalid JSON payload received. {e}"))?;
        let role = c.get("role").and_then(Value::as_str).unwrap_or("user");
        let expected = if i % 2 == 0 { "user" } else { "model" };
        if role != "user" && role != "model" {
            return Err(format!(
                "{what}.role: Please use a valid role: user, model."
            ));
        }
        if role != expected {
            return Err(format!(
                "{what}: turns must alternate between user and model, starting with user"
            ));
        }
        let parts = gemini_parts_check(c.get("parts").unwrap_or(&Value::Null), &what)?;
        let responses: Vec<&String> = parts
            .iter()
            .filter(|(_, call)| !call)
            .map(|(n, _)| n)
            .collect();
        if role == "model" {
            if !responses.is_empty() {
                return Err(format!(
                    "{what}: functionResponse parts belong in a user turn"
                ));
            }
            pending = parts
                .iter()
                .filter(|(_, call)| *call)
                .map(|(n, _)| n.clone())
                .collect();
        } else {
            if parts.iter().any(|(_, call)| *call) {
                return Err(format!("{what}: functionCall parts belong in a model turn"));
            }
            if !responses.is_empty() || !pending.is_empty() {
                let mut want = pending.clone();
                let mut got: Vec<String> = responses.iter().map(|s| s.to_string()).collect();
                want.sort();
                got.sort();
                if want != got {
                    return Err(format!(
                        "{what}: Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn, with the same names ({want:?} vs {got:?})."
                    ));
                }
            }
            pending.clear();
        }
    }
    if let Some(si) = o.get("systemInstruction") {
        gemini_parts_check(si.get("parts").unwrap_or(&Value::Null), "systemInstruction")?;
    }
    let mut names = Vec::new();
    if let Some(tools) = o.get("tools") {
        for (i, t) in tools
            .as_array()
            .ok_or("tools must be a list")?
            .iter()
            .enumerate()
        {
            let decls = t
                .get("functionDeclarations")
                .and_then(Value::as_array)
                .ok_or(format!("tools[{i}]: functionDeclarations required"))?;
            for (k, f) in decls.iter().enumerate() {
                let fw = format!("tools[{i}].function_declarations[{k}]");
                let f = f.as_object().ok_or(format!("{fw}: must be an object"))?;
                keys(
                    f,
                    &[
                        "name",
                        "description",
                        "parameters",
                        "parametersJsonSchema",
                        "response",
                    ],
                    &fw,
                )
                .map_err(|e| format!("Invalid JSON payload received. {e}"))?;
                names.push(
                    f.get("name")
                        .and_then(Value::as_str)
                        .ok_or(format!("{fw}.name: required"))?
                        .to_string(),
                );
                if let Some(p) = f.get("parameters") {
                    schema_check(p, &format!("{fw}.parameters"))?;
                }
            }
        }
    }
    if let Some(tc) = o.get("toolConfig") {
        let mode = tc
            .pointer("/functionCallingConfig/mode")
            .and_then(Value::as_str)
            .unwrap_or("AUTO");
        if !["AUTO", "ANY", "NONE", "VALIDATED"].contains(&mode) {
            return Err(format!(
                "toolConfig.functionCallingConfig.mode: invalid value {mode:?}"
            ));
        }
    }
    if let Some(g) = o.get("generationConfig") {
        let g = g.as_object().ok_or("generationConfig must be an object")?;
        keys(
            g,
            &[
                "temperature",
                "topP",
                "topK",
                "maxOutputTokens",
                "stopSequences",
                "responseMimeType",
                "responseSchema",
                "responseJsonSchema",
                "candidateCount",
                "presencePenalty",
                "frequencyPenalty",
                "seed",
                "thinkingConfig",
                "responseModalities",
            ],
            "generation_config",
        )
        .map_err(|e| format!("Invalid JSON payload received. {e}"))?;
        if let Some(s) = g.get("responseSchema") {
            schema_check(s, "generation_config.response_schema")?;
            if g.get("responseMimeType").and_then(Value::as_str) != Some("application/json") {
                return Err("responseSchema needs responseMimeType application/json".into());
            }
        }
    }
    Ok(())
}

fn gemini_model(path: &str) -> &str {
    path.rsplit('/')
        .next()
        .and_then(|l| l.split(':').next())
        .filter(|m| !m.is_empty())
        .unwrap_or("mock-model")
}

fn vector(text: &str, dims: u64) -> Value {
    let seed = text.len() as f64;
    Value::Array(
        (0..dims)
            .map(|i| json!(((seed + i as f64) * 0.01).sin()))
            .collect(),
    )
}

fn gemini(input: &Input) -> Answer {
    let Some(j) = input.json else {
        return gemini_error(400, "Invalid JSON payload received.");
    };
    let model = gemini_model(input.path);
    let d = input.d;
    if input.path.contains(":embedContent") || input.path.contains(":batchEmbedContents") {
        let one = |r: &Value, what: &str| -> Result<Value, String> {
            let parts = r
                .pointer("/content/parts")
                .ok_or(format!("{what}.content: required"))?;
            gemini_parts_check(parts, &format!("{what}.content"))?;
            let text: String = parts
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            let dims = r
                .get("outputDimensionality")
                .and_then(Value::as_u64)
                .unwrap_or(8);
            Ok(json!({"values": vector(&text, dims)}))
        };
        let result = if input.path.contains(":embedContent") {
            one(j, "EmbedContentRequest").map(|e| json!({"embedding": e}))
        } else {
            j.get("requests")
                .and_then(Value::as_array)
                .filter(|r| !r.is_empty())
                .ok_or("requests: required".to_string())
                .and_then(|rs| {
                    rs.iter()
                        .enumerate()
                        .map(|(i, r)| {
                            if r.get("model").and_then(Value::as_str)
                                != Some(&format!("models/{model}"))
                            {
                                return Err(format!("requests[{i}].model: must be models/{model}"));
                            }
                            one(r, &format!("requests[{i}]"))
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .map(|es| json!({"embeddings": es}))
        };
        return match result {
            Ok(v) => Answer::Json(200, v.to_string().into_bytes()),
            Err(e) => gemini_error(400, &e),
        };
    }
    if let Err(e) = gemini_check(j) {
        return gemini_error(400, &e);
    }
    let names = tool_names(
        j.get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .flat_map(|t| {
                t.get("functionDeclarations")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|f| f.get("name").and_then(Value::as_str).map(String::from)),
    );
    let calls: Vec<Value> = (0..d.tool_calls.unwrap_or(0))
        .map(|i| json!({"functionCall": {"name": names[i as usize % names.len()], "args": {"arg": i}}}))
        .collect();
    let finish = if d.truncate { "MAX_TOKENS" } else { "STOP" };
    let prompt = prompt_tokens(input.body_len);
    let n = input.number;
    let usage = |out: u64| {
        let mut u = json!({"promptTokenCount": prompt, "candidatesTokenCount": out, "totalTokenCount": prompt + out});
        if let Some(c) = d.cache_read {
            u["cachedContentTokenCount"] = json!(c);
        }
        u
    };
    let chunk = |parts: Vec<Value>, finish: Option<&str>, usage: Option<Value>| {
        let mut cand = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
        if let Some(f) = finish {
            cand["finishReason"] = json!(f);
        }
        let mut v = json!({"candidates": [cand], "modelVersion": model, "responseId": format!("mock-resp-{n}")});
        if let Some(u) = usage {
            v["usageMetadata"] = u;
        }
        v
    };
    if !input.path.contains(":streamGenerateContent") {
        let parts = if calls.is_empty() {
            vec![json!({"text": REPLY})]
        } else {
            calls
        };
        return Answer::Json(
            200,
            chunk(parts, Some(finish), Some(usage(completion_tokens())))
                .to_string()
                .into_bytes(),
        );
    }
    if d.error_first || d.error_data_first {
        let err = json!({"error": {"code": 503, "message": "mock stream error", "status": "UNAVAILABLE"}});
        return Answer::Stream(vec![sse(d.error_first.then_some("error"), &err)]);
    }
    let tokens = d.events_or(5);
    let mut chunks = Vec::new();
    if calls.is_empty() {
        for i in 0..tokens {
            chunks.push(chunk(
                vec![json!({"text": format!("tok{i} ")})],
                None,
                Some(usage(i + 1)),
            ));
        }
    } else {
        chunks.push(chunk(calls, None, None));
    }
    if d.no_end {
        // A stream cut short on a clean close: no final finishReason.
    } else if let Some(last) = chunks.last_mut() {
        last["candidates"][0]["finishReason"] = json!(finish);
        last["usageMetadata"] = usage(tokens);
    }
    let sse_mode = input
        .query
        .is_some_and(|q| q.split('&').any(|p| p == "alt=sse"));
    if sse_mode {
        Answer::Stream(chunks.iter().map(|c| sse(None, c)).collect())
    } else {
        Answer::Json(200, Value::Array(chunks).to_string().into_bytes())
    }
}

// ---- OpenAI ------------------------------------------------------------

fn openai_embeddings(input: &Input) -> Answer {
    let err = |m: &str| {
        Answer::Json(400, json!({"error": {"message": m, "type": "invalid_request_error", "param": null, "code": null}}).to_string().into_bytes())
    };
    let Some(j) = input.json else {
        return err("the body is not JSON");
    };
    let inputs: Vec<String> = match j.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) if !a.is_empty() && a.iter().all(Value::is_string) => a
            .iter()
            .map(|s| s.as_str().unwrap_or_default().to_string())
            .collect(),
        _ => return err("'input' is a required property (a string or a list of strings)"),
    };
    let Some(model) = j.get("model").and_then(Value::as_str) else {
        return err("you must provide a model parameter");
    };
    let dims = j.get("dimensions").and_then(Value::as_u64).unwrap_or(8);
    let tokens = prompt_tokens(input.body_len);
    Answer::Json(200, json!({
        "object": "list",
        "data": inputs.iter().enumerate().map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": vector(t, dims)})).collect::<Vec<_>>(),
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }).to_string().into_bytes())
}

fn openai_chat(input: &Input) -> Answer {
    let d = input.d;
    let j = input.json.cloned().unwrap_or(json!({}));
    let model = j
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("mock-model");
    let n = input.number;
    let names = tool_names(
        j.get("tools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| {
                t.pointer("/function/name")
                    .and_then(Value::as_str)
                    .map(String::from)
            }),
    );
    let calls: Vec<(String, String, String)> = (0..d.tool_calls.unwrap_or(0))
        .map(|i| {
            (
                format!("call_mock_{n}_{i}"),
                names[i as usize % names.len()].clone(),
                json!({"arg": i}).to_string(),
            )
        })
        .collect();
    let finish = if d.truncate {
        "length"
    } else if !calls.is_empty() {
        "tool_calls"
    } else {
        "stop"
    };
    let prompt = prompt_tokens(input.body_len);
    let cached = d.cache_read.unwrap_or(0);
    let usage = |out: u64| {
        json!({"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out,
        "prompt_tokens_details": {"cached_tokens": cached}})
    };
    let id = format!("chatcmpl-mock-{n}");
    let created = unix_now();
    if !wants_stream(input) {
        let mut message = json!({"role": "assistant", "content": if calls.is_empty() { json!(REPLY) } else { Value::Null }});
        if !calls.is_empty() {
            message["tool_calls"] = Value::Array(calls.iter().map(|(id, name, args)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}})).collect());
        }
        return Answer::Json(200, json!({"id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage(completion_tokens())}).to_string().into_bytes());
    }
    let chunk = |delta: Value, finish: Option<&str>| {
        json!({"id": id, "object": "chat.completion.chunk", "created": created,
        "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let tokens = d.events_or(5);
    let mut events = vec![sse(
        None,
        &chunk(json!({"role": "assistant", "content": ""}), None),
    )];
    if calls.is_empty() {
        for i in 0..tokens {
            events.push(sse(
                None,
                &chunk(json!({"content": format!("tok{i} ")}), None),
            ));
        }
    }
    for (i, (cid, name, args)) in calls.iter().enumerate() {
        events.push(sse(None, &chunk(json!({"tool_calls": [{"index": i, "id": cid, "type": "function", "function": {"name": name, "arguments": ""}}]}), None)));
        let (a, b) = args.split_at(args.len() / 2);
        for piece in [a, b] {
            events.push(sse(
                None,
                &chunk(
                    json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}),
                    None,
                ),
            ));
        }
    }
    events.push(sse(None, &chunk(json!({}), Some(finish))));
    if j.pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true)
    {
        events.push(sse(
            None,
            &json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [], "usage": usage(tokens)}),
        ));
    }
    if !d.no_end {
        events.push("data: [DONE]\n\n".to_string());
    }
    Answer::Stream(events)
}
