//! Walking a route for one request: conditions, splits and budgets are
//! evaluated as the walk reaches them, and each `model` element reached is
//! handed out as a [`ModelChoice`] to try.
//!
//! Budgets: a `count` budget admits 1 in the counter store when the walk
//! passes the element (counted whether or not the model then succeeds). A
//! `cost` budget is checked when passed (admitted while the window's spend
//! is below the limit) and charged by [`RouteWalk::settle`] once the call's
//! cost is known; so one request may overshoot a cost limit by its own cost.

use std::sync::atomic::{AtomicU64, Ordering};

use super::condition::RequestFacts;
use super::graph::{Budget, ElementKind, LimitType, Route, Routes};
use crate::error::{Error, ErrorKind, Result};
use crate::store::{Admission, CounterStore, Window};

/// The gateway's routes with their split generator (seeded once). Shared
/// by every thread sending through the gateway.
#[derive(Debug)]
pub struct Router {
    routes: Routes,
    /// SplitMix64 state: each draw adds the golden gamma atomically, so
    /// threads never wait on each other and never share a draw.
    rng: AtomicU64,
}

impl Router {
    /// `seed` makes splits reproducible; without one the generator is
    /// seeded from the OS.
    pub fn new(routes: Routes, seed: Option<u64>) -> Router {
        Router {
            routes,
            rng: AtomicU64::new(seed.unwrap_or_else(os_seed)),
        }
    }

    pub fn route(&self, name: &str) -> Option<&std::sync::Arc<Route>> {
        self.routes.get(name)
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Starts a walk of route `name` for one request, its budgets counted
    /// in `counters` (the gateway's store: see `Gateway::route_walk`).
    /// Nothing is evaluated until [`RouteWalk::next`].
    pub fn walk<'a>(
        &'a self,
        name: &str,
        facts: RequestFacts<'a>,
        counters: &'a dyn CounterStore,
    ) -> Result<RouteWalk<'a>> {
        let route = self.routes.get(name).ok_or_else(|| {
            Error::invalid_request(format!("no route named {name:?} in the gateway config"))
        })?;
        Ok(RouteWalk {
            router: self,
            counters,
            route,
            facts,
            state: State::NotStarted,
            taken: Vec::new(),
            cost_budgets: Vec::new(),
        })
    }

    /// A uniform draw in [0, 1).
    fn draw(&self) -> f64 {
        // splitmix64 adds the gamma to the state it is given before mixing:
        // claiming the old state with one atomic add gives each caller its
        // own draw of the same sequence a single thread would see.
        let mut state = self.rng.fetch_add(GAMMA, Ordering::Relaxed);
        let bits = crate::observe::log::splitmix64(&mut state);
        (bits >> 11) as f64 / (1u64 << 53) as f64
    }
}

const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

fn os_seed() -> u64 {
    let mut seed = [0u8; 8];
    match ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed) {
        Ok(()) => u64::from_le_bytes(seed),
        // No OS randomness: the clock is good enough to vary splits.
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64,
    }
}

/// A model element to try: what compat turns into a planned step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelChoice {
    /// The model element's id.
    pub element: String,
    pub provider: String,
    pub model: String,
    /// First-byte timeout in ms; `None`: the request's or gateway's.
    pub timeout_ms: Option<u64>,
    pub retries: u32,
}

impl ModelChoice {
    /// Attempts the step makes: the first one plus its retries.
    pub fn max_attempts(&self) -> u32 {
        self.retries + 1
    }
}

/// What a walk did, for the log record (`route`, `route_elements`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTaken {
    pub name: String,
    /// Element ids passed, in order.
    pub elements: Vec<String>,
}

/// How the previous choice ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its response committed (streams: the first content event).
    Served,
    /// Its attempts failed.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    NotStarted,
    /// The model element last handed out.
    AtModel(usize),
    Done,
}

/// One request's walk of one route. Not shared between threads; many walks
/// of one route run at once.
#[derive(Debug)]
pub struct RouteWalk<'a> {
    router: &'a Router,
    counters: &'a dyn CounterStore,
    route: &'a Route,
    facts: RequestFacts<'a>,
    state: State,
    /// Indices of the elements passed, in order.
    taken: Vec<usize>,
    /// Cost budgets passed: store key and window, charged by `settle`.
    cost_budgets: Vec<(String, Window)>,
}

impl<'a> RouteWalk<'a> {
    pub fn route_name(&self) -> &str {
        &self.route.name
    }

    /// The next model element to try, or `None` when the walk is over.
    /// `previous` says how the last choice ended (`None` for the first call).
    /// Fails with `RateLimited` when a budget with no `fallback` refuses, or
    /// `Connect` when the counter store cannot be asked.
    pub fn next(&mut self, previous: Option<Outcome>) -> Result<Option<ModelChoice>> {
        let from = match self.state {
            State::Done => return Ok(None),
            State::NotStarted => self.route.start,
            State::AtModel(i) => {
                let ElementKind::Model {
                    success, fallback, ..
                } = &self.route.elements[i].kind
                else {
                    unreachable!("AtModel holds a model element")
                };
                let follow = match previous {
                    Some(Outcome::Served) => {
                        // A committed response is the answer: `success` ends the walk.
                        self.taken.extend(*success);
                        None
                    }
                    Some(Outcome::Failed) | None => *fallback,
                };
                match follow {
                    Some(next) => next,
                    None => {
                        self.state = State::Done;
                        return Ok(None);
                    }
                }
            }
        };
        self.advance(from)
    }

    fn advance(&mut self, mut at: usize) -> Result<Option<ModelChoice>> {
        // The graph is acyclic, so one walk passes each element at most
        // once; the bound only guards against a bug turning into a hang.
        loop {
            if self.taken.len() > self.route.elements.len() {
                self.state = State::Done;
                return Err(Error::new(
                    ErrorKind::InvalidConfig,
                    format!("route {}: the walk did not end", self.route.name),
                ));
            }
            self.taken.push(at);
            let element = &self.route.elements[at];
            at = match &element.kind {
                ElementKind::Start { next } => *next,
                ElementKind::Conditional {
                    condition,
                    on_true,
                    on_false,
                } => {
                    if condition.eval(&self.facts) {
                        *on_true
                    } else {
                        *on_false
                    }
                }
                ElementKind::Percentage {
                    branches,
                    otherwise,
                } => {
                    let u = self.router.draw();
                    match branches.iter().find(|(upper, _)| u < *upper) {
                        Some((_, target)) => *target,
                        // Rounding can leave a sliver above a 100% total.
                        // (Validation guarantees at least one branch.)
                        None => otherwise.or(branches.last().map(|b| b.1)).unwrap_or(at),
                    }
                }
                ElementKind::RateLimit {
                    budget,
                    success,
                    fallback,
                } => match self.check_budget(&element.id, budget)? {
                    Ok(()) => *success,
                    Err(refusal) => match fallback {
                        Some(next) => *next,
                        None => {
                            self.state = State::Done;
                            return Err(Error::new(
                                ErrorKind::RateLimited,
                                format!(
                                    "route {}: element {}: {refusal}",
                                    self.route.name, element.id
                                ),
                            ));
                        }
                    },
                },
                ElementKind::Model {
                    provider,
                    model,
                    timeout_ms,
                    retries,
                    ..
                } => {
                    self.state = State::AtModel(at);
                    return Ok(Some(ModelChoice {
                        element: element.id.clone(),
                        provider: provider.clone(),
                        model: model.clone(),
                        timeout_ms: *timeout_ms,
                        retries: *retries,
                    }));
                }
                ElementKind::End => {
                    self.state = State::Done;
                    return Ok(None);
                }
            };
        }
    }

    /// `Ok(Ok(()))` when the budget lets the request through, `Ok(Err(why))`
    /// when it refuses.
    fn check_budget(&mut self, element: &str, budget: &Budget) -> Result<Result<(), String>> {
        let value = budget.key.as_deref().map(|k| (k, self.facts.field(k)));
        let key = match value {
            None => format!("route:{}:{element}", self.route.name),
            Some((_, Some(serde_json::Value::String(s)))) => {
                format!("route:{}:{element}:={s}", self.route.name)
            }
            Some((_, Some(v))) => format!("route:{}:{element}:={v}", self.route.name),
            // Requests without the key's value share one budget.
            Some((_, None)) => format!("route:{}:{element}:-", self.route.name),
        };
        // Built only for a refusal: admitting stays allocation-light.
        let per = || {
            let w = budget.window;
            let whose = match value {
                None => String::new(),
                Some((k, Some(v))) => format!(" for {k} = {v}"),
                Some((k, None)) => format!(" for requests without {k}"),
            };
            format!(
                "per {} s ({} window){whose}",
                w.interval.as_secs(),
                w.technique
            )
        };
        let store_error = |e: crate::store::StoreError| {
            Error::new(
                ErrorKind::Connect,
                format!(
                    "route {}: element {element}: budget store: {e}",
                    self.route.name
                ),
            )
        };
        let w = budget.window;
        match budget.limit_type {
            LimitType::Count => {
                match self
                    .counters
                    .admit(&key, w, budget.limit, 1.0, None)
                    .map_err(store_error)?
                {
                    Admission::Admitted => Ok(Ok(())),
                    Admission::Refused { retry_in } => Ok(Err(format!(
                        "rate limited: at most {} requests {}; the next is allowed in {} ms",
                        budget.limit,
                        per(),
                        retry_in.as_millis().max(1)
                    ))),
                }
            }
            LimitType::Cost => {
                let (spent, next_drop) = self.counters.total(&key, w, None).map_err(store_error)?;
                if spent < budget.limit {
                    self.cost_budgets.push((key, w));
                    Ok(Ok(()))
                } else {
                    Ok(Err(format!(
                        "rate limited: cost budget of ${} {} is spent (${spent}); it next drops in {} ms",
                        budget.limit,
                        per(),
                        next_drop.as_millis().max(1)
                    )))
                }
            }
        }
    }

    /// Whether another model may follow the one handed out last (it has a
    /// `fallback` output): cooldowns skip a choice only when this is true.
    pub fn may_follow(&self) -> bool {
        match self.state {
            State::AtModel(i) => matches!(
                self.route.elements[i].kind,
                ElementKind::Model {
                    fallback: Some(_),
                    ..
                }
            ),
            _ => false,
        }
    }

    /// Ids of the elements passed so far, in order (for the log record).
    pub fn taken(&self) -> Vec<&str> {
        self.taken
            .iter()
            .map(|&i| self.route.elements[i].id.as_str())
            .collect()
    }

    /// The walk so far, for `CallRecord::route`.
    pub fn record(&self) -> RouteTaken {
        RouteTaken {
            name: self.route.name.clone(),
            elements: self.taken().into_iter().map(String::from).collect(),
        }
    }

    /// Charges `cost` (US dollars) to every cost budget the walk passed.
    /// Call once, when the call's cost is known; later calls charge nothing.
    pub fn settle(&mut self, cost: f64) -> Result<()> {
        let budgets = std::mem::take(&mut self.cost_budgets);
        if !(cost.is_finite() && cost > 0.0) {
            return Ok(());
        }
        for (key, window) in budgets {
            self.counters
                .charge(&key, window, cost, None)
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Connect,
                        format!("route {}: budget store: {e}", self.route.name),
                    )
                })?;
        }
        Ok(())
    }
}
