//! The Universal Endpoint's body: a JSON array of steps (or one step object),
//! each naming a provider, an endpoint, headers and the provider's own body,
//! and its planner ([`UniversalPlanner`]).

use std::borrow::Cow;

use serde::Deserialize;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::config::{
    Controls, check_backoff, check_max_attempts, check_retry_delay, check_timeout,
};
use crate::error::{Error, Result};
use crate::http::headers::check_header;
use crate::http::headers::has_header;
use crate::json::{FieldsError, object_fields};
use crate::plan::controls::split_controls;
use crate::plan::step::{
    Plan, PlanContext, PlanInput, PlannedStep, Planner, apply_stored_key, check_size, merge_headers,
};

/// One step as the caller wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub provider: String,
    pub endpoint: String,
    /// The step's own headers (`headers`, then `authorization`), unfiltered:
    /// any `cf-aig-*` among them are split off when the step runs.
    pub headers: Vec<(String, String)>,
    /// `query`, exactly as written in the Universal body: the body sent
    /// upstream.
    pub body: Option<Vec<u8>>,
    /// The step's `config` object.
    pub config: Controls,
}

/// Parses a Universal body. Every error names the step (0-based) and field.
///
/// Steps are kept as raw JSON until their fields are read, so a `query` (a
/// whole conversation, often) is sent upstream byte for byte as the caller
/// wrote it, without being parsed into a tree and printed again.
pub fn parse_steps(body: &[u8]) -> Result<Vec<Step>> {
    let not_json = |e: serde_json::Error| {
        Error::invalid_request(format!("Universal body is not valid JSON: {e}"))
    };
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    // Fast path: one pass straight into the fields. Any problem (a wrong
    // type, an unknown field) sends us down the slow path, which finds the
    // same problem again and names its step and field.
    let fast: Option<Vec<StepFields<'_>>> = match first {
        Some(b'[') => serde_json::from_slice(body).ok(),
        Some(b'{') => serde_json::from_slice(body).ok().map(|one| vec![one]),
        _ => None,
    };
    let fields: Vec<Result<StepFields<'_>, String>> = match fast {
        Some(steps) => steps.into_iter().map(Ok).collect(),
        None => {
            let items: Vec<&RawValue> = match first {
                Some(b'[') => serde_json::from_slice(body).map_err(not_json)?,
                Some(b'{') => vec![serde_json::from_slice(body).map_err(not_json)?],
                _ => {
                    // Tell malformed JSON from JSON of the wrong shape.
                    serde_json::from_slice::<&RawValue>(body).map_err(not_json)?;
                    return Err(Error::invalid_request(
                        "Universal body must be a JSON array of steps or one step object",
                    ));
                }
            };
            items.into_iter().map(fields_of).collect()
        }
    };
    if fields.is_empty() {
        return Err(Error::invalid_request("Universal body has no steps"));
    }
    fields
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            f.and_then(check_step)
                .map_err(|m| Error::invalid_request(format!("step {i}: {m}")))
        })
        .collect()
}

/// A step's fields as written, before any check. Strings borrow from the
/// body where they hold no escapes; `headers`, `query` and `config` stay
/// raw JSON.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StepFields<'a> {
    #[serde(borrow)]
    provider: Option<Cow<'a, str>>,
    #[serde(borrow)]
    endpoint: Option<Cow<'a, str>>,
    #[serde(borrow)]
    headers: Option<&'a RawValue>,
    #[serde(borrow)]
    authorization: Option<Cow<'a, str>>,
    #[serde(borrow)]
    query: Option<&'a RawValue>,
    #[serde(borrow)]
    config: Option<&'a RawValue>,
}

/// The slow path's reading of one step: field by field, so an error can
/// name the field.
fn fields_of(item: &RawValue) -> Result<StepFields<'_>, String> {
    let map = object_fields(item).map_err(|e| match e {
        FieldsError::NotAnObject => "must be a JSON object".to_string(),
        FieldsError::Duplicate(key) => format!("duplicate field {key:?}"),
    })?;
    let mut fields = StepFields::default();
    for (key, raw) in map {
        match key.as_str() {
            "provider" => fields.provider = Some(string_field("provider", raw)?.into()),
            "endpoint" => fields.endpoint = Some(string_field("endpoint", raw)?.into()),
            "authorization" => {
                fields.authorization = Some(string_field("authorization", raw)?.into())
            }
            "headers" => fields.headers = Some(raw),
            "query" => fields.query = Some(raw),
            "config" => fields.config = Some(raw),
            other => {
                return Err(format!(
                    "unknown field {other:?} (expected provider, endpoint, headers, authorization, query, config)"
                ));
            }
        }
    }
    Ok(fields)
}

/// Checks one step's fields and builds the step.
fn check_step(fields: StepFields<'_>) -> Result<Step, String> {
    let provider = fields.provider.ok_or("missing \"provider\"")?.into_owned();
    if provider.is_empty() || provider.contains(['/', '?']) {
        return Err(format!("\"provider\" {provider:?} is not a provider slug"));
    }
    let endpoint = fields.endpoint.ok_or("missing \"endpoint\"")?.into_owned();
    let mut headers = match fields.headers {
        Some(raw) => parse_headers(raw)?,
        None => Vec::new(),
    };
    if let Some(auth) = fields.authorization {
        check_header("Authorization", &auth).map_err(|e| e.message)?;
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
        headers.push(("Authorization".into(), auth.into_owned()));
    }
    let config = match fields.config {
        Some(raw) => parse_config(raw)?,
        None => Controls::default(),
    };
    Ok(Step {
        provider,
        endpoint,
        headers,
        body: fields.query.map(|raw| raw.get().as_bytes().to_vec()),
        config,
    })
}

fn string_field(name: &str, raw: &RawValue) -> Result<String, String> {
    serde_json::from_str(raw.get()).map_err(|_| format!("\"{name}\" must be a string"))
}

fn parse_headers(raw: &RawValue) -> Result<Vec<(String, String)>, String> {
    let members = object_fields(raw).map_err(|e| match e {
        FieldsError::NotAnObject => "\"headers\" must be an object of strings".to_string(),
        FieldsError::Duplicate(name) => format!("header {name:?} appears twice in \"headers\""),
    })?;
    let mut headers = Vec::with_capacity(members.len());
    for (name, value) in members {
        let value: String = serde_json::from_str(value.get())
            .map_err(|_| format!("header {name:?} must have a string value"))?;
        check_header(&name, &value).map_err(|e| e.message)?;
        headers.push((name, value));
    }
    Ok(headers)
}

fn parse_config(raw: &RawValue) -> Result<Controls, String> {
    let members = object_fields(raw).map_err(|e| match e {
        FieldsError::NotAnObject => "\"config\" must be an object".to_string(),
        FieldsError::Duplicate(key) => format!("config key {key:?} appears twice"),
    })?;
    let map: Vec<(String, Value)> = members
        .into_iter()
        .map(|(k, raw)| serde_json::from_str(raw.get()).map(|v| (k, v)))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mut controls = Controls::default();
    for (key, value) in &map {
        let what = format!("config.{key}");
        match key.as_str() {
            "requestTimeout" => {
                controls.request_timeout_ms = Some(check_timeout(&what, integer(&what, value)?)?)
            }
            "maxAttempts" => {
                controls.max_attempts = Some(check_max_attempts(&what, integer(&what, value)?)?)
            }
            "retryDelay" => {
                controls.retry_delay_ms = Some(check_retry_delay(&what, integer(&what, value)?)?)
            }
            "streamIdleTimeout" => {
                controls.stream_idle_timeout_ms =
                    Some(check_timeout(&what, integer(&what, value)?)?)
            }
            "backoff" => match value {
                Value::String(s) => controls.backoff = Some(check_backoff(&what, s)?),
                _ => return Err(format!("{what} must be a string")),
            },
            other => {
                return Err(format!(
                    "unknown config key {other:?} (expected requestTimeout, maxAttempts, retryDelay, backoff, streamIdleTimeout)"
                ));
            }
        }
    }
    Ok(controls)
}

fn integer(what: &str, value: &Value) -> Result<u64, String> {
    value
        .as_u64()
        .ok_or_else(|| format!("{what} must be a non-negative integer, got {value}"))
}

/// The Universal Endpoint (`POST` to the gateway root): one step per entry
/// of the body, each to the provider endpoint it names, unless another
/// planner claims its provider (the unified API's `compat`).
pub struct UniversalPlanner;

impl Planner for UniversalPlanner {
    fn plan(
        &self,
        ctx: &PlanContext<'_>,
        input: &mut PlanInput<'_>,
        plan: &mut Plan,
    ) -> Result<bool> {
        if input.path.is_empty() || input.path == "/" {
            plan_universal(ctx, input, plan)
        } else {
            Ok(false)
        }
    }
}

/// Out of line: every request asks this planner first, and most are not
/// Universal ones, so the test in `plan` stays a few instructions.
#[inline(never)]
fn plan_universal(ctx: &PlanContext<'_>, input: &PlanInput<'_>, plan: &mut Plan) -> Result<bool> {
    if !input.method.eq_ignore_ascii_case("POST") {
        return Err(Error::invalid_request(format!(
            "the Universal Endpoint takes POST, not {}",
            input.method
        )));
    }
    let steps = parse_steps(input.body)?;
    let (planned, features) = (&mut plan.steps, &plan.features);
    planned.reserve_exact(steps.len());
    'steps: for (index, step) in steps.into_iter().enumerate() {
        let in_step = |e: Error| Error::new(e.kind, format!("step {index}: {}", e.message));
        for planner in ctx.planners {
            if let Some(claimed) = planner
                .plan_universal_step(ctx, input, features, &step, index)
                .map_err(in_step)?
            {
                planned.push(claimed);
                continue 'steps;
            }
        }
        let target = ctx
            .providers
            .target(&step.provider, &step.endpoint)
            .map_err(in_step)?;
        let (header_controls, step_headers) = split_controls(&step.headers).map_err(in_step)?;
        let settings = input
            .base
            .over(&header_controls.retry)
            .over(&step.config)
            .resolve();
        let body = step.body.unwrap_or_default();
        check_size(ctx.config, body.len(), || format!("step {index}'s query"))?;
        let mut headers = merge_headers(&input.forward, &step_headers);
        if !body.is_empty() && !has_header(&headers, "content-type") {
            headers.push(("Content-Type".into(), "application/json".into()));
        }
        apply_stored_key(ctx.config, &target, &mut headers);
        planned.push(PlannedStep {
            index,
            target,
            method: "POST".into(),
            headers,
            body,
            settings,
            response_headers: Vec::new(),
            compat: None,
        });
    }
    plan.universal = true;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Backoff;
    use crate::error::ErrorKind;

    #[test]
    fn parses_the_documented_example() {
        let steps = parse_steps(
            br#"[
          { "provider": "huggingface", "endpoint": "bigcode/starcoder",
            "headers": { "Authorization": "Bearer $TOKEN", "Content-Type": "application/json" },
            "query": { "inputs": "console.log" } },
          { "provider": "openai", "endpoint": "chat/completions",
            "authorization": "Bearer $TOKEN",
            "query": { "model": "gpt-4o-mini", "messages": [] },
            "config": { "requestTimeout": 2000, "maxAttempts": 3, "retryDelay": 200, "backoff": "exponential" } }
        ]"#,
        )
        .unwrap();
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].provider, "huggingface");
        assert_eq!(steps[0].headers.len(), 2);
        assert_eq!(
            steps[0].body.as_deref(),
            Some(&br#"{ "inputs": "console.log" }"#[..])
        );
        assert_eq!(
            steps[1].headers,
            vec![("Authorization".to_string(), "Bearer $TOKEN".to_string())]
        );
        assert_eq!(steps[1].config.max_attempts, Some(3));
        assert_eq!(steps[1].config.backoff, Some(Backoff::Exponential));
        assert_eq!(steps[1].config.request_timeout_ms, Some(2000));
    }

    #[test]
    fn single_object_is_one_step_and_authorization_wins() {
        let steps = parse_steps(
            br#"{"provider":"openai","endpoint":"x","headers":{"authorization":"a"},"authorization":"b"}"#,
        )
        .unwrap();
        assert_eq!(steps.len(), 1);
        assert_eq!(
            steps[0].headers,
            vec![("Authorization".to_string(), "b".to_string())]
        );
        assert_eq!(steps[0].body, None);
    }

    #[test]
    fn malformed_bodies_name_step_and_field() {
        for (body, needle) in [
            (&b"not json"[..], "not valid JSON"),
            (b"[]", "no steps"),
            (b"42", "array"),
            (b"[1]", "step 0"),
            (br#"[{"endpoint":"x"}]"#, "provider"),
            (br#"[{"provider":"openai"}]"#, "endpoint"),
            (
                br#"[{"provider":"openai","endpoint":"x"},{"provider":7,"endpoint":"x"}]"#,
                "step 1",
            ),
            (
                br#"[{"provider":"openai","endpoint":"x","headers":{"a b":"v"}}]"#,
                "a b",
            ),
            (
                br#"[{"provider":"openai","endpoint":"x","headers":{"x":1}}]"#,
                "string",
            ),
            (
                br#"[{"provider":"openai","endpoint":"x","config":{"maxAttempts":9}}]"#,
                "maxAttempts",
            ),
            (
                br#"[{"provider":"openai","endpoint":"x","config":{"retryDelay":-1}}]"#,
                "retryDelay",
            ),
            (
                br#"[{"provider":"openai","endpoint":"x","config":{"backoff":"x"}}]"#,
                "backoff",
            ),
            (
                br#"[{"provider":"openai","endpoint":"x","config":{"timeout":1}}]"#,
                "timeout",
            ),
            (
                br#"[{"provider":"openai","endpoint":"x","enpoint":"y"}]"#,
                "enpoint",
            ),
        ] {
            let e = parse_steps(body).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidRequest);
            assert!(e.message.contains(needle), "{needle}: {}", e.message);
        }
    }

    #[test]
    fn escaped_strings_take_the_owned_path() {
        let steps =
            parse_steps(br#"[{"provider":"open\u0061i","endpoint":"chat\/completions"}]"#).unwrap();
        assert_eq!(steps[0].provider, "openai");
        assert_eq!(steps[0].endpoint, "chat/completions");
    }

    #[test]
    fn bad_authorization_value_does_not_leak() {
        let e = parse_steps(
            br#"[{"provider":"openai","endpoint":"x","authorization":"Bearer sk-SECRET\n"}]"#,
        )
        .unwrap_err();
        assert!(!e.message.contains("SECRET"), "{}", e.message);
    }
}
