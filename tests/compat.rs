//! The unified API through the Rust API, against the mock's Anthropic,
//! Gemini and OpenAI dialects (which validate what they receive).
//!
//! With `AIGW_COMPAT_SAMPLES=DIR` set, the translated bodies and streams are
//! also written there, for tests/compat/sdk_check.py to parse with the
//! official SDKs' own types.

use aigw::log::LogFilter;
use aigw::{Config, ErrorKind, Gateway, Request};
use aigw_mock::MockServer;
use common::{Recorder, caller_request as request, gateway_from, json_of};
use serde_json::{Value, json};

mod common;

fn gateway_with(mock: &MockServer, anthropic: &str, google: &str, extra: &str) -> Gateway {
    let json = format!(
        r#"{{"providers":{{"openai":{{"base_url":"{u}/v1"}},"anthropic":{{"base_url":"{anthropic}"}},
            "google-ai-studio":{{"base_url":"{google}"}},"custom-local":{{"base_url":"{u}/v1"}}}}{extra}}}"#,
        u = mock.url()
    );
    gateway_from(&json)
}

fn gateway(mock: &MockServer) -> Gateway {
    gateway_with(mock, &mock.url(), &mock.url(), "")
}

fn chat(model: &str, extra: Value) -> Value {
    let mut body = json!({"model": model, "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello."}
    ]});
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            body[k] = v;
        }
    }
    body
}

fn upstream_json(mock: &MockServer) -> Value {
    serde_json::from_slice(&mock.last_request().unwrap().body).unwrap()
}

fn sample(name: &str, bytes: &[u8]) {
    if let Ok(dir) = std::env::var("AIGW_COMPAT_SAMPLES") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(format!("{dir}/{name}"), bytes).unwrap();
    }
}

/// The stream's bytes must be exactly its events, as SSE.
fn assert_bytes_match_events(rec: &Recorder) {
    let mut expected = String::new();
    for (name, data) in &rec.events {
        if name != "message" {
            expected.push_str(&format!("event: {name}\n"));
        }
        expected.push_str(&format!("data: {data}\n\n"));
    }
    assert_eq!(String::from_utf8_lossy(&rec.bytes), expected);
}

// ---- chat/completions to Anthropic -------------------------------------

#[test]
fn chat_to_anthropic_plain_with_cache_usage() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock);
    let r = gw
        .send(&request(
            "compat/chat/completions",
            &chat(
                "anthropic/claude-3-5-haiku",
                json!({"temperature": 0.5, "stop": ["END"]}),
            ),
            &[("x-mock", "cache_read=30,cache_write=12")],
        ))
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("cf-aig-provider"), Some("anthropic"));
    assert_eq!(r.header("cf-aig-model"), Some("claude-3-5-haiku"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    sample("chat_anthropic_plain.chat.json", &r.body);

    let up = mock.last_request().unwrap();
    assert_eq!(up.target, "/v1/messages");
    assert_eq!(up.header("content-type"), Some("application/json"));
    assert_eq!(up.header("x-api-key"), Some("sk-caller-key"));
    assert_eq!(up.header("authorization"), None);
    assert_eq!(up.header("anthropic-version"), Some("2023-06-01"));
    let sent = upstream_json(&mock);
    assert_eq!(sent["model"], "claude-3-5-haiku");
    assert_eq!(sent["max_tokens"], 4096);
    assert_eq!(sent["system"], "Be brief.");
    assert_eq!(sent["stop_sequences"], json!(["END"]));
    assert_eq!(sent["temperature"], 0.5);

    let v = json_of(&r);
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Hello from the aigw mock."
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let input = v["usage"]["prompt_tokens"].as_u64().unwrap();
    let mock_input = (up.body.len() / 4 + 1) as u64;
    assert_eq!(
        input,
        mock_input + 30 + 12,
        "cache reads and writes count as input"
    );
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 30);
    assert_eq!(
        v["usage"]["total_tokens"].as_u64().unwrap(),
        input + v["usage"]["completion_tokens"].as_u64().unwrap()
    );
}

#[test]
fn the_upstream_request_carries_one_json_content_type() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock);
    for sent in [
        "application/json",
        "text/plain",
        "application/json; charset=latin1",
    ] {
        let r = gw
            .send(&request(
                "compat/chat/completions",
                &chat("anthropic/claude-3-5-haiku", json!({})),
                &[("Content-Type", sent), ("content-type", "text/x-second")],
            ))
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let up = mock.last_request().unwrap();
        let types: Vec<&str> = up
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(types, ["application/json"], "caller sent {sent}");
    }
}

#[test]
fn chat_to_anthropic_truncation_and_tools() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock);
    let r = gw
        .send(&request(
            "compat/chat/completions",
            &chat("anthropic/claude-3-5-haiku", json!({"max_tokens": 5})),
            &[("x-mock", "truncate")],
        ))
        .unwrap();
    assert_eq!(json_of(&r)["choices"][0]["finish_reason"], "length");
    assert_eq!(upstream_json(&mock)["max_tokens"], 5);
    sample("chat_anthropic_truncated.chat.json", &r.body);

    let tools = json!([
        {"type": "function", "function": {"name": "get_weather", "description": "Weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
        {"type": "function", "function": {"name": "get_time",
            "parameters": {"type": "object", "properties": {}}}}
    ]);
    let r = gw
        .send(&request(
            "compat/chat/completions",
            &chat(
                "anthropic/claude-3-5-haiku",
                json!({"tools": tools, "tool_choice": "required"}),
            ),
            &[("x-mock", "tool_calls=2")],
        ))
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    sample("chat_anthropic_tools.chat.json", &r.body);
    let sent = upstream_json(&mock);
    assert_eq!(sent["tools"][0]["name"], "get_weather");
    assert_eq!(
        sent["tools"][0]["input_schema"]["required"],
        json!(["city"])
    );
    assert_eq!(sent["tool_choice"], json!({"type": "any"}));
    let v = json_of(&r);
    let calls = v["choices"][0]["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert_eq!(calls[1]["function"]["name"], "get_time");
    let args: Value =
        serde_json::from_str(calls[1]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"arg": 1}));

    // The results go back as tool_result blocks of one user turn.
    let followup = json!({"model": "anthropic/claude-3-5-haiku", "tools": tools, "messages": [
        {"role": "user", "content": "Weather and time?"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": calls[0]["id"], "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": calls[1]["id"], "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
        ]},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny"},
        {"role": "tool", "tool_call_id": calls[1]["id"], "content": "noon"}
    ]});
    let r = gw
        .send(&request("compat/chat/completions", &followup, &[]))
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let sent = upstream_json(&mock);
    let msgs = sent["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[1]["content"][0]["type"], "tool_use");
    assert_eq!(msgs[1]["content"][0]["input"], json!({"city": "Paris"}));
    assert_eq!(msgs[2]["role"], "user");
    assert_eq!(msgs[2]["content"][0]["tool_use_id"], calls[0]["id"]);
    assert_eq!(msgs[2]["content"][1]["tool_use_id"], calls[1]["id"]);
}

#[test]
fn chat_to_anthropic_image_and_json_schema() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock);
    let body = json!({"model": "anthropic/claude-3-5-haiku",
    "response_format": {"type": "json_schema", "json_schema": {"name": "answer",
        "schema": {"type": "object", "properties": {"reply": {"type": "string"}}}}},
    "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    ]}]});
    let r = gw
        .send(&request("compat/chat/completions", &body, &[]))
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let sent = upstream_json(&mock);
    assert_eq!(
        sent["messages"][0]["content"][1],
        json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}})
    );
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "tool", "name": "answer"})
    );
    let v = json_of(&r);
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["choices"][0]["message"].get("tool_calls").is_none());
    let content: Value =
        serde_json::from_str(v["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(content, json!({"reply": "Hello from the aigw mock."}));
}

#[test]
fn chat_stream_from_anthropic() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock);
    let mut rec = Recorder::default();
    let head = gw
        .send_stream(
            &request(
                "compat/chat/completions",
                &chat(
                    "anthropic/claude-3-5-haiku",
                    json!({"stream": true, "stream_options": {"include_usage": true}}),
                ),
                &[("x-mock", "events=3,cache_read=4")],
            ),
            &mut rec,
        )
        .unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("text/event-stream"));
    assert_eq!(head.header("cf-aig-provider"), Some("anthropic"));
    assert_eq!(
        rec.heads[0].header("cf-aig-model"),
        Some("claude-3-5-haiku")
    );
    sample("chat_anthropic_stream.chunks.sse", &rec.bytes);
    assert_bytes_match_events(&rec);
    assert_eq!(rec.events.last().unwrap().1, "[DONE]");
    let chunks = rec.chunks();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "tok0 tok1 tok2 ");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 3);
    assert_eq!(usage["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
    let finish: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"].get(0).map(|c| &c["finish_reason"]))
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finish, vec![&json!("stop")]);
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
}

#[test]
fn chat_stream_tool_calls_from_anthropic_and_gemini() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock);
    let tools = json!([{"type": "function", "function": {"name": "lookup",
        "parameters": {"type": "object", "properties": {"arg": {"type": "integer"}}, "additionalProperties": false}}}]);
    for model in [
        "anthropic/claude-3-5-haiku",
        "google-ai-studio/gemini-2.0-flash",
    ] {
        let mut rec = Recorder::default();
        gw.send_stream(
            &request(
                "compat/chat/completions",
                &chat(model, json!({"stream": true, "tools": tools})),
                &[("x-mock", "tool_calls=2")],
            ),
            &mut rec,
        )
        .unwrap();
        sample(
            &format!("chat_tools_stream_{}.chunks.sse", &model[..6]),
            &rec.bytes,
        );
        let chunks = rec.chunks();
        let mut seen: Vec<(u64, String, String, String)> = Vec::new(); // index, id, name, args
        for c in &chunks {
            let Some(calls) = c["choices"][0]["delta"]["tool_calls"].as_array() else {
                continue;
            };
            for call in calls {
                let index = call["index"].as_u64().unwrap();
                match seen.iter_mut().find(|s| s.0 == index) {
                    None => {
                        assert_eq!(index as usize, seen.len(), "indexes in order of appearance");
                        let id = call["id"]
                            .as_str()
                            .expect("id on the first delta")
                            .to_string();
                        let name = call["function"]["name"]
                            .as_str()
                            .expect("name on the first delta")
                            .to_string();
                        seen.push((
                            index,
                            id,
                            name,
                            call["function"]["arguments"].as_str().unwrap_or("").into(),
                        ));
                    }
                    Some(s) => {
                        assert!(call.get("id").is_none() && call["function"].get("name").is_none());
                        s.3.push_str(call["function"]["arguments"].as_str().unwrap());
                    }
                }
            }
        }
        assert_eq!(seen.len(), 2, "{model}");
        assert_ne!(seen[0].1, seen[1].1, "ids are unique");
        for (i, s) in seen.iter().enumerate() {
            assert_eq!(s.2, "lookup");
            assert_eq!(
                serde_json::from_str::<Value>(&s.3).unwrap(),
                json!({"arg": i}),
                "{model}"
            );
        }
        let last_choice = chunks
            .iter()
            .rev()
            .find(|c| !c["choices"][0]["finish_reason"].is_null())
            .unwrap();
        assert_eq!(last_choice["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(rec.events.last().unwrap().1, "[DONE]");
    }
    // Gemini got the schema without the keyword it does not know.
    let sent = upstream_json(&mock);
    assert_eq!(
        sent["tools"][0]["functionDeclarations"][0]["parameters"],
        json!({"type": "object", "properties": {"arg": {"type": "integer"}}})
    );
}

#[test]
fn a_stream_read_whole_is_translated_too() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock);
    let r = gw
        .send(&request(
            "compat/chat/completions",
            &chat("anthropic/claude-3-5-haiku", json!({"stream": true})),
            &[("x-mock", "events=2")],
        ))
        .unwrap();
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let text = String::from_utf8(r.body.clone()).unwrap();
    assert!(text.starts_with("data: {"), "{text}");
    assert!(text.contains("chat.completion.chunk"));
    assert!(!text.contains("message_start"));
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    sample("chat_anthropic_whole_stream.chunks.sse", &r.body);

    let e = gw
        .send(&request(
            "compat/chat/completions",
            &chat("anthropic/claude-3-5-haiku", json!({"stream": true})),
            &[("x-mock", "no_end")],
        ))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Protocol);
    assert!(e.message.contains("message_stop"), "{}", e.message);
}

#[test]
fn stream_ending_before_its_end_marker_is_interrupted() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock);
    for model in [
        "anthropic/claude-3-5-haiku",
        "google-ai-studio/gemini-2.0-flash",
        "openai/gpt-4o-mini",
    ] {
        // Broken after the first content event (Anthropic opens with three
        // lifecycle events; a break before content is a failed attempt).
        for directive in ["no_end", "break_after=4"] {
            let mut rec = Recorder::default();
            let e = gw
                .send_stream(
                    &request(
                        "compat/chat/completions",
                        &chat(model, json!({"stream": true})),
                        &[("x-mock", directive)],
                    ),
                    &mut rec,
                )
                .unwrap_err();
            assert_eq!(
                e.kind,
                ErrorKind::StreamInterrupted,
                "{model} {directive}: {}",
                e.message
            );
            assert!(
                !rec.events.iter().any(|(_, d)| d == "[DONE]"),
                "{model} {directive}"
            );
        }
    }
}

// ---- chat/completions to Gemini ----------------------------------------

#[test]
fn chat_to_gemini_plain_tools_and_results() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock);
    let r = gw
        .send(&request(
            "compat/chat/completions",
            &chat(
                "google-ai-studio/gemini-2.0-flash",
                json!({"max_completion_tokens": 50, "top_p": 0.9,
                "response_format": {"type": "json_object"}}),
            ),
            &[],
        ))
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    sample("chat_gemini_plain.chat.json", &r.body);
    let up = mock.last_request().unwrap();
    assert_eq!(up.target, "/v1beta/models/gemini-2.0-flash:generateContent");
    assert_eq!(up.header("x-goog-api-key"), Some("sk-caller-key"));
    assert_eq!(up.header("authorization"), None);
    let sent = upstream_json(&mock);
    assert_eq!(sent["systemInstruction"]["parts"][0]["text"], "Be brief.");
    assert_eq!(sent["generationConfig"]["maxOutputTokens"], 50);
    assert_eq!(
        sent["generationConfig"]["responseMimeType"],
        "application/json"
    );
    let v = json_of(&r);
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Hello from the aigw mock."
    );
    assert_eq!(r.header("cf-aig-provider"), Some("google-ai-studio"));

    let tools = json!([{"type": "function", "function": {"name": "lookup",
        "parameters": {"type": "object", "properties": {"arg": {"type": "integer"}}}}}]);
    let r = gw
        .send(&request(
            "compat/chat/completions",
            &chat("google-ai-studio/gemini-2.0-flash", json!({"tools": tools})),
            &[("x-mock", "tool_calls=2")],
        ))
        .unwrap();
    sample("chat_gemini_tools.chat.json", &r.body);
    let v = json_of(&r);
    let calls = v["choices"][0]["message"]["tool_calls"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(calls.len(), 2);
    assert_ne!(calls[0]["id"], calls[1]["id"]);
    assert!(calls[0]["id"].as_str().unwrap().starts_with("call_"));

    let followup = json!({"model": "google-ai-studio/gemini-2.0-flash", "tools": tools, "messages": [
        {"role": "user", "content": "Look up twice."},
        {"role": "assistant", "content": null, "tool_calls": calls},
        {"role": "tool", "tool_call_id": calls[1]["id"], "content": "{\"value\": 2}"},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "plain text"}
    ]});
    let r = gw
        .send(&request("compat/chat/completions", &followup, &[]))
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let sent = upstream_json(&mock);
    let turns = sent["contents"].as_array().unwrap();
    assert_eq!(turns.len(), 3);
    assert_eq!(turns[1]["role"], "model");
    assert_eq!(
        turns[2]["parts"][0]["functionResponse"],
        json!({"name": "lookup", "response": {"value": 2}})
    );
    assert_eq!(
        turns[2]["parts"][1]["functionResponse"]["response"],
        json!({"result": "plain text"})
    );

    // A tool result answering no call is refused before upstream contact.
    let before = mock.requests();
    let bad = json!({"model": "google-ai-studio/gemini-2.0-flash", "messages": [
        {"role": "user", "content": "x"},
        {"role": "tool", "tool_call_id": "call_nowhere", "content": "y"}
    ]});
    let e = gw
        .send(&request("compat/chat/completions", &bad, &[]))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert!(e.message.contains("call_nowhere"), "{}", e.message);
    assert_eq!(mock.requests(), before);
}

#[test]
fn chat_stream_from_gemini_uses_sse_endpoint() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock);
    let mut rec = Recorder::default();
    gw.send_stream(
        &request(
            "compat/chat/completions",
            &chat(
                "google-ai-studio/gemini-2.0-flash",
                json!({"stream": true, "stream_options": {"include_usage": true}}),
            ),
            &[("x-mock", "events=4")],
        ),
        &mut rec,
    )
    .unwrap();
    assert_eq!(
        mock.last_request().unwrap().target,
        "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    );
    sample("chat_gemini_stream.chunks.sse", &rec.bytes);
    assert_bytes_match_events(&rec);
    let chunks = rec.chunks();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "tok0 tok1 tok2 tok3 ");
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 4);
}

#[test]
fn embeddings_to_openai_and_gemini() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock);
    let r = gw
        .send(&request(
            "compat/embeddings",
            &json!({"model": "openai/text-embedding-3-small", "input": "hi"}),
            &[],
        ))
        .unwrap();
    assert_eq!(mock.last_request().unwrap().target, "/v1/embeddings");
    assert_eq!(upstream_json(&mock)["model"], "text-embedding-3-small");
    assert_eq!(json_of(&r)["data"][0]["object"], "embedding");

    let r = gw
        .send(&request("compat/embeddings", &json!({"model": "google-ai-studio/text-embedding-004", "input": "hi", "dimensions": 4}), &[]))
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        mock.last_request().unwrap().target,
        "/v1beta/models/text-embedding-004:embedContent"
    );
    sample("embed_gemini_single.embeddings.json", &r.body);
    let v = json_of(&r);
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 4);

    let r = gw
        .send(&request(
            "compat/embeddings",
            &json!({"model": "google-ai-studio/text-embedding-004", "input": ["a", "bb", "ccc"]}),
            &[],
        ))
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        mock.last_request().unwrap().target,
        "/v1beta/models/text-embedding-004:batchEmbedContents"
    );
    sample("embed_gemini_batch.embeddings.json", &r.body);
    let v = json_of(&r);
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data[2]["index"], 2);

    // What the OpenAI SDK asks for by default: base64 little-endian f32s.
    let r = gw
        .send(&request(
            "compat/embeddings",
            &json!({"model": "google-ai-studio/text-embedding-004",
            "input": "hi", "dimensions": 4, "encoding_format": "base64"}),
            &[],
        ))
        .unwrap();
    sample("embed_gemini_base64.embeddings_b64.json", &r.body);
    let b64 = json_of(&r)["data"][0]["embedding"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(b64.len(), 24, "4 floats, 16 bytes, base64");

    let e = gw
        .send(&request(
            "compat/embeddings",
            &json!({"model": "anthropic/claude", "input": "hi"}),
            &[],
        ))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
}

// ---- OpenAI-compatible providers ----------------------------------------

#[test]
fn chat_to_openai_compatible_providers_passes_through() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock);
    for (model, stripped) in [
        ("openai/gpt-4o-mini", "gpt-4o-mini"),
        ("custom-local/org/model-7b", "org/model-7b"),
    ] {
        let r = gw
            .send(&request(
                "compat/chat/completions",
                &chat(model, json!({"seed": 7})),
                &[],
            ))
            .unwrap();
        assert_eq!(r.status, 200);
        let up = mock.last_request().unwrap();
        assert_eq!(up.target, "/v1/chat/completions");
        assert_eq!(up.header("authorization"), Some("Bearer sk-caller-key"));
        let sent = upstream_json(&mock);
        assert_eq!(sent["model"], stripped);
        assert_eq!(sent["seed"], 7, "OpenAI-compatible targets get every field");
        assert_eq!(
            r.header("cf-aig-provider"),
            Some(model.split('/').next().unwrap())
        );
        assert_eq!(r.header("cf-aig-model"), Some(stripped));
        assert_eq!(
            json_of(&r)["choices"][0]["message"]["content"],
            "Hello from the aigw mock."
        );
    }
}

// ---- refusals and errors -------------------------------------------------

#[test]
fn bad_requests_are_refused_before_upstream_contact() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock);
    let cases: Vec<(Value, ErrorKind, &str)> = vec![
        (
            chat("gpt-4o-mini", json!({})),
            ErrorKind::InvalidRequest,
            "names no provider",
        ),
        (
            chat("nosuch/model", json!({})),
            ErrorKind::UnknownProvider,
            "nosuch",
        ),
        (
            json!({"model": "anthropic/c"}),
            ErrorKind::InvalidRequest,
            "messages",
        ),
        (
            chat("anthropic/c", json!({"n": 2})),
            ErrorKind::InvalidRequest,
            "\"n\"",
        ),
        (
            chat("anthropic/c", json!({"logprobs": true})),
            ErrorKind::InvalidRequest,
            "logprobs",
        ),
        (
            chat(
                "anthropic/c",
                json!({"tools": [{"type": "function", "function": {"name": "bad name"}}]}),
            ),
            ErrorKind::InvalidRequest,
            "tools[0]",
        ),
        (
            chat(
                "anthropic/c",
                json!({"tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]}),
            ),
            ErrorKind::InvalidRequest,
            "parameters",
        ),
        (
            json!({"model": "anthropic/c", "messages": [{"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}]}),
            ErrorKind::InvalidRequest,
            "not valid JSON",
        ),
        (
            chat("huggingface/gpt2", json!({})),
            ErrorKind::InvalidRequest,
            "huggingface",
        ),
        (
            chat("anthropic/c", json!({"temperature": 1.5})),
            ErrorKind::InvalidRequest,
            "temperature",
        ),
    ];
    for (body, kind, needle) in cases {
        let e = gw
            .send(&request("compat/chat/completions", &body, &[]))
            .unwrap_err();
        assert_eq!(e.kind, kind, "{body}: {}", e.message);
        assert!(e.message.contains(needle), "{needle:?} in {}", e.message);
    }
    let mut r = request("compat/chat/completions", &json!({}), &[]);
    r.body = b"{not json".to_vec();
    assert_eq!(gw.send(&r).unwrap_err().kind, ErrorKind::InvalidRequest);
    assert_eq!(mock.requests(), 0);

    // Dropping what the target cannot honour, when asked to.
    let r = gw
        .send(&request(
            "compat/chat/completions",
            &chat("anthropic/c", json!({"n": 2, "logprobs": true})),
            &[("cf-aig-drop-params", "true")],
        ))
        .unwrap();
    assert_eq!(r.status, 200);
    let sent = upstream_json(&mock);
    assert!(sent.get("n").is_none() && sent.get("logprobs").is_none());
    let gw = gateway_with(&mock, &mock.url(), &mock.url(), r#","drop_params":true"#);
    assert_eq!(
        gw.send(&request(
            "compat/chat/completions",
            &chat("anthropic/c", json!({"n": 3})),
            &[]
        ))
        .unwrap()
        .status,
        200
    );
}

#[test]
fn upstream_errors_come_back_in_the_callers_format() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock);
    let r = gw
        .send(&request(
            "compat/chat/completions",
            &chat("anthropic/c", json!({})),
            &[("x-mock", "status=429")],
        ))
        .unwrap();
    assert_eq!(r.status, 429);
    sample("error_anthropic.error.json", &r.body);
    let v = json_of(&r);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mock status 429"),
        "{v}"
    );
    assert!(v["error"]["type"].is_string());

    // The mock's own validation error, from Gemini, as an OpenAI error.
    let bad_schema = json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object",
        "properties": {"a": {"type": "string", "unknownKeyword": 1}}}}});
    let r = gw
        .send(&request(
            "compat/chat/completions",
            &chat("google-ai-studio/g", json!({"response_format": bad_schema})),
            &[],
        ))
        .unwrap();
    assert_eq!(
        r.status, 200,
        "unknown schema keywords are dropped for Gemini"
    );

    let msg = json!({"model": "anthropic/c", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let r = gw
        .send(&request(
            "compat/messages",
            &msg,
            &[("x-mock", "status=503")],
        ))
        .unwrap();
    assert_eq!(r.status, 503);
    sample("error_messages.anthropic_error.json", &r.body);
    let v = json_of(&r);
    assert_eq!(v["type"], "error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mock status 503")
    );

    let msg = json!({"model": "google-ai-studio/g", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let r = gw
        .send(&request(
            "compat/messages",
            &msg,
            &[("x-mock", "status=500")],
        ))
        .unwrap();
    assert_eq!(r.status, 500);
    assert_eq!(json_of(&r)["error"]["type"], "api_error");
}

#[test]
fn a_2xx_answer_that_is_not_its_dialect_is_a_clear_error() {
    let mock = MockServer::start().unwrap();
    // The mock's echo answer is JSON, but no Anthropic message.
    let gw = gateway(&mock);
    let e = gw
        .send(&request(
            "compat/chat/completions",
            &chat("anthropic/c", json!({})),
            &[("x-mock", "echo")],
        ))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Protocol);
    assert!(e.message.contains("anthropic"), "{}", e.message);
    assert!(!e.message.contains("sk-caller-key"));
}

// ---- compat/messages --------------------------------------------------------

fn messages_body(model: &str, extra: Value) -> Value {
    let mut body = json!({"model": model, "max_tokens": 100, "system": "Be brief.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]});
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            body[k] = v;
        }
    }
    body
}

#[test]
fn messages_to_every_dialect() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock);
    for (model, path) in [
        ("anthropic/claude-3-5-haiku", "/v1/messages"),
        ("openai/gpt-4o-mini", "/v1/chat/completions"),
        (
            "google-ai-studio/gemini-2.0-flash",
            "/v1beta/models/gemini-2.0-flash:generateContent",
        ),
    ] {
        for endpoint in ["compat/messages", "compat/v1/messages"] {
            let mut r = Request::new("POST", endpoint).unwrap();
            r.set_header("x-api-key", "sk-ant-caller").unwrap();
            r.set_header("anthropic-version", "2023-06-01").unwrap();
            r.body = messages_body(model, json!({})).to_string().into_bytes();
            let r = gw.send(&r).unwrap();
            assert_eq!(
                r.status,
                200,
                "{model}: {}",
                String::from_utf8_lossy(&r.body)
            );
            let up = mock.last_request().unwrap();
            assert_eq!(up.target, path);
            let provider = model.split('/').next().unwrap();
            let cred = match provider {
                "anthropic" => up.header("x-api-key").map(String::from),
                "google-ai-studio" => up.header("x-goog-api-key").map(String::from),
                _ => up.header("authorization").map(String::from),
            };
            assert!(cred.unwrap().ends_with("sk-ant-caller"), "{model}");
            let v = json_of(&r);
            assert_eq!(v["type"], "message", "{model}");
            assert_eq!(v["content"][0]["text"], "Hello from the aigw mock.");
            assert_eq!(v["stop_reason"], "end_turn");
            assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0);
            sample(&format!("messages_{provider}.message.json"), &r.body);
        }
    }
    // Tools out of Anthropic's shape, into OpenAI's and back.
    let tools = json!([{"name": "lookup", "input_schema": {"type": "object", "properties": {"arg": {"type": "integer"}}}}]);
    let mut r = request(
        "compat/messages",
        &messages_body(
            "openai/gpt-4o-mini",
            json!({"tools": tools, "tool_choice": {"type": "any"}}),
        ),
        &[],
    );
    r.set_header("x-mock", "tool_calls=2").unwrap();
    let r = gw.send(&r).unwrap();
    let sent = upstream_json(&mock);
    assert_eq!(sent["tools"][0]["function"]["name"], "lookup");
    assert_eq!(sent["tool_choice"], "required");
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    let v = json_of(&r);
    sample("messages_openai_tools.message.json", &r.body);
    assert_eq!(v["stop_reason"], "tool_use");
    assert_eq!(v["content"][1]["type"], "tool_use");
    assert_eq!(v["content"][1]["input"], json!({"arg": 1}));
}

#[test]
fn messages_stream_from_openai_and_gemini() {
    let mock = MockServer::start().unwrap();
    let gw = gateway(&mock);
    for model in ["openai/gpt-4o-mini", "google-ai-studio/gemini-2.0-flash"] {
        for tools in [false, true] {
            let mut extra = json!({"stream": true});
            let mut headers = vec![("x-mock", "events=3")];
            if tools {
                extra["tools"] = json!([{"name": "lookup", "input_schema": {"type": "object", "properties": {"arg": {"type": "integer"}}}}]);
                headers = vec![("x-mock", "tool_calls=2")];
            }
            let mut rec = Recorder::default();
            let head = gw
                .send_stream(
                    &request("compat/messages", &messages_body(model, extra), &headers),
                    &mut rec,
                )
                .unwrap();
            assert_eq!(head.header("content-type"), Some("text/event-stream"));
            assert_bytes_match_events(&rec);
            sample(
                &format!("messages_stream_{}_{tools}.message_stream.sse", &model[..6]),
                &rec.bytes,
            );
            let names: Vec<&str> = rec.events.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names.first(), Some(&"message_start"), "{model}");
            assert_eq!(
                &names[names.len() - 2..],
                &["message_delta", "message_stop"]
            );
            let delta: Value = serde_json::from_str(&rec.events[rec.events.len() - 2].1).unwrap();
            if tools {
                assert_eq!(delta["delta"]["stop_reason"], "tool_use");
                let starts = rec
                    .events
                    .iter()
                    .filter(|(n, d)| n == "content_block_start" && d.contains("tool_use"))
                    .count();
                assert_eq!(starts, 2, "{model}");
            } else {
                assert_eq!(delta["delta"]["stop_reason"], "end_turn");
                let text: String = rec
                    .events
                    .iter()
                    .filter(|(n, _)| n == "content_block_delta")
                    .map(|(_, d)| {
                        serde_json::from_str::<Value>(d).unwrap()["delta"]["text"]
                            .as_str()
                            .unwrap()
                            .to_string()
                    })
                    .collect();
                assert_eq!(text, "tok0 tok1 tok2 ", "{model}");
                assert_eq!(delta["usage"]["output_tokens"], 3);
            }
        }
    }
    // Anthropic to Anthropic: the upstream's own events, unchanged.
    let mut rec = Recorder::default();
    gw.send_stream(
        &request(
            "compat/messages",
            &messages_body("anthropic/claude-3-5-haiku", json!({"stream": true})),
            &[],
        ),
        &mut rec,
    )
    .unwrap();
    sample("messages_stream_anthropic.message_stream.sse", &rec.bytes);
    assert_eq!(rec.events.last().unwrap().0, "message_stop");
}

// ---- Universal compat steps ---------------------------------------------------

#[test]
fn universal_compat_steps_fall_back_across_dialects() {
    let mock = MockServer::start().unwrap();
    let gw = gateway_with(&mock, &mock.fault_url("status=503"), &mock.url(), "");
    let steps = json!([
        {"provider": "compat", "endpoint": "chat/completions",
         "query": chat("anthropic/claude-3-5-haiku", json!({}))},
        {"provider": "compat", "endpoint": "chat/completions",
         "query": chat("google-ai-studio/gemini-2.0-flash", json!({}))}
    ]);
    let r = gw.send(&request("", &steps, &[])).unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("cf-aig-step"), Some("1"));
    assert_eq!(r.header("cf-aig-provider"), Some("google-ai-studio"));
    sample("universal_fallback.chat.json", &r.body);
    assert_eq!(json_of(&r)["object"], "chat.completion");
    assert_eq!(mock.requests(), 2);

    let mut stream_steps = steps.clone();
    for s in stream_steps.as_array_mut().unwrap() {
        s["query"]["stream"] = json!(true);
    }
    let mut rec = Recorder::default();
    let head = gw
        .send_stream(&request("", &stream_steps, &[]), &mut rec)
        .unwrap();
    assert_eq!(head.header("cf-aig-step"), Some("1"));
    assert_eq!(rec.heads.len(), 1);
    sample("universal_fallback_stream.chunks.sse", &rec.bytes);
    assert_eq!(rec.events.last().unwrap().1, "[DONE]");
    assert!(
        rec.chunks()
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );

    // An error event before any content falls back too.
    let gw = gateway_with(&mock, &mock.fault_url("error_first"), &mock.url(), "");
    let mut rec = Recorder::default();
    let head = gw
        .send_stream(&request("", &stream_steps, &[]), &mut rec)
        .unwrap();
    assert_eq!(head.header("cf-aig-step"), Some("1"));
    assert!(rec.events.iter().all(|(n, _)| n != "error"));

    // Every step failing: the latest answer, in the caller's error format.
    let gw = gateway_with(
        &mock,
        &mock.fault_url("status=503"),
        &mock.fault_url("status=500"),
        "",
    );
    let r = gw.send(&request("", &steps, &[])).unwrap();
    assert_eq!(r.status, 500);
    assert!(json_of(&r)["error"]["message"].is_string());

    let e = gw
        .send(&request(
            "",
            &json!([{"provider": "compat", "endpoint": "nope", "query": {}}]),
            &[],
        ))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidRequest);
    assert!(e.message.contains("step 0"));
}

// ---- stored keys (BYOK) -----------------------------------------------------

#[test]
fn stored_keys_are_sent_when_the_request_has_none() {
    let mock = MockServer::start().unwrap();
    // SAFETY: this test alone uses this variable; set before any reader runs.
    unsafe { std::env::set_var("AIGW_TEST_GOOGLE_KEY", "goog-stored-key") };
    let json = format!(
        r#"{{"providers":{{"anthropic":{{"base_url":"{u}","api_key":"ant-stored-key"}},
            "google-ai-studio":{{"base_url":"{u}","api_key_env":"AIGW_TEST_GOOGLE_KEY"}},
            "openai":{{"base_url":"{u}/v1","api_key":"oai-stored-key"}}}}}}"#,
        u = mock.url()
    );
    let gw = Gateway::new(Config::parse(Some(&json)).unwrap()).unwrap();
    let debug = format!("{gw:?}");
    assert!(!debug.contains("stored-key"), "Debug shows no stored key");
    let mut planned = Request::new("POST", "compat/chat/completions").unwrap();
    planned.body = chat("anthropic/claude", json!({})).to_string().into_bytes();
    let plan = gw.plan(&planned).unwrap();
    let keys = plan.steps[0]
        .headers
        .iter()
        .filter(|(n, _)| n == "x-api-key")
        .count();
    assert_eq!(keys, 1);
    assert!(
        !format!("{plan:?}").contains("stored-key"),
        "nor does a plan's"
    );

    let no_key = |path: &str, body: Value| {
        let mut r = Request::new("POST", path).unwrap();
        r.body = body.to_string().into_bytes();
        r
    };
    // Provider endpoint.
    gw.send(&no_key(
        "anthropic/v1/messages",
        messages_body("claude", json!({})),
    ))
    .unwrap();
    assert_eq!(
        mock.last_request().unwrap().header("x-api-key"),
        Some("ant-stored-key")
    );
    gw.send(&no_key(
        "openai/chat/completions",
        chat("gpt-4o-mini", json!({})),
    ))
    .unwrap();
    assert_eq!(
        mock.last_request().unwrap().header("authorization"),
        Some("Bearer oai-stored-key")
    );
    // Compat.
    gw.send(&no_key(
        "compat/chat/completions",
        chat("google-ai-studio/gemini", json!({})),
    ))
    .unwrap();
    assert_eq!(
        mock.last_request().unwrap().header("x-goog-api-key"),
        Some("goog-stored-key")
    );
    // Universal step.
    let steps = json!([{"provider": "anthropic", "endpoint": "v1/messages", "query": messages_body("claude", json!({})),
        "headers": {"anthropic-version": "2023-06-01"}}]);
    gw.send(&no_key("", steps)).unwrap();
    assert_eq!(
        mock.last_request().unwrap().header("x-api-key"),
        Some("ant-stored-key")
    );
    // The request's own credential wins.
    gw.send(&request(
        "compat/chat/completions",
        &chat("anthropic/claude", json!({})),
        &[],
    ))
    .unwrap();
    assert_eq!(
        mock.last_request().unwrap().header("x-api-key"),
        Some("sk-caller-key")
    );

    // Logs never carry the key.
    let logs = gw.logs_json(&LogFilter::parse(None).unwrap());
    assert!(!logs.contains("stored-key"));
    assert!(!gw.metrics_json().contains("stored-key"));

    for bad in [
        r#"{"providers":{"anthropic":{"api_key_env":"AIGW_TEST_SURELY_UNSET_VAR"}}}"#,
        r#"{"providers":{"anthropic":{"api_key":""}}}"#,
        r#"{"providers":{"anthropic":{"api_key":"a","api_key_env":"B"}}}"#,
    ] {
        let e = Config::parse(Some(bad)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidConfig, "{bad}");
    }
    unsafe { std::env::set_var("AIGW_TEST_EMPTY_KEY", "") };
    let e = Config::parse(Some(
        r#"{"providers":{"openai":{"api_key_env":"AIGW_TEST_EMPTY_KEY"}}}"#,
    ))
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidConfig);
}

// ---- logs, metrics, cache -----------------------------------------------------

#[test]
fn logs_and_cache_see_compat_requests() {
    let mock = MockServer::start().unwrap();
    let gw = gateway_with(&mock, &mock.url(), &mock.url(), r#","cache_ttl_s":60"#);
    let body = chat("anthropic/claude-3-5-haiku", json!({}));
    let first = gw
        .send(&request(
            "compat/chat/completions",
            &body,
            &[("cf-aig-event-id", "c1")],
        ))
        .unwrap();
    let second = gw
        .send(&request("compat/chat/completions", &body, &[]))
        .unwrap();
    assert_eq!(second.header("cf-aig-cache-status"), Some("HIT"));
    assert_eq!(second.body, first.body);
    assert_eq!(mock.requests(), 1);

    let logs: Vec<Value> = serde_json::from_str(
        &gw.logs_json(&LogFilter::parse(Some(r#"{"event_id":"c1"}"#)).unwrap()),
    )
    .unwrap();
    let rec = &logs[0];
    assert_eq!(rec["provider"], "anthropic");
    assert_eq!(rec["model"], "claude-3-5-haiku");
    let usage = &json_of(&first)["usage"];
    assert_eq!(rec["tokens_in"], usage["prompt_tokens"]);
    assert_eq!(rec["tokens_out"], usage["completion_tokens"]);

    // A stream without include_usage still logs its tokens.
    let mut rec = Recorder::default();
    gw.send_stream(
        &request(
            "compat/chat/completions",
            &chat("google-ai-studio/gemini-2.0-flash", json!({"stream": true})),
            &[
                ("cf-aig-event-id", "s1"),
                ("cf-aig-skip-cache", "true"),
                ("x-mock", "events=3"),
            ],
        ),
        &mut rec,
    )
    .unwrap();
    let logs: Vec<Value> = serde_json::from_str(
        &gw.logs_json(&LogFilter::parse(Some(r#"{"event_id":"s1"}"#)).unwrap()),
    )
    .unwrap();
    assert_eq!(logs[0]["provider"], "google-ai-studio");
    assert_eq!(logs[0]["model"], "gemini-2.0-flash");
    assert_eq!(logs[0]["tokens_out"], 3);
    assert!(gw.metrics_json().contains("google-ai-studio"));
}
