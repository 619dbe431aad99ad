//! Google AI Studio (Gemini): the upstream format of `google-ai-studio`
//! (`v1beta/models/{model}:generateContent`, `:streamGenerateContent?alt=sse`,
//! `:embedContent`, `:batchEmbedContents`).

use serde_json::{Map, Value, json};

use super::StreamDecoder;
use super::hub::{
    ChatRequest, ChatResponse, Delta, EmbedRequest, Finish, Part, ResponseFormat, Role, Text,
    TokenUsage, ToolCall, ToolChoice, synth_id, unix_now,
};
use crate::http::sse::SseEvent;

type R<T> = Result<T, String>;

/// The upstream path for a chat request.
pub fn chat_path(model: &str, stream: bool) -> String {
    // `models/gemini-x` (Google's resource name) and `gemini-x` are one model.
    let model = model.strip_prefix("models/").unwrap_or(model);
    if stream {
        format!("v1beta/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("v1beta/models/{model}:generateContent")
    }
}

/// Schema keywords Gemini's `Schema` object takes; the rest are dropped
/// (they describe nothing Gemini can enforce, e.g. `additionalProperties`).
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

/// JSON Schema → Gemini Schema: unknown keywords dropped, recursively.
pub fn gemini_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, v) in o {
                if !SCHEMA_KEYS.contains(&k.as_str()) {
                    continue;
                }
                let v = match k.as_str() {
                    "properties" => match v {
                        Value::Object(props) => Value::Object(
                            props
                                .iter()
                                .map(|(n, s)| (n.clone(), gemini_schema(s)))
                                .collect(),
                        ),
                        other => other.clone(),
                    },
                    "items" => gemini_schema(v),
                    "anyOf" => match v {
                        Value::Array(a) => Value::Array(a.iter().map(gemini_schema).collect()),
                        other => other.clone(),
                    },
                    // ["string","null"] → "string" + nullable.
                    "type" => match v {
                        Value::Array(types) => {
                            if types.iter().any(|t| t == "null") {
                                out.insert("nullable".into(), json!(true));
                            }
                            types
                                .iter()
                                .find(|t| *t != "null")
                                .cloned()
                                .unwrap_or(json!("string"))
                        }
                        other => other.clone(),
                    },
                    _ => v.clone(),
                };
                out.insert(k.clone(), v);
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// Writes the hub request as a Gemini `generateContent` body. A tool result
/// goes as a `functionResponse` named after the call it answers (found in
/// the earlier assistant turn).
pub fn build_request(req: &ChatRequest) -> R<Value> {
    let mut contents: Vec<Value> = Vec::new();
    let mut names: Vec<(String, String)> = Vec::new(); // call id → function name
    for (i, m) in req.messages.iter().enumerate() {
        let mut parts: Vec<Value> = Vec::new();
        for p in &m.parts {
            match p {
                Part::Text(t) if t.is_empty() && m.role != Role::Tool => {}
                Part::Text(t) if m.role != Role::Tool => parts.push(json!({"text": t})),
                Part::Text(_) => {}
                Part::Image { media_type, data } => {
                    parts.push(json!({"inlineData": {"mimeType": media_type, "data": data}}))
                }
                Part::ImageUrl(_) => {
                    return Err(format!(
                        "messages[{i}]: google-ai-studio takes images as base64 data: URLs, not links"
                    ));
                }
            }
        }
        let role = match m.role {
            Role::User | Role::Tool => "user",
            Role::Assistant => "model",
        };
        if m.role == Role::Assistant {
            for c in &m.tool_calls {
                let args: Value = serde_json::from_str(&c.arguments).unwrap_or(json!({}));
                names.push((c.id.clone(), c.name.clone()));
                parts.push(json!({"functionCall": {"name": c.name, "args": args}}));
            }
        }
        if m.role == Role::Tool {
            let id = m.tool_call_id.clone().unwrap_or_default();
            let name = names
                .iter()
                .rev()
                .find(|(cid, _)| *cid == id)
                .map(|(_, n)| n.clone())
                .ok_or_else(|| {
                    format!("messages[{i}]: tool_call_id {id:?} answers no earlier tool call")
                })?;
            let text = m.text();
            let text = text.plain();
            let response = match serde_json::from_str::<Value>(&text) {
                Ok(v @ Value::Object(_)) => v,
                Ok(v) => json!({"result": v}),
                Err(_) => json!({"result": text}),
            };
            parts.push(json!({"functionResponse": {"name": name, "response": response}}));
        }
        if parts.is_empty() {
            continue;
        }
        if let Some(last) = contents.last_mut() {
            if last["role"] == role {
                last["parts"]
                    .as_array_mut()
                    .expect("parts is an array")
                    .extend(parts);
                continue;
            }
        }
        contents.push(json!({"role": role, "parts": parts}));
    }
    let mut body = json!({"contents": contents});
    if !req.system.is_empty() {
        body["systemInstruction"] = json!({"parts": [{"text": Text::join(&req.system, "\n\n")}]});
    }
    if !req.tools.is_empty() {
        let decls: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut d = json!({"name": t.name});
                if let Some(desc) = &t.description {
                    d["description"] = json!(desc);
                }
                // An object schema without properties is refused by Gemini.
                let empty = t
                    .parameters
                    .get("properties")
                    .and_then(Value::as_object)
                    .is_none_or(|p| p.is_empty());
                if !empty {
                    d["parameters"] = gemini_schema(&t.parameters);
                }
                d
            })
            .collect();
        body["tools"] = json!([{"functionDeclarations": decls}]);
    }
    if let Some(tc) = &req.tool_choice {
        body["toolConfig"] = json!({"functionCallingConfig": match tc {
            ToolChoice::Auto => json!({"mode": "AUTO"}),
            ToolChoice::None => json!({"mode": "NONE"}),
            ToolChoice::Required => json!({"mode": "ANY"}),
            ToolChoice::Named(n) => json!({"mode": "ANY", "allowedFunctionNames": [n]}),
        }});
    }
    let mut config = Map::new();
    if let Some(t) = req.temperature {
        config.insert("temperature".into(), json!(t));
    }
    if let Some(t) = req.top_p {
        config.insert("topP".into(), json!(t));
    }
    if let Some(t) = req.top_k {
        config.insert("topK".into(), json!(t));
    }
    if let Some(t) = req.max_tokens {
        config.insert("maxOutputTokens".into(), json!(t));
    }
    if !req.stop.is_empty() {
        config.insert("stopSequences".into(), json!(req.stop));
    }
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => {
            config.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            config.insert("responseMimeType".into(), json!("application/json"));
            config.insert("responseSchema".into(), gemini_schema(schema));
        }
        _ => {}
    }
    if !config.is_empty() {
        body["generationConfig"] = Value::Object(config);
    }
    Ok(body)
}

fn finish_of(reason: &str, tools: bool) -> Finish {
    match reason {
        "MAX_TOKENS" => Finish::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            Finish::ContentFilter
        }
        _ if tools => Finish::ToolCalls,
        _ => Finish::Stop,
    }
}

fn usage_of(u: &Value) -> TokenUsage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    TokenUsage {
        // Gemini's prompt count already includes cached content.
        input: n("promptTokenCount"),
        output: n("candidatesTokenCount") + n("thoughtsTokenCount"),
        cache_read: n("cachedContentTokenCount"),
        cache_write: 0,
    }
}

fn error_in(v: &Value) -> Option<String> {
    v.get("error")
        .map(|_| super::hub::upstream_error(v.to_string().as_bytes()).0)
}

/// Reads a `generateContent` answer. Gemini gives tool calls no ids: each
/// gets a fresh unique one.
pub fn decode_response(v: &Value) -> R<ChatResponse> {
    if let Some(message) = error_in(v) {
        return Err(format!("the answer is an error: {message}"));
    }
    let cand = v
        .get("candidates")
        .and_then(Value::as_array)
        .and_then(|c| c.first());
    let mut text: Option<Text> = None;
    let mut tool_calls = Vec::new();
    let finish;
    match cand {
        Some(cand) => {
            let parts = cand.pointer("/content/parts").and_then(Value::as_array);
            for p in parts.into_iter().flatten() {
                if p.get("thought").and_then(Value::as_bool) == Some(true) {
                    continue;
                }
                if let Some(t) = p.get("text").and_then(Value::as_str) {
                    text.get_or_insert_with(Text::default).push_plain(t);
                }
                if let Some(fc) = p.get("functionCall") {
                    tool_calls.push(ToolCall {
                        id: synth_id("call_"),
                        name: fc
                            .get("name")
                            .and_then(Value::as_str)
                            .ok_or("a functionCall has no name")?
                            .into(),
                        arguments: fc.get("args").cloned().unwrap_or(json!({})).to_string(),
                    });
                }
            }
            let reason = cand
                .get("finishReason")
                .and_then(Value::as_str)
                .unwrap_or("STOP");
            finish = finish_of(reason, !tool_calls.is_empty());
        }
        None => {
            // A prompt blocked before any candidate.
            if v.pointer("/promptFeedback/blockReason").is_some() {
                finish = Finish::ContentFilter;
            } else {
                return Err("the answer has no candidates".into());
            }
        }
    }
    Ok(ChatResponse {
        id: v
            .get("responseId")
            .and_then(Value::as_str)
            .map(|id| format!("chatcmpl-{id}"))
            .unwrap_or_else(|| synth_id("chatcmpl-")),
        model: v
            .get("modelVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .into(),
        created: unix_now(),
        text,
        tool_calls,
        finish,
        stop_sequence: None,
        usage: v.get("usageMetadata").map(usage_of),
    })
}

/// Reads a `streamGenerateContent?alt=sse` stream: each event is a whole
/// `GenerateContentResponse` with the next piece; the one carrying a
/// `finishReason` is the last.
#[derive(Default)]
pub struct ChunkDecoder {
    started: bool,
    tools: usize,
    usage: Option<TokenUsage>,
    ended: bool,
}

impl StreamDecoder for ChunkDecoder {
    fn event(&mut self, ev: &SseEvent<'_>, out: &mut Vec<Delta>) -> R<()> {
        if ev.data.trim().is_empty() || self.ended {
            return Ok(());
        }
        let v: Value = serde_json::from_str(&ev.data)
            .map_err(|e| format!("a stream event is not JSON: {e}"))?;
        if let Some(message) = error_in(&v) {
            let kind = v
                .pointer("/error/status")
                .and_then(Value::as_str)
                .unwrap_or("api_error");
            out.push(Delta::Error {
                kind: kind.into(),
                message,
            });
            return Ok(());
        }
        if !self.started {
            self.started = true;
            out.push(Delta::Start {
                id: v
                    .get("responseId")
                    .and_then(Value::as_str)
                    .map(|id| format!("chatcmpl-{id}"))
                    .unwrap_or_default(),
                model: v
                    .get("modelVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .into(),
            });
        }
        if let Some(u) = v.get("usageMetadata") {
            self.usage = Some(usage_of(u));
        }
        let cand = v
            .get("candidates")
            .and_then(Value::as_array)
            .and_then(|c| c.first());
        if let Some(cand) = cand {
            for p in cand
                .pointer("/content/parts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if p.get("thought").and_then(Value::as_bool) == Some(true) {
                    continue;
                }
                if let Some(t) = p.get("text").and_then(Value::as_str) {
                    if !t.is_empty() {
                        out.push(Delta::Text(t.into()));
                    }
                }
                if let Some(fc) = p.get("functionCall") {
                    let index = self.tools;
                    self.tools += 1;
                    out.push(Delta::ToolStart {
                        index,
                        id: synth_id("call_"),
                        name: fc
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .into(),
                    });
                    out.push(Delta::ToolArgs {
                        index,
                        fragment: fc.get("args").cloned().unwrap_or(json!({})).to_string(),
                    });
                }
            }
            if let Some(reason) = cand.get("finishReason").and_then(Value::as_str) {
                out.push(Delta::Finish {
                    reason: finish_of(reason, self.tools > 0),
                    stop_sequence: None,
                });
                if let Some(u) = self.usage {
                    out.push(Delta::Usage(u));
                }
                out.push(Delta::End);
                self.ended = true;
            }
        } else if v.pointer("/promptFeedback/blockReason").is_some() {
            out.push(Delta::Finish {
                reason: Finish::ContentFilter,
                stop_sequence: None,
            });
            out.push(Delta::End);
            self.ended = true;
        }
        Ok(())
    }
}

/// The upstream path and body of an embeddings request: one input goes to
/// `embedContent`, several to `batchEmbedContents`.
pub fn build_embed(req: &EmbedRequest) -> (String, Value) {
    let content = |t: &str| json!({"parts": [{"text": t}]});
    let with_dims = |mut v: Value| {
        if let Some(d) = req.dimensions {
            v["outputDimensionality"] = json!(d);
        }
        v
    };
    if req.single {
        (
            format!("v1beta/models/{}:embedContent", req.model),
            with_dims(json!({"content": content(&req.inputs[0])})),
        )
    } else {
        let requests: Vec<Value> = req
            .inputs
            .iter()
            .map(|t| {
                with_dims(json!({"model": format!("models/{}", req.model), "content": content(t)}))
            })
            .collect();
        (
            format!("v1beta/models/{}:batchEmbedContents", req.model),
            json!({"requests": requests}),
        )
    }
}

/// The vectors of an `embedContent` / `batchEmbedContents` answer.
pub fn decode_embed(v: &Value) -> R<Vec<Value>> {
    if let Some(e) = v.get("embedding") {
        return Ok(vec![
            e.get("values").cloned().ok_or("embedding has no values")?,
        ]);
    }
    let list = v
        .get("embeddings")
        .and_then(Value::as_array)
        .ok_or("the answer has no embeddings")?;
    list.iter()
        .map(|e| {
            e.get("values")
                .cloned()
                .ok_or_else(|| "an embedding has no values".to_string())
        })
        .collect()
}
