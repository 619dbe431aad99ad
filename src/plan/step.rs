//! The step vocabulary every plan source speaks: a [`PlannedStep`] is one
//! request ready to send, a [`Plan`] what a request turns into before
//! anything is sent, a [`StepSource`] hands a run its steps one at a time,
//! and a [`Planner`] is one producer of plans (Universal bodies, provider
//! endpoints, the unified API, routes), asked in turn by the gateway.

use std::sync::Arc;

use crate::config::{Config, Controls, Settings};
use crate::error::{Error, ErrorKind, Result};
use crate::http::headers::has_header;
use crate::plan::controls::FeatureControls;
use crate::providers::provider::{Providers, Target};
use crate::routing::Router;

/// One step of a plan, ready to send.
#[derive(Clone)]
pub struct PlannedStep {
    pub index: usize,
    pub target: Target,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub settings: Settings,
    /// Headers this step adds to the response it serves (a routed step:
    /// `cf-aig-route`, `cf-aig-provider`, `cf-aig-model`).
    pub response_headers: Vec<(String, String)>,
    /// The unified API (src/compat): how to translate this step's answer back.
    pub compat: Option<Arc<crate::compat::CompatStep>>,
}

// By hand: the headers may carry credentials (the caller's or stored keys).
impl std::fmt::Debug for PlannedStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                let secret = crate::http::headers::is_secret(n);
                (n.as_str(), if secret { "<redacted>" } else { v.as_str() })
            })
            .collect();
        f.debug_struct("PlannedStep")
            .field("index", &self.index)
            .field("target", &self.target)
            .field("method", &self.method)
            .field("headers", &headers)
            .field("body_len", &self.body.len())
            .field("settings", &self.settings)
            .field("response_headers", &self.response_headers)
            .field("compat", &self.compat)
            .finish()
    }
}

/// What a request turns into before anything is sent.
#[derive(Debug, Clone)]
pub struct Plan {
    pub steps: Vec<PlannedStep>,
    /// Universal requests report their step in a `cf-aig-step` header.
    pub universal: bool,
    /// The request's cache, log and cost controls.
    pub features: FeatureControls,
    /// Headers the gateway adds to the response (log id, cache status, ...).
    pub response_headers: Vec<(String, String)>,
    /// A unified request for `dynamic/<route>`: `steps` starts empty and is
    /// planned as the route is walked (see `compat::routed`).
    pub route: Option<Arc<crate::compat::routed::RoutedRequest>>,
}

/// Where [`Gateway::run_steps`] takes its steps from, one at a time: a
/// plan's list ([`ListSteps`]), or a route walk that evaluates its graph as
/// it goes (compat's `dynamic/<route>`, see [`crate::routing`]).
pub trait StepSource {
    /// The first step, or the next one once the previous step's attempts
    /// failed; `None` when there is none left. An error ends the run (it
    /// is the call's error when no step was tried yet).
    fn next_step(&mut self) -> Result<Option<NextStep<'_>>>;
}

/// A step to try, and whether it is the last choice left.
pub struct NextStep<'s> {
    pub step: &'s PlannedStep,
    /// No step can follow this one: cooldowns never skip it.
    pub last: bool,
}

/// A plan's steps, in order.
pub struct ListSteps<'a> {
    steps: &'a [PlannedStep],
    next: usize,
}

impl<'a> ListSteps<'a> {
    pub fn new(steps: &'a [PlannedStep]) -> ListSteps<'a> {
        ListSteps { steps, next: 0 }
    }
}

impl StepSource for ListSteps<'_> {
    fn next_step(&mut self) -> Result<Option<NextStep<'_>>> {
        let step = self.steps.get(self.next);
        self.next += 1;
        Ok(step.map(|step| NextStep {
            step,
            last: self.next >= self.steps.len(),
        }))
    }
}

/// What every planner is given: the request, its controls split off.
pub struct PlanInput<'a> {
    pub method: &'a str,
    /// The gateway path, trimmed.
    pub path: &'a str,
    pub body: &'a [u8],
    /// The request's headers without its `cf-aig-*` controls; a planner
    /// that plans the request may take them.
    pub forward: Vec<(String, String)>,
    /// The gateway's retry and timeout controls with the request's over them.
    pub base: Controls,
}

/// What planners plan with: the gateway's configuration, providers and
/// routes, and every planner (a Universal step may belong to another one).
pub struct PlanContext<'a> {
    pub config: &'a Config,
    pub providers: &'a Providers,
    pub router: &'a Router,
    pub planners: &'a [&'a dyn Planner],
}

/// One producer of plans. The gateway asks its planners in order; the first
/// that recognises the request plans it. Adding a plan source is adding a
/// planner to that list (`call::gateway::PLANNERS`).
pub trait Planner: Sync {
    /// Plans `input` into `plan` (empty but for the request's feature
    /// controls) and returns `true`; or returns `false`, leaving both as they
    /// were, when it is not this planner's kind of request.
    fn plan(
        &self,
        ctx: &PlanContext<'_>,
        input: &mut PlanInput<'_>,
        plan: &mut Plan,
    ) -> Result<bool>;

    /// Step `index` of a Universal body, when its provider is this planner's
    /// (the unified API claims `compat`); `None` leaves it to the provider
    /// endpoint it names. `features` are the request's.
    fn plan_universal_step(
        &self,
        _ctx: &PlanContext<'_>,
        _input: &PlanInput<'_>,
        _features: &FeatureControls,
        _step: &crate::plan::universal::Step,
        _index: usize,
    ) -> Result<Option<PlannedStep>> {
        Ok(None)
    }
}

/// Planners asked only for paths under `prefix` (after any leading `/`):
/// one test for every other request instead of one per planner.
pub struct Under {
    pub prefix: &'static str,
    pub planners: &'static [&'static dyn Planner],
}

impl Planner for Under {
    fn plan(
        &self,
        ctx: &PlanContext<'_>,
        input: &mut PlanInput<'_>,
        plan: &mut Plan,
    ) -> Result<bool> {
        let path = input.path;
        let rest = if path.starts_with('/') {
            path.trim_start_matches('/')
        } else {
            path
        };
        if !rest.starts_with(self.prefix) {
            return Ok(false);
        }
        for planner in self.planners {
            if planner.plan(ctx, input, plan)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn plan_universal_step(
        &self,
        ctx: &PlanContext<'_>,
        input: &PlanInput<'_>,
        features: &FeatureControls,
        step: &crate::plan::universal::Step,
        index: usize,
    ) -> Result<Option<PlannedStep>> {
        for planner in self.planners {
            if let Some(planned) = planner.plan_universal_step(ctx, input, features, step, index)? {
                return Ok(Some(planned));
            }
        }
        Ok(None)
    }
}

impl Plan {
    /// A plan with no steps yet, for a request with these controls.
    pub fn new(features: FeatureControls) -> Plan {
        Plan {
            steps: Vec::new(),
            universal: false,
            features,
            response_headers: Vec::new(),
            route: None,
        }
    }
}

/// Refuses a body over the gateway's `max_request_body_bytes`; `what`
/// names the body, and is only built for the error.
pub fn check_size(config: &Config, len: usize, what: impl FnOnce() -> String) -> Result<()> {
    let limit = config.max_request_body_bytes;
    if len as u64 > limit {
        Err(Error::new(
            ErrorKind::BodyTooLarge,
            format!("{} is {len} bytes, over the limit of {limit} bytes", what()),
        ))
    } else {
        Ok(())
    }
}

/// Request-level headers with the step's laid over them: a step header
/// replaces every request header of the same name.
pub fn merge_headers(
    request: &[(String, String)],
    step: &[(String, String)],
) -> Vec<(String, String)> {
    let mut merged: Vec<(String, String)> = request
        .iter()
        .filter(|(n, _)| !has_header(step, n))
        .cloned()
        .collect();
    merged.extend(step.iter().cloned());
    merged
}

/// BYOK: the stored key for the target's provider, unless the request
/// carries a credential of its own.
pub fn apply_stored_key(config: &Config, target: &Target, headers: &mut Vec<(String, String)>) {
    crate::providers::credentials::apply_stored(
        config.provider_keys.get(&target.provider),
        &target.provider,
        &target.url,
        headers,
    );
}
