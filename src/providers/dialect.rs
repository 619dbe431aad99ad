//! What the gateway knows of the streaming dialects it passes through:
//! which events are lifecycle (no content yet), which carry content, which
//! say the stream failed, and which one ends a stream that ended well.
//!
//! The streaming commit point (the call layer's stream reader) and the unified API's
//! translators both read streams through [`classify`], so each dialect's
//! markers live here once.

use serde::Deserialize;

use crate::http::sse::{SseEvent, is_error_event};

/// A stream format the gateway recognises from its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAI Chat Completions chunks (`chat.completion.chunk`), ending in
    /// `data: [DONE]`. Every OpenAI-compatible provider speaks it.
    OpenAiChat,
    /// OpenAI Responses events (`response.created`, ...).
    OpenAiResponses,
    /// Anthropic Messages events, ending in `message_stop`.
    Anthropic,
}

impl Dialect {
    /// The event a complete stream of this dialect ends with, for messages;
    /// `None` when the dialect has none the gateway insists on.
    pub fn end_marker(self) -> Option<&'static str> {
        match self {
            Dialect::OpenAiChat => Some("data: [DONE]"),
            Dialect::Anthropic => Some("message_stop"),
            Dialect::OpenAiResponses => None,
        }
    }
}

/// What one event means for the stream carrying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventClass {
    /// Bookkeeping before any content (`message_start`, `ping`,
    /// `response.created`, a chat chunk with only the role): held back until
    /// content arrives, so an error right after it can still fall back.
    Lifecycle,
    /// Content, or anything the gateway does not know: the commit point.
    Content,
    /// The stream reports a failure.
    Error,
    /// The dialect's end marker.
    End,
}

/// The fields of an event's JSON data that tell dialects apart. Everything
/// else (the content itself) is skipped, not built.
#[derive(Deserialize, Default)]
struct Shape<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    object: Option<std::borrow::Cow<'a, str>>,
}

/// A chat chunk's parts that show whether it carries content.
#[derive(Deserialize, Default)]
struct ChatChunk {
    choices: Option<Vec<Choice>>,
    usage: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Choice {
    delta: Option<serde_json::Map<String, serde_json::Value>>,
    finish_reason: Option<serde::de::IgnoredAny>,
}

const ANTHROPIC_EVENTS: &[&str] = &[
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
];

/// The event's name as the dialect means it: the SSE `event` field, or the
/// data's `type` where the stream names none.
fn name_of<'a>(event: &'a SseEvent<'_>, shape: &'a Shape<'_>) -> &'a str {
    if event.event != "message" {
        &event.event
    } else {
        shape.kind.as_deref().unwrap_or("")
    }
}

fn shape_of<'a>(event: &'a SseEvent<'_>) -> Shape<'a> {
    let data = event.data.trim_start();
    if !data.starts_with('{') {
        return Shape::default();
    }
    serde_json::from_str(data).unwrap_or_default()
}

/// Whether an event's data could be one of the known dialects at all: a
/// cheap look before any JSON is read (unknown streams ask for every event).
fn may_be_known(event: &SseEvent<'_>) -> bool {
    let data = &event.data;
    data.contains("\"type\"") || data.contains("chat.completion.chunk")
}

/// Which dialect an event belongs to, if it shows.
pub fn recognise(event: &SseEvent<'_>) -> Option<Dialect> {
    if event.data.trim() == "[DONE]" {
        return Some(Dialect::OpenAiChat);
    }
    if !may_be_known(event) {
        return None;
    }
    let shape = shape_of(event);
    let name = name_of(event, &shape);
    // Both dialects repeat the event's name as the data's `type`; asking for
    // both keeps a stream that merely reuses a name out of the dialect.
    if shape.kind.as_deref() != Some(name) {
        return (shape.object.as_deref() == Some("chat.completion.chunk"))
            .then_some(Dialect::OpenAiChat);
    }
    if ANTHROPIC_EVENTS.contains(&name) {
        Some(Dialect::Anthropic)
    } else if name.starts_with("response.") {
        Some(Dialect::OpenAiResponses)
    } else if shape.object.as_deref() == Some("chat.completion.chunk") {
        Some(Dialect::OpenAiChat)
    } else {
        None
    }
}

/// What `event` means in a stream of `dialect` (`None`: not recognised,
/// where every event but an error is content).
pub fn classify(dialect: Option<Dialect>, event: &SseEvent<'_>) -> EventClass {
    if is_error_event(event) {
        return EventClass::Error;
    }
    let Some(dialect) = dialect else {
        return EventClass::Content;
    };
    if dialect == Dialect::OpenAiChat {
        if event.data.trim() == "[DONE]" {
            return EventClass::End;
        }
        let data = event.data.trim_start();
        let chunk: ChatChunk = if data.starts_with('{') {
            serde_json::from_str(data).unwrap_or_default()
        } else {
            ChatChunk::default()
        };
        return if is_role_only_chunk(&chunk) {
            EventClass::Lifecycle
        } else {
            EventClass::Content
        };
    }
    let shape = shape_of(event);
    match (dialect, name_of(event, &shape)) {
        (Dialect::Anthropic, "message_start" | "ping" | "content_block_start") => {
            EventClass::Lifecycle
        }
        (Dialect::Anthropic, "message_stop") => EventClass::End,
        (Dialect::OpenAiResponses, "response.created" | "response.in_progress") => {
            EventClass::Lifecycle
        }
        // A Responses stream that fails says so in its own event.
        (Dialect::OpenAiResponses, "response.failed") => EventClass::Error,
        _ => EventClass::Content,
    }
}

/// Whether `event` is the end marker of `dialect`. Cheaper than
/// [`classify`], for the events after commit.
pub fn is_end(dialect: Dialect, event: &SseEvent<'_>) -> bool {
    match dialect {
        Dialect::OpenAiChat => event.data.trim() == "[DONE]",
        Dialect::Anthropic if event.event != "message" => event.event == "message_stop",
        Dialect::Anthropic => {
            event.data.contains("message_stop")
                && shape_of(event).kind.as_deref() == Some("message_stop")
        }
        Dialect::OpenAiResponses => false,
    }
}

/// A chat chunk that only opens the assistant's turn: every choice's delta
/// holds at most the role and an empty content, nothing has finished, and
/// there is no usage.
fn is_role_only_chunk(chunk: &ChatChunk) -> bool {
    let Some(choices) = &chunk.choices else {
        return false;
    };
    !choices.is_empty()
        && chunk.usage.is_none()
        && choices.iter().all(|c| {
            c.finish_reason.is_none()
                && c.delta.as_ref().is_some_and(|delta| {
                    delta.contains_key("role")
                        && delta.iter().all(|(k, v)| match k.as_str() {
                            "role" => true,
                            "content" | "refusal" => {
                                v.is_null() || v.as_str().is_some_and(str::is_empty)
                            }
                            _ => false,
                        })
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn ev<'a>(event: &'a str, data: &'a str) -> SseEvent<'a> {
        SseEvent {
            event: Cow::Borrowed(event),
            data: Cow::Borrowed(data),
            id: Cow::Borrowed(""),
        }
    }

    #[test]
    fn anthropic_events() {
        let start = ev("message_start", r#"{"type":"message_start","message":{}}"#);
        assert_eq!(recognise(&start), Some(Dialect::Anthropic));
        let a = Some(Dialect::Anthropic);
        assert_eq!(classify(a, &start), EventClass::Lifecycle);
        assert_eq!(
            classify(a, &ev("ping", r#"{"type":"ping"}"#)),
            EventClass::Lifecycle
        );
        assert_eq!(
            classify(
                a,
                &ev("content_block_start", r#"{"type":"content_block_start"}"#)
            ),
            EventClass::Lifecycle
        );
        assert_eq!(
            classify(
                a,
                &ev("content_block_delta", r#"{"type":"content_block_delta"}"#)
            ),
            EventClass::Content
        );
        assert_eq!(
            classify(a, &ev("error", r#"{"type":"error","error":{}}"#)),
            EventClass::Error
        );
        let stop = ev("message_stop", r#"{"type":"message_stop"}"#);
        assert_eq!(classify(a, &stop), EventClass::End);
        assert!(is_end(Dialect::Anthropic, &stop));
        // Unnamed events are read by their data's type.
        assert!(is_end(
            Dialect::Anthropic,
            &ev("message", r#"{"type":"message_stop"}"#)
        ));
        assert_eq!(
            recognise(&ev("message", r#"{"type":"ping"}"#)),
            Some(Dialect::Anthropic)
        );
    }

    #[test]
    fn openai_chat_and_responses() {
        let role = r#"{"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#;
        let text = r#"{"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}"#;
        let tool = r#"{"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[]}}]}"#;
        let usage = r#"{"object":"chat.completion.chunk","choices":[],"usage":{"total_tokens":3}}"#;
        let c = Some(Dialect::OpenAiChat);
        assert_eq!(recognise(&ev("message", role)), c);
        assert_eq!(classify(c, &ev("message", role)), EventClass::Lifecycle);
        assert_eq!(classify(c, &ev("message", text)), EventClass::Content);
        assert_eq!(classify(c, &ev("message", tool)), EventClass::Content);
        assert_eq!(classify(c, &ev("message", usage)), EventClass::Content);
        assert_eq!(classify(c, &ev("message", "[DONE]")), EventClass::End);
        assert_eq!(
            classify(c, &ev("message", r#"{"error":{"message":"x"}}"#)),
            EventClass::Error
        );

        let created = ev("response.created", r#"{"type":"response.created"}"#);
        let r = Some(Dialect::OpenAiResponses);
        assert_eq!(recognise(&created), r);
        assert_eq!(classify(r, &created), EventClass::Lifecycle);
        assert_eq!(
            classify(r, &ev("response.in_progress", "{}")),
            EventClass::Lifecycle
        );
        assert_eq!(
            classify(r, &ev("response.output_text.delta", "{}")),
            EventClass::Content
        );
        assert_eq!(classify(r, &ev("response.failed", "{}")), EventClass::Error);
    }

    #[test]
    fn unknown_streams_commit_at_their_first_event() {
        assert_eq!(recognise(&ev("message", "hello")), None);
        assert_eq!(recognise(&ev("message_start", "not json")), None);
        assert_eq!(recognise(&ev("message_start", r#"{"type":"other"}"#)), None);
        assert_eq!(classify(None, &ev("message", "hello")), EventClass::Content);
        assert_eq!(
            classify(None, &ev("message_start", "{}")),
            EventClass::Content
        );
        assert_eq!(classify(None, &ev("error", "x")), EventClass::Error);
    }
}
