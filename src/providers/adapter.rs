//! The provider seam: one `&'static` [`Adapter`] per provider family holds
//! what differs between providers (credential header, required headers, how
//! the URL is built, where a model name sits in the URL). Everything
//! provider-specific asks [`adapter`] instead of matching on slugs. Usage is
//! read by its shape, the same for every provider (`usage`).

use crate::providers::credentials::CredentialHeader;

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

/// What is specific to one provider family.
#[derive(Debug)]
pub struct Adapter {
    /// The header its key goes in, and the prefix before the key.
    pub credential: CredentialHeader,
    /// Headers it requires besides the key, with the value sent by default.
    pub required_headers: &'static [(&'static str, &'static str)],
    pub url_rule: UrlRule,
    pub model_in_url: ModelInUrl,
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
};
static GOOGLE_AI_STUDIO: Adapter = Adapter {
    credential: CredentialHeader {
        name: "x-goog-api-key",
        prefix: "",
    },
    required_headers: &[],
    url_rule: UrlRule::Plain,
    model_in_url: ModelInUrl::AfterUntilColon("/models/"),
};
static AZURE_OPENAI: Adapter = Adapter {
    credential: CredentialHeader {
        name: "api-key",
        prefix: "",
    },
    required_headers: &[],
    url_rule: UrlRule::AzureDeployment,
    model_in_url: ModelInUrl::Nowhere,
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
        // Only `model` is read; the rest of the body is skipped, not built.
        #[derive(serde::Deserialize)]
        struct ModelField {
            model: Option<String>,
        }
        if let Ok(ModelField { model: Some(model) }) = serde_json::from_slice(body) {
            return Some(model);
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
    }
}
