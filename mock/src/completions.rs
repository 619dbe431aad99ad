//! OpenAI's legacy text completions (`.../v1/completions`): what Hugging
//! Face's `InferenceClient` posts to an `endpointUrl` for text generation.

use serde_json::{Value, json};

use crate::answers::{AnswerInput, REPLY, completion_tokens, model_of, prompt_tokens, unix_now};

/// Whether a routed path asks for a text completion (not a chat one).
pub fn is_text_completion(path: &str) -> bool {
    path.ends_with("/completions") && !path.ends_with("chat/completions")
}

/// `{"object":"text_completion","choices":[{"text":...}],"usage":...}`.
pub fn answer(input: &AnswerInput) -> Value {
    let (prompt, completion) = (prompt_tokens(input.body_len), completion_tokens());
    json!({
        "id": format!("cmpl-mock-{}", input.number),
        "object": "text_completion",
        "created": unix_now(),
        "model": model_of(input.json),
        "choices": [{"index": 0, "text": REPLY, "logprobs": null, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion
        }
    })
}
