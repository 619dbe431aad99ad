//! The normal (successful) JSON answers, one shape per provider family,
//! chosen from the request path. Token counts are deterministic so tests can
//! assert on usage and cost.

use serde_json::{Value, json};

/// The assistant text every answer carries.
pub const REPLY: &str = "Hello from the aigw mock.";

/// Which provider's response shape a path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    OpenAiChat,
    Anthropic,
    Replicate,
    WorkersAi,
    Google,
    HuggingFace,
}

impl Shape {
    /// Classifies a routed path (no query). The order matters: Workers AI's
    /// OpenAI-compatible `.../v1/chat/completions` must be an OpenAI answer.
    pub fn for_path(path: &str) -> Shape {
        if path.ends_with("chat/completions") {
            Shape::OpenAiChat
        } else if path.contains("/v1/messages") || path.ends_with("messages") {
            Shape::Anthropic
        } else if path.contains("predictions") {
            Shape::Replicate
        } else if path.contains("/ai/run/") || path.contains("/@cf/") || path.contains("/@hf/") {
            Shape::WorkersAi
        } else if path.contains(":generateContent") {
            Shape::Google
        } else {
            Shape::HuggingFace
        }
    }
}

/// What an answer is built from.
pub struct AnswerInput<'a> {
    /// Routed path, without the `/_mock/...` prefix and without the query.
    pub path: &'a str,
    /// The request body parsed as JSON, when it is JSON.
    pub json: Option<&'a Value>,
    /// Length of the raw request body, for prompt token counts.
    pub body_len: usize,
    /// The request's number (1-based, server-wide), for ids.
    pub number: u64,
    /// `body_size=N`: pad the answer to at least N bytes.
    pub min_size: Option<usize>,
}

/// Deterministic prompt token count: about four bytes per token.
pub fn prompt_tokens(body_len: usize) -> u64 {
    body_len as u64 / 4 + 1
}

/// Completion tokens for the (unpadded) reply text, by the same rule.
pub fn completion_tokens() -> u64 {
    REPLY.len() as u64 / 4 + 1
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The request body's `"model"`, or `mock-model`.
pub fn model_of(json: Option<&Value>) -> String {
    json.and_then(|j| j.get("model"))
        .and_then(Value::as_str)
        .unwrap_or("mock-model")
        .to_string()
}

/// Builds the answer body. With `min_size`, the reply text is lengthened with
/// filler until the serialized body reaches that many bytes.
pub fn answer(input: &AnswerInput) -> Vec<u8> {
    if crate::completions::is_text_completion(input.path) {
        return crate::completions::answer(input).to_string().into_bytes();
    }
    let shape = Shape::for_path(input.path);
    let plain = build(shape, input, REPLY).to_string().into_bytes();
    match input.min_size {
        Some(min) if plain.len() < min => {
            // The filler is ASCII inside a JSON string, so each byte of
            // filler adds exactly one byte to the body.
            let mut text = String::with_capacity(REPLY.len() + min - plain.len());
            text.push_str(REPLY);
            text.extend(std::iter::repeat_n('x', min - plain.len()));
            build(shape, input, &text).to_string().into_bytes()
        }
        _ => plain,
    }
}

fn build(shape: Shape, input: &AnswerInput, text: &str) -> Value {
    let prompt = prompt_tokens(input.body_len);
    let completion = completion_tokens();
    let n = input.number;
    let model = model_of(input.json);
    match shape {
        Shape::OpenAiChat => json!({
            "id": format!("chatcmpl-mock-{n}"),
            "object": "chat.completion",
            "created": unix_now(),
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop"
            }],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion
            }
        }),
        Shape::Anthropic => json!({
            "id": format!("msg_mock_{n}"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": prompt, "output_tokens": completion}
        }),
        Shape::Replicate => json!({
            "id": format!("mock-prediction-{n}"),
            "model": model,
            "version": input.json.and_then(|j| j.get("version")).cloned().unwrap_or(json!("mock-version")),
            "status": "succeeded",
            "input": input.json.and_then(|j| j.get("input")).cloned().unwrap_or(json!({})),
            "output": [text],
            "error": null,
            "logs": "",
            "metrics": {
                "predict_time": 0.01,
                "input_token_count": prompt,
                "output_token_count": completion
            }
        }),
        Shape::WorkersAi => json!({
            "result": {
                "response": text,
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion
                }
            },
            "success": true,
            "errors": [],
            "messages": []
        }),
        Shape::Google => json!({
            "candidates": [{
                "content": {"parts": [{"text": text}], "role": "model"},
                "finishReason": "STOP",
                "index": 0
            }],
            "usageMetadata": {
                "promptTokenCount": prompt,
                "candidatesTokenCount": completion,
                "totalTokenCount": prompt + completion
            },
            "modelVersion": google_model(input.path)
        }),
        Shape::HuggingFace => {
            let inputs = input
                .json
                .and_then(|j| j.get("inputs"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let generated = if inputs.is_empty() {
                text.to_string()
            } else {
                format!("{inputs} {text}")
            };
            json!([{"generated_text": generated}])
        }
    }
}

/// `.../models/gemini-x:generateContent` → `gemini-x`.
fn google_model(path: &str) -> String {
    path.rsplit('/')
        .next()
        .and_then(|last| last.split(':').next())
        .filter(|m| !m.is_empty())
        .unwrap_or("mock-model")
        .to_string()
}

/// The JSON error body for failure answers and bad directives.
pub fn error_body(message: &str, code: u16) -> Vec<u8> {
    json!({"error": {"message": message, "type": "mock_error", "code": code}})
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_by_path() {
        assert_eq!(Shape::for_path("/v1/chat/completions"), Shape::OpenAiChat);
        assert_eq!(
            Shape::for_path("/ai/run/v1/chat/completions"),
            Shape::OpenAiChat
        );
        assert_eq!(Shape::for_path("/v1/messages"), Shape::Anthropic);
        assert_eq!(Shape::for_path("/v1/predictions"), Shape::Replicate);
        assert_eq!(
            Shape::for_path("/accounts/a/ai/run/@cf/meta/llama"),
            Shape::WorkersAi
        );
        assert_eq!(Shape::for_path("/@hf/thebloke/x"), Shape::WorkersAi);
        assert_eq!(
            Shape::for_path("/v1/models/gemini-pro:generateContent"),
            Shape::Google
        );
        assert_eq!(Shape::for_path("/bigcode/starcoder"), Shape::HuggingFace);
    }

    #[test]
    fn padding_reaches_min_size() {
        let input = AnswerInput {
            path: "/v1/chat/completions",
            json: None,
            body_len: 0,
            number: 1,
            min_size: Some(10_000),
        };
        let body = answer(&input);
        assert_eq!(body.len(), 10_000);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert!(
            v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .starts_with(REPLY)
        );
    }

    #[test]
    fn google_model_from_path() {
        assert_eq!(
            google_model("/v1/models/gemini-pro:generateContent"),
            "gemini-pro"
        );
    }
}
