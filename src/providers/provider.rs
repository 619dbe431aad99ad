//! Built-in providers and the mapping from a gateway path
//! (`<slug>/<rest>?<query>`) to the upstream URL.

use std::collections::BTreeMap;

use crate::config::ProviderOverride;
use crate::error::{Error, ErrorKind, Result};
use crate::transport::{Origin, origin_of};

/// A built-in provider: its slug and the upstream base the gateway path replaces.
///
/// A base may hold placeholders: `{account_id}` (from the gateway config),
/// and for azure-openai `{resource}` and `{deployment}`, which take the first
/// two segments of the path after the slug.
pub struct BuiltinProvider {
    pub slug: &'static str,
    pub base_url: &'static str,
}

/// Every provider the gateway knows without configuration. README's table is
/// this list.
pub const BUILTIN_PROVIDERS: &[BuiltinProvider] = &[
    BuiltinProvider {
        slug: "openai",
        base_url: "https://api.openai.com/v1",
    },
    BuiltinProvider {
        slug: "azure-openai",
        base_url: "https://{resource}.openai.azure.com/openai/deployments/{deployment}",
    },
    BuiltinProvider {
        slug: "anthropic",
        base_url: "https://api.anthropic.com",
    },
    BuiltinProvider {
        slug: "workers-ai",
        base_url: "https://api.cloudflare.com/client/v4/accounts/{account_id}/ai/run",
    },
    BuiltinProvider {
        slug: "huggingface",
        base_url: "https://api-inference.huggingface.co/models",
    },
    BuiltinProvider {
        slug: "replicate",
        base_url: "https://api.replicate.com/v1",
    },
    BuiltinProvider {
        slug: "groq",
        base_url: "https://api.groq.com/openai/v1",
    },
    BuiltinProvider {
        slug: "mistral",
        base_url: "https://api.mistral.ai",
    },
    BuiltinProvider {
        slug: "cohere",
        base_url: "https://api.cohere.ai",
    },
    BuiltinProvider {
        slug: "perplexity-ai",
        base_url: "https://api.perplexity.ai",
    },
    BuiltinProvider {
        slug: "google-ai-studio",
        base_url: "https://generativelanguage.googleapis.com",
    },
    BuiltinProvider {
        slug: "deepseek",
        base_url: "https://api.deepseek.com",
    },
    BuiltinProvider {
        slug: "grok",
        base_url: "https://api.x.ai",
    },
    BuiltinProvider {
        slug: "openrouter",
        base_url: "https://openrouter.ai/api",
    },
    BuiltinProvider {
        slug: "cerebras",
        base_url: "https://api.cerebras.ai/v1",
    },
];

const CUSTOM_PREFIX: &str = "custom-";

fn builtin(slug: &str) -> Option<&'static BuiltinProvider> {
    BUILTIN_PROVIDERS.iter().find(|p| p.slug == slug)
}

/// A slug the config may name: a built-in one, or `custom-<name>`.
pub fn check_configurable_slug(slug: &str) -> Result<(), String> {
    if builtin(slug).is_some() {
        return Ok(());
    }
    match slug.strip_prefix(CUSTOM_PREFIX) {
        Some(name)
            if !name.is_empty()
                && name.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
                }) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "providers.{slug}: not a built-in provider; custom providers are named \"custom-<name>\" \
             (lowercase letters, digits, '-', '_')"
        )),
    }
}

/// A base URL must be absolute http(s) with a host, and carry no query or
/// fragment (the path after the slug supplies those).
pub fn check_base_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("must start with http:// or https://")?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err("has no host".into());
    }
    if url.contains(['?', '#']) {
        return Err("must not contain a query or fragment".into());
    }
    if url.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return Err("contains spaces or control characters".into());
    }
    Ok(())
}

/// `url` with any `user:password@` before its host replaced by `***@`, for
/// Debug output and messages.
pub fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// The providers one gateway routes to: the built-ins with the config's
/// overrides laid on top, plus the config's `custom-*` providers.
#[derive(Debug, Clone)]
pub struct Providers {
    overrides: BTreeMap<String, ProviderOverride>,
    account_id: Option<String>,
    /// The origin of every base without placeholders, parsed once: most
    /// requests then check their URL's origin with a prefix comparison.
    /// Kept as the `host[:port]` text a target shows, so that is not built
    /// again per request.
    base_origins: BTreeMap<String, String>,
}

/// Where one request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub provider: String,
    /// The full upstream URL, query included.
    pub url: String,
    /// `host[:port]` of the URL, for messages (never userinfo, the path or
    /// the query, which may carry keys).
    pub host: String,
}

impl Providers {
    pub fn new(
        overrides: BTreeMap<String, ProviderOverride>,
        account_id: Option<String>,
    ) -> Providers {
        // By slug, not by base: a base may hold userinfo, and this is Debug.
        let base_origins = BUILTIN_PROVIDERS
            .iter()
            .filter(|b| !overrides.contains_key(b.slug))
            .map(|b| (b.slug, b.base_url))
            .chain(
                overrides
                    .iter()
                    .map(|(s, o)| (s.as_str(), o.base_url.as_str())),
            )
            .filter(|(_, base)| !base.contains('{'))
            .filter_map(|(slug, base)| Some((slug.to_string(), origin_of(base)?.display())))
            .collect();
        Providers {
            overrides,
            account_id,
            base_origins,
        }
    }

    /// Maps `provider` plus the path after its slug (`rest`, which may carry a
    /// `?query`) to the upstream URL.
    pub fn target(&self, provider: &str, rest: &str) -> Result<Target> {
        let base = match self.overrides.get(provider) {
            Some(o) => o.base_url.as_str(),
            None => match builtin(provider) {
                Some(b) => b.base_url,
                None => {
                    let hint = if provider.starts_with(CUSTOM_PREFIX) {
                        " (custom providers must be given a base_url in the gateway config)"
                    } else {
                        ""
                    };
                    return Err(Error::new(
                        ErrorKind::UnknownProvider,
                        format!("unknown provider {provider:?}{hint}"),
                    ));
                }
            },
        };

        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        check_rest(provider, path, query)?;
        let mut path = path.trim_start_matches('/');
        let mut base = base.to_string();

        if crate::providers::adapter::adapter(provider).url_rule
            == crate::providers::adapter::UrlRule::AzureDeployment
        {
            // Azure names the resource and deployment in the path after the
            // slug; they are consumed here whether or not the base uses them.
            let mut segments = path.splitn(3, '/');
            let resource = segments.next().unwrap_or("");
            let deployment = segments.next().unwrap_or("");
            if resource.is_empty() || deployment.is_empty() {
                return Err(Error::invalid_request(
                    "azure-openai paths are azure-openai/<resource>/<deployment>/<endpoint>",
                ));
            }
            // Each value may only fill its own slot: a resource that could
            // end the host (`localhost:`, `x@127.0.0.1`) would send the
            // caller's keys elsewhere.
            check_placeholder(provider, "resource", resource, Slot::HostLabel)
                .map_err(Error::invalid_request)?;
            let slot = slot_in(&base, "{deployment}");
            check_placeholder(provider, "deployment", deployment, slot)
                .map_err(Error::invalid_request)?;
            base = base
                .replace("{resource}", resource)
                .replace("{deployment}", deployment);
            path = segments.next().unwrap_or("");
        }
        if base.contains("{account_id}") {
            let id = self.account_id.as_deref().ok_or_else(|| {
                Error::invalid_config(format!(
                    "provider {provider} needs \"account_id\" in the gateway config"
                ))
            })?;
            check_placeholder(provider, "account_id", id, slot_in(&base, "{account_id}"))
                .map_err(Error::invalid_config)?;
            base = base.replace("{account_id}", id);
        }

        let mut url = join_base_and_path(&base, path);
        if let Some(q) = query {
            url.push('?');
            url.push_str(q);
        }
        let host = match self.base_origins.get(provider) {
            Some(known) if same_authority_text(&base, &url) => known.clone(),
            _ => check_same_origin(provider, &base, &url)?.display(),
        };
        Ok(Target {
            provider: provider.to_string(),
            url,
            host,
        })
    }
}

/// What a placeholder's value becomes part of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// One DNS label of the host (`{resource}`).
    HostLabel,
    /// One path segment (`{deployment}`, `{account_id}`).
    PathSegment,
}

/// The slot a placeholder fills in a base URL: a host label when it stands
/// in the authority (an override such as `https://{deployment}.example`),
/// else a path segment.
fn slot_in(base: &str, placeholder: &str) -> Slot {
    let after_scheme = base.split_once("://").map_or(base, |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains(placeholder) {
        Slot::HostLabel
    } else {
        Slot::PathSegment
    }
}

/// Checks that a placeholder's value can only fill its slot. The message
/// names the provider, the placeholder and the offending character, never
/// the value (which may be anything the caller typed).
fn check_placeholder(provider: &str, part: &str, value: &str, slot: Slot) -> Result<(), String> {
    let refuse = |why: String| Err(format!("{provider}: the {part} {why}"));
    let ok_char = |c: char| match slot {
        Slot::HostLabel => c.is_ascii_alphanumeric() || c == '-',
        // RFC 3986 unreserved characters: no '/', '\\', '@', ':', '#', '?',
        // and no '%', so no escape of any of them either.
        Slot::PathSegment => c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'),
    };
    if let Some(c) = value.chars().find(|c| !ok_char(*c)) {
        let shown = if c.is_ascii_graphic() {
            format!("{c:?}")
        } else {
            format!("U+{:04X}", c as u32)
        };
        let what = match slot {
            Slot::HostLabel => "a DNS label (letters, digits, '-')",
            Slot::PathSegment => "one path segment (letters, digits, '-', '_', '.', '~')",
        };
        return refuse(format!("must be {what}; it contains {shown}"));
    }
    match slot {
        Slot::HostLabel if value.is_empty() || value.len() > 63 => {
            refuse("must be a DNS label of 1 to 63 characters".into())
        }
        Slot::HostLabel if value.starts_with('-') || value.ends_with('-') => {
            refuse("must not start or end with '-'".into())
        }
        Slot::PathSegment if value.is_empty() || value == "." || value == ".." => {
            refuse("must be one path segment, not empty, \".\" or \"..\"".into())
        }
        _ => Ok(()),
    }
}

/// Checks the path (and query) after the slug, whatever built it: a
/// provider path, a Universal step's `endpoint`, a translated request. No
/// characters a URL path cannot hold, no fragment, and no `..` segment,
/// also when spelled with percent-escapes (`%2e%2e`, `.%2e`, `..%2f`).
fn check_rest(provider: &str, path: &str, query: Option<&str>) -> Result<()> {
    if let Some(c) = char_not_in_url(path).or_else(|| char_not_in_url(query.unwrap_or(""))) {
        return Err(Error::invalid_request(format!(
            "{provider}: the path contains a character not allowed in a URL: {c:?}"
        )));
    }
    if path.contains('\\') {
        return Err(Error::invalid_request(format!(
            "{provider}: the path must not contain '\\'"
        )));
    }
    let dot_segment = |p: &str| p.split(['/', '\\']).any(|segment| segment == "..");
    let escaped = path.contains('%');
    if dot_segment(path) || (escaped && dot_segment(&decode_path_escapes(path))) {
        return Err(Error::invalid_request(format!(
            "{provider}: the path must not contain \"..\" segments (escaped or not)"
        )));
    }
    Ok(())
}

/// The path with the escapes that matter to segment boundaries decoded
/// (`%2e` `.`, `%2f` `/`, `%5c` `\`), as a lenient upstream would read it.
fn decode_path_escapes(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let pair = (
                bytes[i + 1].to_ascii_lowercase(),
                bytes[i + 2].to_ascii_lowercase(),
            );
            let decoded = match pair {
                (b'2', b'e') => Some('.'),
                (b'2', b'f') => Some('/'),
                (b'5', b'c') => Some('\\'),
                _ => None,
            };
            if let Some(c) = decoded {
                out.push(c);
                i += 3;
                continue;
            }
        }
        let c = path[i..].chars().next().unwrap_or('\u{FFFD}');
        out.push(c);
        i += c.len_utf8().max(1);
    }
    out
}

/// Whether `url` starts with `base`'s `scheme://authority` text and ends it
/// there too (a `/`, `?` or the end follows): then both parse to the same
/// origin, and the URL need not be parsed again.
fn same_authority_text(base: &str, url: &str) -> bool {
    let Some(scheme_end) = base.find("://") else {
        return false;
    };
    let after = scheme_end + 3;
    let end = base[after..]
        .find(['/', '?', '#'])
        .map_or(base.len(), |i| after + i);
    let prefix = &base[..end];
    url.starts_with(prefix) && matches!(url.as_bytes().get(prefix.len()), None | Some(b'/' | b'?'))
}

/// The invariant every upstream URL keeps, checked after it is built from
/// the base and the caller's path: it goes to the base's scheme, host and
/// port, as the transport reads them. Returns that origin, for messages.
fn check_same_origin(provider: &str, base: &str, url: &str) -> Result<Origin> {
    let base_origin = origin_of(base).ok_or_else(|| {
        Error::invalid_request(format!(
            "{provider}: the upstream base is not a valid http(s) URL"
        ))
    })?;
    match origin_of(url) {
        Some(origin) if origin == base_origin => Ok(base_origin),
        Some(_) => Err(Error::invalid_request(format!(
            "{provider}: the path would send the request somewhere other than {} (refused)",
            base_origin.display()
        ))),
        None => Err(Error::invalid_request(format!(
            "{provider}: the path does not make a valid URL on {}",
            base_origin.display()
        ))),
    }
}

/// Joins a base URL and a path with exactly one `/` between them, whether or
/// not the base ends in `/` or the path starts with one, and without
/// doubling a version segment (`.../v1` + `v1/chat` is `.../v1/chat`), which
/// tools that append `/v1` themselves would otherwise produce.
pub fn join_base_and_path(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    let mut path = path.trim_start_matches('/');
    if let Some(last) = base.rsplit('/').next() {
        if is_version_segment(last) {
            let first = path.split('/').next().unwrap_or("");
            if first == last {
                path = path[first.len()..].trim_start_matches('/');
            }
        }
    }
    // Built by hand: `format!` costs a few thousand instructions per request.
    // The spare room is for the query `target` appends.
    let mut url = String::with_capacity(base.len() + 1 + path.len() + 64);
    url.push_str(base);
    if !path.is_empty() {
        url.push('/');
        url.push_str(path);
    }
    url
}

fn is_version_segment(s: &str) -> bool {
    let digits = s.strip_prefix('v').unwrap_or("");
    let digits = digits.split_once("beta").map(|(d, _)| d).unwrap_or(digits);
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

/// The first character no URL path or query may hold raw (a control
/// character, a space, `#`). Most paths are plain ASCII with nothing to
/// refuse: one byte scan, and the character scan only when a byte needs a
/// closer look.
fn char_not_in_url(text: &str) -> Option<char> {
    let suspect = |b: u8| b <= b' ' || b == b'#' || b >= 0x7f;
    if !text.bytes().any(suspect) {
        return None;
    }
    text.chars()
        .find(|c| c.is_control() || matches!(*c, ' ' | '#'))
}

/// Splits a provider-endpoint path (`openai/chat/completions?x=1`, leading
/// `/` allowed) into slug and rest. Fails on characters no URL path may hold.
pub fn split_path(path: &str) -> Result<(&str, &str)> {
    let path = path.strip_prefix('/').unwrap_or(path);
    if let Some(c) = char_not_in_url(path) {
        return Err(Error::invalid_request(format!(
            "path contains a character not allowed in a URL path: {c:?}"
        )));
    }
    let (slug, rest) = path.split_once('/').unwrap_or((path, ""));
    let (slug, rest) = match slug.split_once('?') {
        // `openai?x=1`: the query belongs to the (empty) rest.
        Some((s, _)) => (s, &path[s.len()..]),
        None => (slug, rest),
    };
    if slug.is_empty() {
        return Err(Error::invalid_request("path has no provider slug"));
    }
    if rest.split(['/', '?']).any(|seg| seg == "..") {
        return Err(Error::invalid_request(
            "path must not contain \"..\" segments",
        ));
    }
    Ok((slug, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn providers(overrides: &[(&str, &str)], account: Option<&str>) -> Providers {
        Providers::new(
            overrides
                .iter()
                .map(|(s, u)| {
                    (
                        s.to_string(),
                        ProviderOverride {
                            base_url: u.to_string(),
                        },
                    )
                })
                .collect(),
            account.map(String::from),
        )
    }

    fn url(p: &Providers, path: &str) -> String {
        let (slug, rest) = split_path(path).unwrap();
        p.target(slug, rest).unwrap().url
    }

    #[test]
    fn builtin_paths_map_to_their_upstreams() {
        let p = providers(&[], Some("ACCOUNT_TAG"));
        assert_eq!(
            url(&p, "openai/chat/completions"),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            url(&p, "huggingface/bigcode/starcoder"),
            "https://api-inference.huggingface.co/models/bigcode/starcoder"
        );
        assert_eq!(
            url(&p, "replicate/predictions"),
            "https://api.replicate.com/v1/predictions"
        );
        assert_eq!(
            url(&p, "workers-ai/@cf/meta/llama-2-7b"),
            "https://api.cloudflare.com/client/v4/accounts/ACCOUNT_TAG/ai/run/@cf/meta/llama-2-7b"
        );
        assert_eq!(
            url(
                &p,
                "azure-openai/myres/mydep/chat/completions?api-version=2024-02-01"
            ),
            "https://myres.openai.azure.com/openai/deployments/mydep/chat/completions?api-version=2024-02-01"
        );
        assert_eq!(
            url(&p, "anthropic/v1/messages"),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(
            url(
                &p,
                "google-ai-studio/v1/models/gemini-1.5-flash:generateContent"
            ),
            "https://generativelanguage.googleapis.com/v1/models/gemini-1.5-flash:generateContent"
        );
        assert_eq!(
            url(&p, "/groq/chat/completions?a=b&c=d"),
            "https://api.groq.com/openai/v1/chat/completions?a=b&c=d"
        );
        for b in BUILTIN_PROVIDERS {
            let path = if b.slug == "azure-openai" {
                "r/d/x".to_string()
            } else {
                "x".to_string()
            };
            assert!(
                p.target(b.slug, &path).unwrap().url.ends_with("/x"),
                "{}",
                b.slug
            );
        }
    }

    #[test]
    fn overrides_and_custom_providers() {
        let p = providers(
            &[
                ("openai", "http://127.0.0.1:9000/v1/"),
                ("custom-local", "http://127.0.0.1:11434/v1"),
                (
                    "azure-openai",
                    "http://127.0.0.1:9001/openai/deployments/{deployment}",
                ),
                ("workers-ai", "http://127.0.0.1:9002/run"),
            ],
            None,
        );
        assert_eq!(
            url(&p, "openai/chat/completions"),
            "http://127.0.0.1:9000/v1/chat/completions"
        );
        assert_eq!(
            url(&p, "openai/v1/chat/completions"),
            "http://127.0.0.1:9000/v1/chat/completions"
        );
        assert_eq!(
            url(&p, "custom-local/chat/completions"),
            "http://127.0.0.1:11434/v1/chat/completions"
        );
        assert_eq!(
            url(&p, "azure-openai/r/dep1/chat/completions?api-version=1"),
            "http://127.0.0.1:9001/openai/deployments/dep1/chat/completions?api-version=1"
        );
        // The override needs no account id.
        assert_eq!(
            url(&p, "workers-ai/@cf/meta/x"),
            "http://127.0.0.1:9002/run/@cf/meta/x"
        );
        assert_eq!(p.target("openai", "x").unwrap().host, "127.0.0.1:9000");
    }

    #[test]
    fn joins_never_double_slashes_or_versions() {
        for base in ["http://h/v1", "http://h/v1/", "http://h/v1//"] {
            for path in ["chat", "/chat", "v1/chat", "/v1/chat"] {
                assert_eq!(
                    join_base_and_path(base, path),
                    "http://h/v1/chat",
                    "{base} + {path}"
                );
            }
        }
        assert_eq!(
            join_base_and_path("http://h", "v1/chat"),
            "http://h/v1/chat"
        );
        assert_eq!(
            join_base_and_path("http://h/v1beta", "v1beta/models"),
            "http://h/v1beta/models"
        );
        assert_eq!(
            join_base_and_path("http://h/v1", "v2/x"),
            "http://h/v1/v2/x"
        );
        assert_eq!(
            join_base_and_path("http://h/api", "api/x"),
            "http://h/api/api/x"
        );
        assert_eq!(join_base_and_path("http://h/v1", ""), "http://h/v1");
    }

    #[test]
    fn unknown_and_unconfigured_providers() {
        let p = providers(&[], None);
        assert_eq!(
            p.target("nosuch", "x").unwrap_err().kind,
            ErrorKind::UnknownProvider
        );
        assert_eq!(
            p.target("custom-x", "x").unwrap_err().kind,
            ErrorKind::UnknownProvider
        );
        assert_eq!(
            p.target("workers-ai", "@cf/x").unwrap_err().kind,
            ErrorKind::InvalidConfig
        );
        assert_eq!(
            p.target("azure-openai", "only-resource").unwrap_err().kind,
            ErrorKind::InvalidRequest
        );
    }

    #[test]
    fn bad_paths() {
        for bad in [
            "",
            "/",
            "openai/chat completions",
            "openai/a\nb",
            "openai/../x",
            "openai/x#y",
        ] {
            assert_eq!(
                split_path(bad).unwrap_err().kind,
                ErrorKind::InvalidRequest,
                "{bad:?}"
            );
        }
        assert_eq!(split_path("openai").unwrap(), ("openai", ""));
        assert_eq!(split_path("openai?x=1").unwrap(), ("openai", "?x=1"));
    }

    #[test]
    fn a_placeholder_in_an_override_host_takes_only_a_dns_label() {
        // Found by the url fuzz target: `~` filled a host slot.
        let p = providers(&[("azure-openai", "http://12{deployment}")], None);
        let e = p
            .target("azure-openai", "r/dep~1/chat/completions")
            .unwrap_err();
        assert!(e.message.contains("DNS label"), "{}", e.message);
        let t = p
            .target("azure-openai", "r/dep-1/chat/completions")
            .unwrap();
        assert_eq!(t.url, "http://12dep-1/chat/completions");
    }

    #[test]
    fn placeholders_fill_only_their_slot_and_urls_keep_their_origin() {
        let p = providers(&[], Some("ACCOUNT"));
        for bad in [
            "localhost:/dep/x",
            "x@127.0.0.1:1/dep/x",
            "127.0.0.1:18443#/dep/x",
            "a.b/dep/x",
            "-a/dep/x",
            "a%40b/dep/x",
            "r/dep%2f../x",
            "r/../x",
            "r/a:b/x",
            "r/a@b/x",
        ] {
            let e = p.target("azure-openai", bad).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidRequest, "{bad}");
            assert!(e.message.starts_with("azure-openai"), "{}", e.message);
        }
        let bad_account = providers(&[], Some("acc/../x"));
        assert_eq!(
            bad_account.target("workers-ai", "@cf/m").unwrap_err().kind,
            ErrorKind::InvalidConfig
        );
        for bad in ["%2e%2e/x", "a/.%2E/x", "a/..%2Fb", "a\\b", "x#y", "x?a#b"] {
            assert_eq!(
                p.target("openai", bad).unwrap_err().kind,
                ErrorKind::InvalidRequest,
                "{bad}"
            );
        }
        // The oracle itself: a URL that leaves the base's origin is refused.
        assert!(check_same_origin("p", "http://h:1/v1", "http://h:1/v1/x").is_ok());
        for other in [
            "http://h:2/v1",
            "https://h:1/v1",
            "http://g:1/v1",
            "http://x@g:1/",
        ] {
            assert!(
                check_same_origin("p", "http://h:1/v1", other).is_err(),
                "{other}"
            );
        }
    }

    #[test]
    fn userinfo_is_never_shown() {
        let p = providers(&[("custom-u", "http://user:SECRET@127.0.0.1:9/v1")], None);
        let t = p.target("custom-u", "chat").unwrap();
        assert_eq!(t.host, "127.0.0.1:9");
        assert_eq!(
            without_userinfo("http://user:SECRET@h:1/v1?a@b"),
            "http://***@h:1/v1?a@b"
        );
        assert_eq!(without_userinfo("http://h/a@b"), "http://h/a@b");
        let debug = format!(
            "{:?}",
            ProviderOverride {
                base_url: "https://u:SECRET@h/".into()
            }
        );
        assert!(!debug.contains("SECRET"), "{debug}");
    }

    #[test]
    fn config_slugs() {
        assert!(check_configurable_slug("openai").is_ok());
        assert!(check_configurable_slug("custom-local").is_ok());
        assert!(check_configurable_slug("custom-").is_err());
        assert!(check_configurable_slug("Custom-x").is_err());
        assert!(check_configurable_slug("other").is_err());
        assert!(check_base_url("http://127.0.0.1:1/v1").is_ok());
        assert!(check_base_url("https:///v1").is_err());
        assert!(check_base_url("http://h/v1?x").is_err());
    }
}
