//! `"model": "dynamic/<route>"`: a unified request walked through a route.
//! The walk ([`crate::routing::RouteWalk`]) runs lazily inside the gateway's
//! run loop: each `model` element it reaches becomes a translated step,
//! planned only when the previous one's attempts have failed.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{Caller, StepTranslations};
use crate::call::exchange::CallRecord;
use crate::call::gateway::{Gateway, NextStep, Plan, PlannedStep, StepSource};
use crate::config::Settings;
use crate::error::{Error, ErrorKind, Result};
use crate::routing::{ModelChoice, Outcome, ROUTE_HEADER, RequestFacts, RouteWalk, Router};

/// What a routed request's steps are planned from.
pub struct RoutedRequest {
    pub caller: Caller,
    /// The route's name (the model after `dynamic/`).
    pub route: String,
    /// The unified request, parsed once.
    body: Value,
    /// The request's forwarded headers (its credential included).
    headers: Vec<(String, String)>,
    drop_params: bool,
    /// The request's and gateway's controls, before a model element's own.
    settings: Settings,
    metadata: Option<Map<String, Value>>,
}

// By hand: the headers may carry the caller's credential.
impl std::fmt::Debug for RoutedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutedRequest")
            .field("caller", &self.caller)
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

/// A unified request for `dynamic/<route>`, or `None` when its model names
/// a provider. A route the gateway does not have is refused here, before
/// any upstream contact.
#[allow(clippy::too_many_arguments)]
pub fn plan(
    router: &Router,
    caller: Caller,
    body: &[u8],
    headers: &[(String, String)],
    drop_params: bool,
    settings: &Settings,
    metadata: Option<&Map<String, Value>>,
) -> Result<Option<RoutedRequest>> {
    // Cheap test first: most unified requests name a provider. (memmem's
    // vectorised search; a byte loop cost ~5 instructions per body byte.
    // The searcher is built once: building it costs ~400 per request.)
    static DYNAMIC: once_cell::sync::Lazy<memchr::memmem::Finder<'static>> =
        once_cell::sync::Lazy::new(|| memchr::memmem::Finder::new("dynamic/"));
    if DYNAMIC.find(body).is_none() {
        return Ok(None);
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        // plan_step explains what is wrong with the body.
        return Ok(None);
    };
    let Some(route) = value
        .get("model")
        .and_then(Value::as_str)
        .and_then(|m| m.strip_prefix("dynamic/"))
    else {
        return Ok(None);
    };
    if router.route(route).is_none() {
        return Err(Error::new(
            ErrorKind::UnknownProvider,
            format!(
                "{}: no route named {route:?} is configured (model \"dynamic/{route}\")",
                caller.name()
            ),
        ));
    }
    Ok(Some(RoutedRequest {
        caller,
        route: route.to_string(),
        headers: headers.to_vec(),
        drop_params,
        settings: *settings,
        metadata: metadata.cloned(),
        body: value,
    }))
}

/// The steps of one routed request, planned as its walk reaches them.
pub struct RouteSteps<'a> {
    gw: &'a Gateway,
    request: &'a RoutedRequest,
    walk: RouteWalk<'a>,
    /// Every step handed out, in order (a step's index is its place here).
    steps: Vec<PlannedStep>,
    /// Their translations, for the stream sink.
    translations: StepTranslations,
}

impl<'a> RouteSteps<'a> {
    pub fn new(gw: &'a Gateway, request: &'a RoutedRequest) -> Result<RouteSteps<'a>> {
        let facts = RequestFacts {
            metadata: request.metadata.as_ref(),
            body: Some(&request.body),
        };
        Ok(RouteSteps {
            gw,
            request,
            walk: gw.route_walk(&request.route, facts)?,
            steps: Vec::new(),
            translations: Rc::new(RefCell::new(Vec::new())),
        })
    }

    /// The translations of the steps handed out, filled as they are.
    pub fn translations(&self) -> StepTranslations {
        self.translations.clone()
    }

    fn plan_choice(&self, choice: &ModelChoice) -> Result<PlannedStep> {
        let mut body = self.request.body.clone();
        body["model"] = json!(format!("{}/{}", choice.provider, choice.model));
        // The element's own timeout and retries win over the request's and
        // gateway's controls.
        let mut settings = self.request.settings;
        settings.max_attempts = choice.max_attempts();
        if let Some(ms) = choice.timeout_ms {
            settings.request_timeout = Some(Duration::from_millis(ms));
        }
        let mut step = super::plan_step(
            &self.gw.providers,
            &self.gw.config,
            self.request.caller,
            body.to_string().as_bytes(),
            self.request.headers.clone(),
            self.request.drop_params,
            self.steps.len(),
            settings,
        )
        .map_err(|e| {
            Error::new(
                e.kind,
                format!(
                    "route {}: element {}: {}",
                    self.request.route, choice.element, e.message
                ),
            )
        })?;
        // The translation adds cf-aig-provider and cf-aig-model itself.
        step.response_headers
            .push((ROUTE_HEADER.into(), self.request.route.clone()));
        Ok(step)
    }

    /// After the run: records the walk in `record` (a committed response
    /// takes its element's `success` output) and hands the steps to `plan`,
    /// so the log record names the provider and model that served.
    pub fn conclude(&mut self, plan: &mut Plan, record: &mut CallRecord) {
        // `ttfb` is set when a step's response committed.
        if !self.steps.is_empty() && record.ttfb.is_some() {
            let _ = self.walk.next(Some(Outcome::Served));
        }
        record.route = Some(self.walk.record());
        plan.steps = std::mem::take(&mut self.steps);
    }

    /// Charges the call's cost to the cost budgets the walk passed.
    pub fn settle(&mut self, cost: f64) -> Result<()> {
        self.walk.settle(cost)
    }
}

impl StepSource for RouteSteps<'_> {
    fn next_step(&mut self) -> Result<Option<NextStep<'_>>> {
        let previous = (!self.steps.is_empty()).then_some(Outcome::Failed);
        let Some(choice) = self.walk.next(previous)? else {
            return Ok(None);
        };
        let step = self.plan_choice(&choice)?;
        self.translations.borrow_mut().push(step.compat.clone());
        self.steps.push(step);
        let last = !self.walk.may_follow();
        Ok(self.steps.last().map(|step| NextStep { step, last }))
    }
}
