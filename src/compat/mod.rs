//! The unified API (`compat/chat/completions`, `compat/embeddings`,
//! `compat/messages`, and Universal steps with provider `compat`): one
//! request format in, any provider out, translated both ways.
//!
//! A hub (`hub`: one request, response and stream-event model) and one file
//! per dialect (`openai`, `anthropic`, `gemini`), each reading into and
//! writing out of the hub. This module plans a translated step and
//! translates answers back; `sink` does it for streams; the JSON scanner
//! (`crate::json::scan`) reads the common bodies and events without serde
//! (which judges the rest). It
//! depends on the core's `provider`, `credentials`, `sse`, `stream` and `response` only;
//! `routed` (`dynamic/<route>`) also on `routing` and the gateway's run loop.

pub mod anthropic;
pub mod gemini;
pub mod hub;
pub mod openai;
pub mod planner;
pub mod routed;
mod sink;

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::call::gateway::PlannedStep;
use crate::call::response::Response;
use crate::config::{Config, Settings};
use crate::error::{Error, ErrorKind, Result};
use crate::http::sse::{SseEvent, SseParser};
use crate::providers::provider::Providers;
use hub::{ChatRequest, Delta, TokenUsage};

pub use sink::{CompatSink, StepTranslations};

pub use crate::http::headers::MODEL_HEADER;
/// Response headers naming the provider and model that served.
pub use crate::http::headers::PROVIDER_HEADER;

/// The format the caller speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Chat,
    Embeddings,
    Messages,
}

impl Caller {
    /// The unified endpoint a gateway path names, if it names one.
    pub fn for_path(path: &str) -> Option<Caller> {
        let path = path.trim_start_matches('/');
        // A byte loop: `split('?')`'s searcher costs more on a path this short.
        let end = path.bytes().position(|b| b == b'?').unwrap_or(path.len());
        Caller::for_endpoint(path[..end].strip_prefix("compat/")?)
    }

    /// A unified endpoint by name (also the `endpoint` of a Universal
    /// `compat` step).
    pub fn for_endpoint(endpoint: &str) -> Option<Caller> {
        match endpoint.trim_matches('/') {
            "chat/completions" | "v1/chat/completions" => Some(Caller::Chat),
            "embeddings" | "v1/embeddings" => Some(Caller::Embeddings),
            "messages" | "v1/messages" => Some(Caller::Messages),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Caller::Chat => "compat/chat/completions",
            Caller::Embeddings => "compat/embeddings",
            Caller::Messages => "compat/messages",
        }
    }
}

/// The format an upstream speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Dialect {
    fn name(self) -> &'static str {
        match self {
            Dialect::OpenAi => "OpenAI",
            Dialect::Anthropic => "Anthropic Messages",
            Dialect::Gemini => "Gemini",
        }
    }
}

/// The dialect of a provider, or why the unified API cannot reach it.
pub fn dialect_of(provider: &str) -> Result<Dialect, String> {
    match provider {
        "anthropic" => Ok(Dialect::Anthropic),
        "google-ai-studio" => Ok(Dialect::Gemini),
        "huggingface" | "replicate" => Err(format!(
            "provider {provider:?} has no chat API the unified API translates to"
        )),
        _ => Ok(Dialect::OpenAi),
    }
}

/// The path of an OpenAI-compatible provider's endpoint (`chat/completions`
/// or `embeddings`), relative to its base URL.
fn openai_path(provider: &str, endpoint: &'static str) -> Cow<'static, str> {
    match provider {
        "mistral" | "grok" | "openrouter" | "workers-ai" => format!("v1/{endpoint}").into(),
        "cohere" => format!("compatibility/v1/{endpoint}").into(),
        _ => endpoint.into(),
    }
}

/// Where Anthropic's Messages API is, under its base.
const MESSAGES_PATH: &str = "v1/messages";

/// azure-openai's api-version for translated requests.
pub const AZURE_API_VERSION: &str = "2024-10-21";

/// What a translated step needs to translate its answer back.
#[derive(Debug, Clone)]
pub struct CompatStep {
    pub caller: Caller,
    pub dialect: Dialect,
    pub provider: String,
    /// The provider's model name.
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
    /// The tool an Anthropic-bound `json_schema` response format became.
    pub json_tool: Option<String>,
    /// Caller and upstream share a format: bodies pass unchanged.
    pub passthrough: bool,
    /// Embeddings asked for as base64 (what the OpenAI SDK asks by default).
    pub base64_embeddings: bool,
    /// The token counts of the whole answer just translated, as reading the
    /// translated body would find them: the log takes them from here
    /// instead of parsing the body again.
    pub whole_usage: UsageSlot,
    /// The `model` the upstream body names, where it names one (what the
    /// log would read back out of that body).
    pub upstream_model: Option<String>,
}

/// A step's last whole-answer usage (see [`whole_usage`]).
#[derive(Debug, Default)]
pub struct UsageSlot(std::sync::Mutex<Option<crate::providers::usage::Usage>>);

impl UsageSlot {
    fn set(&self, usage: crate::providers::usage::Usage) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(usage);
    }

    fn take(&self) -> Option<crate::providers::usage::Usage> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl Clone for UsageSlot {
    fn clone(&self) -> UsageSlot {
        UsageSlot(std::sync::Mutex::new(
            *self.0.lock().unwrap_or_else(|e| e.into_inner()),
        ))
    }
}

/// The token counts of a whole answer that `steps` translated, known from
/// its translation; `None`: read them from the body.
pub fn whole_usage(
    steps: &[PlannedStep],
    response: &Response,
) -> Option<crate::providers::usage::Usage> {
    let step = steps.iter().find(|s| s.index == response.step)?;
    step.compat.as_ref()?.whole_usage.take()
}

/// Fields of the caller's request that change nothing a target must honour;
/// a translated request leaves them out.
const IGNORABLE: &[&str] = &[
    "user",
    "store",
    "metadata",
    "service_tier",
    "stream_options",
];

fn refuse(caller: Caller, message: impl std::fmt::Display) -> Error {
    Error::invalid_request(format!("{}: {message}", caller.name()))
}

/// Plans one translated step: checks the unified request, picks the
/// provider from `model`, writes the upstream request and its headers.
/// Everything is checked here, before any upstream contact.
#[allow(clippy::too_many_arguments)]
pub fn plan_step(
    providers: &Providers,
    config: &Config,
    caller: Caller,
    body: &[u8],
    mut headers: Vec<(String, String)>,
    drop_params: bool,
    index: usize,
    settings: Settings,
) -> Result<PlannedStep> {
    // The common chat request is read typed; any other body as a `Value`.
    let fast = match caller {
        Caller::Chat => openai::FastChat::read(body),
        _ => None,
    };
    let read_value = || -> Result<Value> {
        serde_json::from_slice(body)
            .map_err(|e| refuse(caller, format!("the body is not valid JSON: {e}")))
    };
    let mut value = match fast {
        Some(_) => Value::Null,
        None => read_value()?,
    };
    // Not borrowed from `value`, which may be read again below (the fast
    // path's is borrowed from the body).
    let full_model: std::borrow::Cow<str> = match &fast {
        Some(f) => f.model(),
        None => value
            .get("model")
            .ok_or_else(|| refuse(caller, "missing \"model\" ({provider}/{model})"))?
            .as_str()
            .ok_or_else(|| refuse(caller, "\"model\" must be a string"))?
            .to_owned()
            .into(),
    };
    let (provider, model) = full_model
        .split_once('/')
        .filter(|(p, m)| !p.is_empty() && !m.is_empty())
        .ok_or_else(|| {
            refuse(
                caller,
                format!(
                    "model {full_model:?} names no provider: write it as {{provider}}/{{model}}"
                ),
            )
        })?;
    if provider == "dynamic" {
        return Err(Error::new(
            ErrorKind::UnknownProvider,
            format!(
                "{}: model \"dynamic/{model}\": a route is invoked as a request's own model, not from a Universal step or a route",
                caller.name()
            ),
        ));
    }
    // Unknown providers are refused here, by the same rule as provider paths.
    // Where the path does not depend on the body it is looked up once, here.
    let dialect = dialect_of(provider);
    let fixed_path = match (&dialect, caller) {
        _ if provider == "azure-openai" => None,
        (Ok(Dialect::Anthropic), Caller::Chat | Caller::Messages) => Some(MESSAGES_PATH.into()),
        (Ok(Dialect::OpenAi), Caller::Chat | Caller::Messages) => {
            Some(openai_path(provider, "chat/completions"))
        }
        (Ok(Dialect::OpenAi), Caller::Embeddings) => Some(openai_path(provider, "embeddings")),
        _ => None,
    };
    let early_target = providers.target(
        provider,
        match &fixed_path {
            Some(p) => p,
            None if provider == "azure-openai" => "r/d",
            None => "",
        },
    )?;
    let dialect = dialect.map_err(|m| refuse(caller, m))?;

    let mut step = CompatStep {
        caller,
        dialect,
        provider: provider.to_string(),
        model: model.to_string(),
        stream: false,
        include_usage: false,
        json_tool: None,
        passthrough: false,
        base64_embeddings: false,
        whole_usage: UsageSlot::default(),
        upstream_model: None,
    };
    let mut upstream_model = model.to_string();
    let mut azure_prefix = String::new();
    if provider == "azure-openai" {
        let (resource, deployment) = model
            .split_once('/')
            .filter(|(r, d)| !r.is_empty() && !d.is_empty() && !d.contains('/'))
            .ok_or_else(|| {
                refuse(
                    caller,
                    "azure-openai models are azure-openai/{resource}/{deployment}",
                )
            })?;
        azure_prefix = format!("{resource}/{deployment}/");
        upstream_model = deployment.to_string();
    }
    let with_model = |mut v: Value| {
        v["model"] = json!(upstream_model);
        v
    };

    let (path, upstream_body): (Cow<'static, str>, String) = match caller {
        Caller::Embeddings => {
            let (req, mut extra) = openai::parse_embed_request(&value, &upstream_model)
                .map_err(|m| refuse(caller, m))?;
            match dialect {
                Dialect::OpenAi => {
                    step.passthrough = true;
                    (
                        openai_path(provider, "embeddings"),
                        with_model(value.clone()).to_string(),
                    )
                }
                Dialect::Anthropic => {
                    return Err(refuse(caller, "anthropic has no embeddings API"));
                }
                Dialect::Gemini => {
                    match extra.remove("encoding_format") {
                        None | Some(Value::Null) => {}
                        Some(f) if f == "float" => {}
                        Some(f) if f == "base64" => step.base64_embeddings = true,
                        Some(_) => {
                            return Err(refuse(caller, "encoding_format must be float or base64"));
                        }
                    }
                    extra.retain(|k, _| !IGNORABLE.contains(&k.as_str()));
                    if let Some(k) = extra.keys().next() {
                        if !drop_params {
                            return Err(refuse(
                                caller,
                                format!(
                                    "parameter {k:?} cannot be sent to {provider} (set cf-aig-drop-params: true to drop it)"
                                ),
                            ));
                        }
                    }
                    let (path, body) = gemini::build_embed(&req);
                    (path.into(), body.to_string())
                }
            }
        }
        Caller::Chat | Caller::Messages => {
            let same = matches!(
                (caller, dialect),
                (Caller::Chat, Dialect::OpenAi) | (Caller::Messages, Dialect::Anthropic)
            );
            let typed = fast.and_then(|f| f.into_request(&upstream_model));
            // A pass-through body is rewritten from its `Value`; a request
            // the fast path left is read (and explained) by the `Value` path.
            if value.is_null() && (same || typed.is_none()) {
                value = read_value()?;
            }
            let mut req = match (typed, caller) {
                (Some(req), _) => Ok(req),
                (None, Caller::Chat) => openai::parse_chat_request(&value, &upstream_model),
                (None, _) => anthropic::parse_messages_request(&value, &upstream_model),
            }
            .map_err(|m| refuse(caller, m))?;
            step.stream = req.stream;
            step.include_usage = req.include_usage;
            if same {
                step.passthrough = true;
                let path = match dialect {
                    Dialect::Anthropic => MESSAGES_PATH.into(),
                    _ => openai_path(provider, "chat/completions"),
                };
                (path, with_model(value.clone()).to_string())
            } else {
                check_honoured(&mut req, caller, dialect, provider, drop_params)?;
                match dialect {
                    Dialect::OpenAi => (
                        openai_path(provider, "chat/completions"),
                        openai::build_chat_request(&req).to_string(),
                    ),
                    Dialect::Anthropic => {
                        step.json_tool = anthropic::json_tool_name(&req);
                        let body = anthropic::build_request(&req).map_err(|m| refuse(caller, m))?;
                        (MESSAGES_PATH.into(), body)
                    }
                    Dialect::Gemini => (
                        gemini::chat_path(&req.model, req.stream).into(),
                        gemini::build_request(&req)
                            .map_err(|m| refuse(caller, m))?
                            .to_string(),
                    ),
                }
            }
        }
    };
    // Every OpenAI and Anthropic body written above carries `model`: the
    // upstream's model name (Gemini's is in the path).
    if dialect != Dialect::Gemini {
        step.upstream_model = Some(upstream_model);
    }
    let path = if provider == "azure-openai" {
        format!("{azure_prefix}{path}?api-version={AZURE_API_VERSION}").into()
    } else {
        path
    };
    let target = match fixed_path {
        Some(p) if p == path => early_target,
        _ => providers.target(provider, &path)?,
    };

    // The caller's credential goes in the provider's own header.
    // The body is JSON: a caller's `application/json` stays (no copy of
    // the header made again), any other type goes.
    let mut json_type = false;
    headers.retain(|(n, v)| {
        let anthropic = n
            .as_bytes()
            .get(..10)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"anthropic-"));
        if n.eq_ignore_ascii_case("content-type") && !json_type && v == "application/json" {
            json_type = true;
            return true;
        }
        !(n.eq_ignore_ascii_case("content-type")
            || n.eq_ignore_ascii_case("accept-encoding")
            || n.eq_ignore_ascii_case("content-encoding")
            || (dialect != Dialect::Anthropic && anthropic))
    });
    match crate::providers::credentials::take_caller_credential(&mut headers) {
        Some(key) => crate::providers::credentials::deliver_owned(provider, key, &mut headers),
        None => crate::providers::credentials::apply_stored(
            config.provider_keys.get(provider),
            provider,
            &target.url,
            &mut headers,
        ),
    }
    crate::providers::credentials::add_required(provider, &mut headers);
    if !json_type {
        headers.push(("Content-Type".into(), "application/json".into()));
    }

    Ok(PlannedStep {
        index,
        target,
        method: "POST".into(),
        headers,
        body: upstream_body.into_bytes(),
        settings,
        response_headers: Vec::new(),
        compat: Some(Arc::new(step)),
    })
}

/// Refuses (or, with `drop_params`, drops) what the target cannot honour.
fn check_honoured(
    req: &mut ChatRequest,
    caller: Caller,
    dialect: Dialect,
    provider: &str,
    drop_params: bool,
) -> Result<()> {
    let mut unhonoured: Vec<String> = req
        .extra
        .keys()
        .filter(|k| !IGNORABLE.contains(&k.as_str()))
        .cloned()
        .collect();
    if req.n.is_some_and(|n| n > 1) {
        unhonoured.push("n".into());
    }
    if req.top_k.is_some() && dialect == Dialect::OpenAi {
        unhonoured.push("top_k".into());
    }
    if let Some(first) = unhonoured.first() {
        if !drop_params {
            return Err(refuse(
                caller,
                format!(
                    "parameter {first:?} cannot be honoured by {provider} (set cf-aig-drop-params: true to drop it)"
                ),
            ));
        }
        req.n = None;
        if dialect == Dialect::OpenAi {
            req.top_k = None;
        }
    }
    req.extra.clear();
    Ok(())
}

/// One translated event to hand the caller: its `event:` name (none for
/// OpenAI chunks) and its data.
#[derive(Debug, Clone, PartialEq)]
pub struct OutEvent {
    pub event: Option<&'static str>,
    pub data: String,
}

impl OutEvent {
    pub fn data(data: String) -> OutEvent {
        OutEvent { event: None, data }
    }

    /// The event as SSE bytes.
    pub fn to_sse(&self, out: &mut Vec<u8>) {
        if let Some(e) = self.event {
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(e.as_bytes());
            out.push(b'\n');
        }
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(self.data.as_bytes());
        out.extend_from_slice(b"\n\n");
    }
}

/// Reads one upstream dialect's stream events into hub deltas.
pub trait StreamDecoder: Send {
    fn event(&mut self, ev: &SseEvent<'_>, out: &mut Vec<Delta>) -> Result<(), String>;
}

/// Writes hub deltas as the caller's stream events.
pub trait StreamEncoder: Send {
    fn delta(&mut self, d: &Delta, out: &mut Vec<OutEvent>);
}

/// A stream's translation: upstream events in, caller events out.
pub struct StreamTranslator {
    decoder: Box<dyn StreamDecoder>,
    encoder: Option<Box<dyn StreamEncoder>>,
    deltas: Vec<Delta>,
    pub ended: bool,
    pub usage: Option<TokenUsage>,
}

impl StreamTranslator {
    /// Feeds one upstream event; returns the caller's events it makes
    /// (none for a pass-through stream, whose events go on unchanged).
    pub fn feed(&mut self, ev: &SseEvent<'_>, out: &mut Vec<OutEvent>) -> Result<(), String> {
        self.deltas.clear();
        self.decoder.event(ev, &mut self.deltas)?;
        for d in &self.deltas {
            match d {
                Delta::End => self.ended = true,
                Delta::Usage(u) => self.usage = Some(*u),
                _ => {}
            }
            if let Some(enc) = &mut self.encoder {
                enc.delta(d, out);
            }
        }
        Ok(())
    }
}

impl CompatStep {
    /// The end marker a stream of this step's upstream must reach.
    fn end_marker(&self) -> &'static str {
        match self.dialect {
            Dialect::OpenAi => "data: [DONE]",
            Dialect::Anthropic => "message_stop",
            Dialect::Gemini => "a final finishReason",
        }
    }

    fn who(&self) -> String {
        format!("{} ({})", self.provider, self.dialect.name())
    }

    pub fn stream_translator(&self) -> StreamTranslator {
        let decoder: Box<dyn StreamDecoder> = match self.dialect {
            Dialect::OpenAi => Box::<openai::ChunkDecoder>::default(),
            Dialect::Anthropic => Box::new(anthropic::EventDecoder::new(self.json_tool.clone())),
            Dialect::Gemini => Box::<gemini::ChunkDecoder>::default(),
        };
        let encoder: Option<Box<dyn StreamEncoder>> = if self.passthrough {
            None
        } else {
            Some(match self.caller {
                Caller::Messages => Box::new(anthropic::EventEncoder::new(&self.model)),
                _ => Box::new(openai::ChunkEncoder::new(self.include_usage, &self.model)),
            })
        };
        StreamTranslator {
            decoder,
            encoder,
            deltas: Vec::new(),
            ended: false,
            usage: None,
        }
    }

    /// The upstream headers a translated answer replaces (its length and
    /// type: the body is another one), left out of its head. `name` is
    /// lowercase, as HTTP header maps hold names.
    pub fn sets_header(name: &str) -> bool {
        name == "content-length" || name == "content-type"
    }

    /// The head as the caller sees it, its upstream headers read without
    /// those [`CompatStep::sets_header`] names: the caller's content type
    /// and the provider and model that served.
    pub fn adjust_head(&self, head: &mut Response) {
        let success = head.is_success();
        let ct = if success && self.stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        head.headers.push("content-type", ct);
        head.headers.push(PROVIDER_HEADER, &self.provider);
        head.headers.push(MODEL_HEADER, &self.model);
    }

    /// Translates a whole answer (read in full) into the caller's format:
    /// errors into the caller's error shape, answers through the hub, and a
    /// whole event stream event by event.
    pub fn translate_whole(&self, response: &mut Response) -> Result<()> {
        if !response.is_success() {
            if let Some(body) = self.error_body(response.status, &response.body) {
                response.body = body;
            }
            return Ok(());
        }
        let bad = |e: String| {
            Error::new(
                ErrorKind::Protocol,
                format!(
                    "{}: the answer is not a valid {} response: {e}",
                    self.who(),
                    self.dialect.name()
                ),
            )
        };
        if self.stream {
            let mut tr = self.stream_translator();
            let mut parser = SseParser::new(crate::http::sse::DEFAULT_MAX_EVENT_BYTES);
            let mut out = Vec::new();
            let mut failure = None;
            let _ = parser.feed(&response.body, &mut |ev| match tr.feed(ev, &mut out) {
                Ok(()) => true,
                Err(e) => {
                    failure = Some(e);
                    false
                }
            });
            if let Some(e) = failure {
                return Err(bad(e));
            }
            if !tr.ended {
                return Err(bad(format!(
                    "the stream ended before {}",
                    self.end_marker()
                )));
            }
            if !self.passthrough {
                let mut bytes = Vec::new();
                for ev in &out {
                    ev.to_sse(&mut bytes);
                }
                response.body = bytes;
            }
            return Ok(());
        }
        if self.passthrough {
            return Ok(());
        }
        let value = |body: &[u8]| -> Result<Value> {
            serde_json::from_slice(body).map_err(|e| bad(format!("not JSON ({e})")))
        };
        let translated = match self.caller {
            Caller::Embeddings => {
                let mut vectors = gemini::decode_embed(&value(&response.body)?).map_err(bad)?;
                if self.base64_embeddings {
                    for v in &mut vectors {
                        *v = Value::String(hub::f32_base64(v));
                    }
                }
                openai::encode_embeddings(vectors, &self.model, 0).to_string()
            }
            caller => {
                let hub = match self.dialect {
                    Dialect::OpenAi => openai::decode_response(&value(&response.body)?),
                    // Read typed, straight from the bytes.
                    Dialect::Anthropic => {
                        anthropic::decode_response(&response.body, self.json_tool.as_deref())
                    }
                    Dialect::Gemini => gemini::decode_response(&value(&response.body)?),
                }
                .map_err(bad)?;
                match caller {
                    Caller::Messages => anthropic::encode_response(&hub).to_string(),
                    _ => {
                        // What `usage_of_body` reads from the chat.completion written.
                        self.whole_usage.set(crate::providers::usage::Usage {
                            tokens_in: hub.usage.map(|u| u.input),
                            tokens_out: hub.usage.map(|u| u.output),
                        });
                        openai::encode_response(&hub)
                    }
                }
            }
        };
        response.body = translated.into_bytes();
        Ok(())
    }

    /// A non-2xx body in the caller's error format, carrying the provider's
    /// message. `None` keeps the body (a pass-through error already in the
    /// caller's shape).
    fn error_body(&self, status: u16, body: &[u8]) -> Option<Vec<u8>> {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let in_shape = parsed.as_ref().is_some_and(|v| match self.caller {
            Caller::Messages => {
                v.get("type").and_then(Value::as_str) == Some("error")
                    && v.pointer("/error/message").is_some()
            }
            _ => v
                .pointer("/error/message")
                .and_then(Value::as_str)
                .is_some(),
        });
        if self.passthrough && in_shape {
            return None;
        }
        let (message, kind) = hub::upstream_error(body);
        let message = format!("{}: {message}", self.provider);
        Some(
            match self.caller {
                Caller::Messages => {
                    anthropic::encode_error(&message, anthropic::error_type_for(status))
                }
                _ => {
                    let kind = kind.unwrap_or_else(|| openai_error_type(status).into());
                    openai::encode_error(&message, &kind, Some(&status.to_string()))
                }
            }
            .to_string()
            .into_bytes(),
        )
    }
}

fn openai_error_type(status: u16) -> &'static str {
    match status {
        400 | 404 | 413 | 422 => "invalid_request_error",
        401 | 403 => "authentication_error",
        429 => "rate_limit_error",
        _ => "api_error",
    }
}

/// The caller's error body for a failure with no upstream answer (for the
/// loopback server's compat paths).
pub fn caller_error_body(path: &str, status: u16, message: &str) -> Option<Vec<u8>> {
    let caller = Caller::for_path(path)?;
    let body = match caller {
        Caller::Messages => anthropic::encode_error(message, anthropic::error_type_for(status)),
        _ => openai::encode_error(message, openai_error_type(status), None),
    };
    Some(body.to_string().into_bytes())
}

/// Hub usage as the log's token counts.
pub fn log_usage(u: TokenUsage) -> crate::providers::usage::Usage {
    crate::providers::usage::Usage {
        tokens_in: Some(u.input),
        tokens_out: Some(u.output),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(caller: Caller, dialect: Dialect, stream: bool) -> CompatStep {
        CompatStep {
            caller,
            dialect,
            provider: match dialect {
                Dialect::Anthropic => "anthropic",
                Dialect::Gemini => "google-ai-studio",
                Dialect::OpenAi => "openai",
            }
            .into(),
            model: "m".into(),
            stream,
            include_usage: true,
            json_tool: None,
            passthrough: false,
            base64_embeddings: false,
            whole_usage: UsageSlot::default(),
            upstream_model: None,
        }
    }

    fn answer(status: u16, body: &[u8]) -> Response {
        Response {
            status,
            body: body.to_vec(),
            ..Response::default()
        }
    }

    #[test]
    fn answers_not_in_their_dialect_are_protocol_errors_naming_the_provider() {
        for dialect in [Dialect::Anthropic, Dialect::Gemini, Dialect::OpenAi] {
            for body in [
                &b"not json"[..],
                b"{}",
                b"[1,2]",
                br#"{"type":"message"}"#,
                b"",
            ] {
                let s = step(Caller::Messages, dialect, false);
                let e = s.translate_whole(&mut answer(200, body)).unwrap_err();
                assert_eq!(e.kind, ErrorKind::Protocol);
                assert!(e.message.contains(&s.provider), "{}", e.message);
            }
            let s = step(Caller::Chat, dialect, true);
            let e = s
                .translate_whole(&mut answer(200, b"data: {not json\n\n"))
                .unwrap_err();
            assert_eq!(e.kind, ErrorKind::Protocol);
        }
    }

    #[test]
    fn stream_events_that_are_not_json_fail_the_translation() {
        for dialect in [Dialect::Anthropic, Dialect::Gemini, Dialect::OpenAi] {
            let mut tr = step(Caller::Chat, dialect, true).stream_translator();
            let ev = SseEvent {
                event: "message".into(),
                data: "{\"unterminated".into(),
                id: "".into(),
            };
            let mut out = Vec::new();
            assert!(tr.feed(&ev, &mut out).is_err());
            assert!(!tr.ended);
        }
    }

    #[test]
    fn error_bodies_take_the_callers_shape() {
        let mut r = answer(
            529,
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        step(Caller::Chat, Dialect::Anthropic, false)
            .translate_whole(&mut r)
            .unwrap();
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"]["message"], "anthropic: Overloaded");
        assert_eq!(v["error"]["type"], "overloaded_error");
        let mut r = answer(400, b"<html>bad gateway</html>");
        step(Caller::Messages, Dialect::Gemini, false)
            .translate_whole(&mut r)
            .unwrap();
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("bad gateway")
        );
    }

    #[test]
    fn the_usage_handed_to_the_log_is_what_the_translated_body_says() {
        let step = step(Caller::Chat, Dialect::Anthropic, false);
        for usage in [
            r#","usage":{"input_tokens":10,"cache_read_input_tokens":5,"cache_creation_input_tokens":2,"output_tokens":7}"#,
            r#","usage":{"output_tokens":3}"#,
            "",
        ] {
            let body = format!(
                r#"{{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{{"type":"text","text":"usage: hi"}}],"stop_reason":"end_turn"{usage}}}"#
            );
            let mut r = answer(200, body.as_bytes());
            step.translate_whole(&mut r).unwrap();
            let planned = PlannedStep {
                index: 0,
                target: crate::providers::provider::Target {
                    provider: "anthropic".into(),
                    url: "http://127.0.0.1:1/v1/messages".into(),
                    host: "127.0.0.1:1".into(),
                },
                method: "POST".into(),
                headers: Vec::new(),
                body: Vec::new(),
                settings: crate::config::Controls::default().resolve(),
                response_headers: Vec::new(),
                compat: Some(Arc::new(step.clone())),
            };
            let known = whole_usage(std::slice::from_ref(&planned), &r);
            assert_eq!(
                known,
                Some(crate::providers::usage::usage_of_body(&r.body)),
                "{usage}"
            );
            // Taken once: a later answer of the step is read afresh.
            assert_eq!(whole_usage(std::slice::from_ref(&planned), &r), None);
        }
    }

    #[test]
    fn the_model_handed_to_the_log_is_the_one_the_upstream_body_names() {
        let providers = Providers::new(Default::default(), None);
        let config = Config::default();
        let chat = br#"{"model":"P/m-1","messages":[{"role":"user","content":"hi"}]}"#;
        let messages =
            br#"{"model":"P/m-1","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
        let embed = br#"{"model":"P/m-1","input":"hi"}"#;
        let mut known_models = 0;
        for (caller, body) in [
            (Caller::Chat, &chat[..]),
            (Caller::Messages, &messages[..]),
            (Caller::Embeddings, &embed[..]),
        ] {
            for provider in [
                "anthropic",
                "openai",
                "groq",
                "google-ai-studio",
                "azure-openai",
            ] {
                let body = String::from_utf8_lossy(body).replace(
                    "P/m-1",
                    &if provider == "azure-openai" {
                        "azure-openai/res/m-1".to_string()
                    } else {
                        format!("{provider}/m-1")
                    },
                );
                let settings = crate::config::Controls::default().resolve();
                let Ok(planned) = plan_step(
                    &providers,
                    &config,
                    caller,
                    body.as_bytes(),
                    Vec::new(),
                    false,
                    0,
                    settings,
                ) else {
                    continue; // anthropic has no embeddings
                };
                let known = planned.compat.as_ref().unwrap().upstream_model.clone();
                let read = crate::providers::adapter::adapter(provider)
                    .model_of(&planned.target.url, &planned.body);
                if known.is_some() {
                    known_models += 1;
                    assert_eq!(known, read, "{provider} {caller:?}");
                }
                assert_eq!(read.as_deref(), Some("m-1"), "{provider} {caller:?}");
            }
        }
        // Chat and messages to four targets, embeddings to three.
        assert_eq!(known_models, 11);
    }

    #[test]
    fn endpoints_by_path() {
        assert_eq!(
            Caller::for_path("compat/chat/completions"),
            Some(Caller::Chat)
        );
        assert_eq!(
            Caller::for_path("/compat/v1/messages"),
            Some(Caller::Messages)
        );
        assert_eq!(
            Caller::for_path("compat/embeddings?x=1"),
            Some(Caller::Embeddings)
        );
        assert_eq!(Caller::for_path("compat/other"), None);
        assert_eq!(Caller::for_path("openai/chat/completions"), None);
    }
}
