//! Dynamic routing: route graphs from the gateway config (`graph`), the
//! conditions they test (`condition`) and the walk that turns one request
//! into the model elements to try (`walk`).
//!
//! May use: `config`'s checks, `error`, `http` (header names), `store`
//! (budgets count in the gateway's [`crate::store::CounterStore`], with its
//! `Technique`) and `observe::log`'s seeded random numbers. Knows nothing of
//! plans, providers, transports or request formats: the unified API's
//! routed planner (`compat::planner`) turns each [`ModelChoice`] into a
//! planned step.
//!
//! # How compat plans `dynamic/<name>`
//!
//! 1. `Gateway::route_walk` with the route name (the model after
//!    `dynamic/`) and the request's [`RequestFacts`] (its `cf-aig-metadata` and the unified
//!    body as parsed JSON). An unknown name is `InvalidRequest`.
//! 2. [`RouteWalk::next`]`(None)` yields the first [`ModelChoice`] (or a
//!    rate-limit refusal, `RateLimited`, naming route and element). compat
//!    makes it a planned step: the unified request with `model` replaced by
//!    `{provider}/{model}`, translated for that provider as any unified
//!    request is; `timeout_ms` becomes the first-byte request timeout and
//!    `retries` gives `max_attempts = retries + 1` (both over the request's
//!    and gateway's controls); [`route_headers`] go in the step's
//!    `response_headers`, so the response (a stream's head included) names
//!    the route, provider and model that served it.
//! 3. Those steps go to `Gateway::run_steps` (streams:
//!    `stream::run_stream_steps`) through a
//!    [`crate::plan::step::StepSource`] whose `next_step` calls
//!    `RouteWalk::next(Some(Outcome::Failed))` when the previous model's
//!    attempts failed (following its `fallback` output), and whose
//!    `NextStep::last` is `!`[`RouteWalk::may_follow`] (cooldowns never
//!    skip the last choice left). A model whose response commits ends the walk
//!    (`RouteWalk::next(Some(Outcome::Served))` records it).
//! 4. Afterwards: [`RouteWalk::record`] (the route name and the element ids
//!    taken, in order) goes to `CallRecord::route`, which the log record shows
//!    as `route` and `route_elements`; [`RouteWalk::settle`] charges the call's cost (known once the usage
//!    arrives, stream end included) to every cost budget the walk passed.
//!
//! `tests/routing.rs` holds such an adapter (for providers that already
//! speak the OpenAI format) driving `Gateway::run_steps` against the mock.

/// Response header naming the model of the model element that served it.
pub use crate::http::headers::MODEL_HEADER;
/// Response header naming the provider of the model element that served it.
pub use crate::http::headers::PROVIDER_HEADER;
/// Response header naming the route that served a `dynamic/<route>` request.
pub use crate::http::headers::ROUTE_HEADER;

/// The response headers of a routed request served by `choice`.
pub fn route_headers(route: &str, choice: &ModelChoice) -> [(String, String); 3] {
    [
        (ROUTE_HEADER.into(), route.into()),
        (PROVIDER_HEADER.into(), choice.provider.clone()),
        (MODEL_HEADER.into(), choice.model.clone()),
    ]
}

pub mod condition;
pub mod graph;
pub mod walk;

pub use condition::{Condition, RequestFacts};
pub use graph::{Element, ElementKind, Route, Routes, parse_routes};
pub use walk::{ModelChoice, Outcome, RouteTaken, RouteWalk, Router};

#[cfg(test)]
mod tests;
