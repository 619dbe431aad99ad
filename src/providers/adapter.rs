//! The provider seam: one `&'static` [`Adapter`] per provider family holds
//! what differs between providers (credential header, required headers, how
//! the URL is built, where a model name sits in the URL, and how it reports
//! on its answers: usage, error events, stream dialects and their end).
//! Everything provider-specific asks [`adapter`] instead of matching on
//! slugs. Today every family reads reports by their shape ([`BY_SHAPE`]).

use crate::http::sse::SseEvent;
use crate::providers::credentials::CredentialHeader;
use crate::providers::dialect::{Dialect, EventClass};
use crate::providers::usage::Usage;

/// How a provider's upstream URL is built from its base and the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlRule {
    /// `{base}/{rest}`.
    Plain,
    /// Azure: the first two path segments fill `{resource}` and
    /// `{deployment}` in the base.
    AzureDeployment,
}

/// Where a provider names the model in the URL, for requests whose body
/// has no `model` (read for logs, cost and cooldowns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelInUrl {
    Nowhere,
    /// After this marker, up to the end of the path.
    After(&'static str),
    /// After this marker, up to a `:` (Gemini's `models/{m}:generateContent`).
    AfterUntilColon(&'static str),
}

/// How a provider family reports on its answers, for logs, metrics and the
/// streaming commit point.
#[derive(Debug)]
pub struct Reports {
    /// The usage a whole response body reports (JSON, or an event stream
    /// read whole).
    pub usage_of_body: fn(&[u8]) -> Usage,
    /// The usage one stream event's data reports.
    pub usage_of_event: fn(&str) -> Usage,
    /// Whether a stream event says the stream failed.
    pub is_error_event: fn(&SseEvent<'_>) -> bool,
    /// The stream dialect an event shows, if any.
    pub recognise: fn(&SseEvent<'_>) -> Option<Dialect>,
    /// What an event means in a stream of that dialect (`None`: unknown).
    pub classify: fn(Option<Dialect>, &SseEvent<'_>) -> EventClass,
    /// Whether an event is the dialect's end marker.
    pub is_end: fn(Dialect, &SseEvent<'_>) -> bool,
    /// The end marker a complete stream of the dialect must send, for messages.
    pub end_marker: fn(Dialect) -> Option<&'static str>,
}

/// Reports read by their shape, whichever provider sent them: usage from
/// any known usage object, errors as `event: error` or a top-level `error`,
/// the dialects of [`crate::providers::dialect`].
pub static BY_SHAPE: Reports = Reports {
    usage_of_body: crate::providers::usage::usage_of_body,
    usage_of_event: crate::providers::usage::usage_of_event,
    is_error_event: crate::http::sse::is_error_event,
    recognise: crate::providers::dialect::recognise,
    classify: crate::providers::dialect::classify,
    is_end: crate::providers::dialect::is_end,
    end_marker: Dialect::end_marker,
};

/// What is specific to one provider family.
#[derive(Debug)]
pub struct Adapter {
    /// The header its key goes in, and the prefix before the key.
    pub credential: CredentialHeader,
    /// Headers it requires besides the key, with the value sent by default.
    pub required_headers: &'static [(&'static str, &'static str)],
    pub url_rule: UrlRule,
    pub model_in_url: ModelInUrl,
    /// How it reports usage, errors and stream ends.
    pub reports: &'static Reports,
}

const BEARER: CredentialHeader = CredentialHeader {
    name: "Authorization",
    prefix: "Bearer ",
};

/// Every OpenAI-compatible provider, `custom-*` included.
static OPENAI_LIKE: Adapter = OPENAI_LIKE_FIELDS;
static ANTHROPIC: Adapter = Adapter {
    credential: CredentialHeader {
        name: "x-api-key",
        prefix: "",
    },
    required_headers: &[("anthropic-version", "2023-06-01")],
    url_rule: UrlRule::Plain,
    model_in_url: ModelInUrl::Nowhere,
    reports: &BY_SHAPE,
};
static GOOGLE_AI_STUDIO: Adapter = Adapter {
    credential: CredentialHeader {
        name: "x-goog-api-key",
        prefix: "",
    },
    required_headers: &[],
    url_rule: UrlRule::Plain,
    model_in_url: ModelInUrl::AfterUntilColon("/models/"),
    reports: &BY_SHAPE,
};
static AZURE_OPENAI: Adapter = Adapter {
    credential: CredentialHeader {
        name: "api-key",
        prefix: "",
    },
    required_headers: &[],
    url_rule: UrlRule::AzureDeployment,
    model_in_url: ModelInUrl::Nowhere,
    reports: &BY_SHAPE,
};
static HUGGINGFACE: Adapter = Adapter {
    model_in_url: ModelInUrl::After("/models/"),
    ..OPENAI_LIKE_FIELDS
};
static WORKERS_AI: Adapter = Adapter {
    model_in_url: ModelInUrl::After("/ai/run/"),
    ..OPENAI_LIKE_FIELDS
};
const OPENAI_LIKE_FIELDS: Adapter = Adapter {
    credential: BEARER,
    required_headers: &[],
    url_rule: UrlRule::Plain,
    model_in_url: ModelInUrl::Nowhere,
    reports: &BY_SHAPE,
};

/// The adapter for provider `slug` (built in or configured).
pub fn adapter(slug: &str) -> &'static Adapter {
    match slug {
        "anthropic" => &ANTHROPIC,
        "google-ai-studio" => &GOOGLE_AI_STUDIO,
        "azure-openai" => &AZURE_OPENAI,
        "huggingface" => &HUGGINGFACE,
        "workers-ai" => &WORKERS_AI,
        _ => &OPENAI_LIKE,
    }
}

impl Adapter {
    /// The model a request to `url` with `body` asks for: the body's
    /// `model`, else where this provider names it in the URL.
    pub fn model_of(&self, url: &str, body: &[u8]) -> Option<String> {
        // Only `model` is read; the rest of the body is skipped, not built:
        // by the scanner, or by serde where the scanner gives up.
        #[derive(serde::Deserialize)]
        struct ModelField {
            model: Option<String>,
        }
        let in_body = match scan_model(body) {
            Some(found) => found,
            None => serde_json::from_slice::<ModelField>(body)
                .ok()
                .and_then(|f| f.model),
        };
        if in_body.is_some() {
            return in_body;
        }
        let path = url.split('?').next().unwrap_or("");
        let after = |marker: &str| path.split_once(marker).map(|(_, rest)| rest);
        match self.model_in_url {
            ModelInUrl::Nowhere => None,
            ModelInUrl::After(marker) => after(marker),
            ModelInUrl::AfterUntilColon(marker) => {
                after(marker).map(|m| m.split(':').next().unwrap_or(""))
            }
        }
        .filter(|m| !m.is_empty())
        .map(str::to_string)
    }
}

/// A JSON object's `model` string as `ModelField` reads it (`Some(None)`:
/// none, or `null`); `None` where the scanner cannot be sure (a duplicate,
/// another type, invalid JSON).
fn scan_model(body: &[u8]) -> Option<Option<String>> {
    use crate::json::scan::{Scan, once};
    let mut s = Scan::new(body);
    let mut model = None;
    let mut seen = 0;
    s.object(|s, key| {
        if key == "model" {
            once(&mut seen, 0)?;
            model = s.opt(|s| s.string().map(|m| m.into_owned()))?;
            Some(())
        } else {
            s.skip()
        }
    })?;
    s.end()?;
    Some(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapters_say_what_differs() {
        assert_eq!(adapter("anthropic").credential.name, "x-api-key");
        assert_eq!(adapter("custom-x").credential.prefix, "Bearer ");
        assert_eq!(adapter("azure-openai").url_rule, UrlRule::AzureDeployment);
        let gemini = adapter("google-ai-studio");
        assert_eq!(
            gemini
                .model_of("http://h/v1beta/models/gemini-2:generateContent?x=1", b"")
                .as_deref(),
            Some("gemini-2")
        );
        assert_eq!(
            adapter("workers-ai")
                .model_of("http://h/ai/run/@cf/m", b"{}")
                .as_deref(),
            Some("@cf/m")
        );
        assert_eq!(
            adapter("openai")
                .model_of("http://h/v1/chat", br#"{"model":"gpt"}"#)
                .as_deref(),
            Some("gpt")
        );
        assert_eq!(adapter("openai").model_of("http://h/v1/chat", b"{}"), None);
        // The scanner and serde agree on what the body says.
        for (body, want) in [
            (
                r#"{"model":"gpt","messages":[{"content":"a \"model\""}]}"#,
                Some("gpt"),
            ),
            (r#" {"messages":[],"model" : "m\u00e9"} "#, Some("mé")),
            (r#"{"model":null}"#, None),
            (r#"{"model":"a","model":"b"}"#, None),
            (r#"{"model":7}"#, None),
            (r#"{"model":"x""#, None),
            (r#"{"model":"x"} trailing"#, None),
        ] {
            assert_eq!(
                adapter("openai").model_of("http://h/v1/chat", body.as_bytes()),
                want.map(str::to_string),
                "{body}"
            );
        }
    }

    #[test]
    fn adapters_say_how_their_answers_report() {
        let event = |event: &'static str, data: &'static str| SseEvent {
            event: event.into(),
            data: data.into(),
            id: "".into(),
        };
        for slug in [
            "openai",
            "anthropic",
            "google-ai-studio",
            "azure-openai",
            "workers-ai",
        ] {
            let r = adapter(slug).reports;
            let usage = (r.usage_of_body)(br#"{"usage":{"input_tokens":3,"output_tokens":4}}"#);
            assert_eq!(
                (usage.tokens_in, usage.tokens_out),
                (Some(3), Some(4)),
                "{slug}"
            );
            let streamed = (r.usage_of_event)(r#"{"usage":{"prompt_tokens":5}}"#);
            assert_eq!(streamed.tokens_in, Some(5), "{slug}");
            assert!((r.is_error_event)(&event("error", "{}")), "{slug}");
            assert!(!(r.is_error_event)(&event("message", r#"{"choices":[]}"#)));
            let done = event("message", "[DONE]");
            let dialect = (r.recognise)(&done);
            assert_eq!(dialect, Some(Dialect::OpenAiChat), "{slug}");
            assert!((r.is_end)(Dialect::OpenAiChat, &done));
            assert_eq!((r.classify)(dialect, &done), EventClass::End);
            assert_eq!((r.end_marker)(Dialect::Anthropic), Some("message_stop"));
        }
    }
}
