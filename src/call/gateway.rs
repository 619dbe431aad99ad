//! The gateway: routes a request to one provider or through the Universal
//! Endpoint's steps, retrying and falling back as the controls say.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::call::exchange::{CallRecord, Mode, exchange};
use crate::call::request::{Request, split_controls};
use crate::call::response::Response;
use crate::call::stream::StreamSink;
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::http::header_list::HeaderList;
use crate::observe::log::{AttemptRecord, LogCallback, LogFilter, LogStore};
use crate::observe::metrics::Metrics;
use crate::plan::step::{PlanContext, PlanInput, Planner, check_size};
use crate::policy::cache::ResponseCache;
use crate::policy::ratelimit::RateLimiter;
use crate::policy::retry::{backoff_delay, is_retryable_status, parse_retry_after};
use crate::providers::provider::Providers;
use crate::routing::{RequestFacts, RouteWalk, Router};
use crate::store::{CacheStore, CooldownStore, CounterStore, MemoryStore};
use crate::transport::io_scope::{IoScope, IoState};
use crate::transport::{Upstream, UpstreamResponse, classify};

pub use crate::http::headers::STEP_HEADER;
// The step vocabulary, named where `run_steps` is (compat, tests).
pub use crate::plan::step::{ListSteps, NextStep, Plan, PlannedStep, StepSource};

/// The plan sources, asked in this order: the Universal Endpoint, the
/// unified API's (`compat/` paths: routes, then one-step requests), then
/// provider endpoints (last: they take every other path). A new plan source
/// is a new entry, here or in a group such as `compat::planner::PLANNERS`.
pub const PLANNERS: &[&dyn Planner] = &[
    &crate::plan::universal::UniversalPlanner,
    &crate::compat::planner::PLANNERS,
    &crate::plan::endpoint::EndpointPlanner,
];
// The run loop's vocabulary, named where `run_steps` is (tests, compat).
pub use crate::policy::retry::Verdict;

/// A configured gateway. Shareable across threads (`Sync`): sends through one
/// gateway share its connection pool, cache, rate limit, logs and metrics.
#[derive(Debug)]
pub struct Gateway {
    pub(crate) config: Config,
    pub(crate) providers: Providers,
    upstream: Upstream,
    pub(crate) cache: ResponseCache,
    pub(crate) limiter: Option<RateLimiter>,
    /// Where counted state lives (rate limit, budgets); shared with `limiter`.
    pub(crate) counters: Arc<dyn CounterStore>,
    /// Consecutive failures and cool-downs per provider and model.
    pub(crate) cooldowns: Arc<dyn CooldownStore>,
    /// The configured routes, walked for `dynamic/<route>` requests.
    pub(crate) router: Router,
    pub(crate) logs: LogStore,
    pub(crate) metrics: Metrics,
}

/// How a plan's run ended, when it did not fail outright.
pub enum Finished {
    Served(Response),
    /// Every step failed; this is the latest HTTP response any produced.
    Exhausted(Response),
}

impl Gateway {
    pub fn new(config: Config) -> Result<Gateway> {
        let upstream = Upstream::new(&config)?;
        let providers = Providers::new(config.providers.clone(), config.account_id.clone());
        let memory = Arc::new(MemoryStore::default());
        let metrics = Metrics::default();
        let shared = (config.shared_state.as_ref())
            .map(crate::store::shared::open)
            .transpose()
            .map_err(Error::invalid_config)?;
        let counters: Arc<dyn CounterStore> = match &shared {
            Some(store) => store.clone(),
            None => memory.clone(),
        };
        let cooldowns: Arc<dyn CooldownStore> = match &shared {
            Some(store) => store.clone(),
            None => memory,
        };
        if let Some(store) = &shared {
            metrics.attach_redis(store.store().stats());
        }
        let shared_cache = shared.map(|store| store as Arc<dyn CacheStore>);
        Ok(Gateway {
            cache: ResponseCache::new(config.cache_max_entries, config.cache_max_bytes)
                .with_shared(shared_cache),
            limiter: config
                .rate_limit
                .map(|c| RateLimiter::new(c, counters.clone())),
            counters,
            cooldowns,
            router: Router::new(config.routes.clone(), config.route_seed),
            logs: LogStore::new(config.log_capacity),
            metrics,
            config,
            providers,
            upstream,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Sends a request and reads the whole response body.
    ///
    /// Returns `Ok` whenever an upstream HTTP response is available, whatever
    /// its status; fails only when no step produced one, or the call was
    /// rate limited, cancelled or hit a size limit.
    pub fn send(&self, request: &Request) -> Result<Response> {
        exchange(self, request, Mode::Whole)
    }

    /// Sends a request and streams the serving response to `sink`. Returns
    /// the response head (status, headers, step; empty body).
    pub fn send_stream(&self, request: &Request, sink: &mut dyn StreamSink) -> Result<Response> {
        exchange(self, request, Mode::Stream(sink))
    }

    /// Replaces the log callback; see [`crate::observe::log::LogStore::set_callback`].
    pub fn set_log_callback(&self, callback: Option<Arc<LogCallback>>) {
        self.logs.set_callback(callback);
    }

    /// The kept log records matching `filter`, oldest first, as a JSON array.
    pub fn logs_json(&self, filter: &LogFilter) -> String {
        self.logs.query(filter)
    }

    pub fn metrics_json(&self) -> String {
        self.metrics.to_json()
    }

    pub fn metrics_prometheus(&self) -> String {
        self.metrics.to_prometheus()
    }

    /// Starts a walk of route `name` (`dynamic/<name>`) for one request,
    /// its budgets counted in the gateway's counter store.
    pub fn route_walk<'a>(&'a self, name: &str, facts: RequestFacts<'a>) -> Result<RouteWalk<'a>> {
        self.router.walk(name, facts, &*self.counters)
    }

    /// Turns a request into steps, checking everything that can be checked
    /// before the network: path, providers, Universal body, controls, sizes.
    /// The first of [`PLANNERS`] that recognises the request plans it.
    pub fn plan(&self, request: &Request) -> Result<Plan> {
        let (request_controls, forward) = split_controls(&request.headers)?;
        check_size(&self.config, request.body.len(), || {
            "the request body".into()
        })?;
        let mut input = PlanInput {
            method: &request.method,
            path: request.path.trim(),
            body: &request.body,
            forward,
            base: self.config.controls.over(&request_controls.retry),
        };
        let mut plan = Plan::new(request_controls.features);
        let ctx = PlanContext {
            config: &self.config,
            providers: &self.providers,
            router: &self.router,
            planners: PLANNERS,
        };
        for planner in PLANNERS {
            if planner.plan(&ctx, &mut input, &mut plan)? {
                return Ok(plan);
            }
        }
        // Unreachable while `EndpointPlanner` is last: it plans or refuses every path.
        Err(Error::invalid_request(format!(
            "no plan for path {:?}",
            input.path
        )))
    }

    /// Runs a plan: each step's attempts in order, then the next step, until
    /// `judge` accepts a response. `judge` reads the response (or as much of
    /// it as it needs) and says how the attempt ended.
    pub fn run(
        &self,
        plan: &Plan,
        scope: &IoScope,
        record: &mut CallRecord,
        judge: &mut dyn FnMut(&PlannedStep, UpstreamResponse, &IoState) -> Verdict,
    ) -> Result<Finished> {
        self.run_steps(plan, &mut ListSteps::new(&plan.steps), scope, record, judge)
    }

    /// [`Gateway::run`] with the steps taken from `source` as they are
    /// needed; `plan` gives everything but the steps.
    pub fn run_steps(
        &self,
        plan: &Plan,
        source: &mut dyn StepSource,
        scope: &IoScope,
        record: &mut CallRecord,
        judge: &mut dyn FnMut(&PlannedStep, UpstreamResponse, &IoState) -> Verdict,
    ) -> Result<Finished> {
        let state = scope.state();
        let mut tried = false;
        let mut last_http: Option<Response> = None;
        let mut failures: Vec<String> = Vec::new();
        let mut all_timeouts = true;
        let mut last_error_kind = ErrorKind::Connect;
        let cooldowns = crate::policy::cooldown::Cooldowns {
            config: self.config.cooldown,
            store: &*self.cooldowns,
            metrics: &self.metrics,
        };

        loop {
            let next = match source.next_step() {
                Ok(Some(next)) => next,
                Ok(None) => break,
                Err(e) if !tried => return Err(e),
                Err(e) => {
                    failures.push(e.message);
                    break;
                }
            };
            let step = next.step;
            let settings = &step.settings;
            // Where the step went, for failure messages only (built when one is).
            let place = || {
                let mut who = format!("{} at {}", step.target.provider, step.target.host);
                if let Some(proxy) = self.upstream.proxy_for(&step.target.url) {
                    who.push_str(&format!(" via proxy {proxy}"));
                }
                if plan.universal {
                    format!("step {} ({who})", step.index)
                } else {
                    who
                }
            };
            let cooling = if next.last {
                None
            } else {
                cooldowns.cooling_skip(&step.target, &step.body)?
            };
            if let Some(left) = cooling {
                // As if it had failed at once: the next choice runs.
                let why = format!(
                    "skipped: cooling down for {} s more after failing repeatedly",
                    left.as_secs().max(1)
                );
                record.attempts.push(AttemptRecord {
                    step: step.index,
                    provider: step.target.provider.clone(),
                    status_code: None,
                    error: Some(why.clone()),
                    duration_ms: 0.0,
                });
                failures.push(format!("{}: {why}", place()));
                all_timeouts = false;
                continue;
            }
            tried = true;
            let mut attempts_made = 0;
            let mut outcome = String::new();
            // What this step's previous attempt asked for in Retry-After.
            let mut retry_after: Option<Duration> = None;
            for attempt in 0..settings.max_attempts {
                if attempt > 0 {
                    let backoff = backoff_delay(settings, attempt);
                    let asked = retry_after
                        .unwrap_or(Duration::ZERO)
                        .min(self.config.retry_after_cap);
                    sleep_unless_cancelled(backoff.max(asked), state).map_err(|e| {
                        Error::new(
                            e.kind,
                            format!("{}: {} while waiting to retry", place(), e.message),
                        )
                    })?;
                }
                attempts_made += 1;
                record.last_step = Some(step.index);
                let attempt_started = Instant::now();
                let mut head_at = None;
                state.reset_fired();
                state.set_deadline(settings.request_timeout.map(|t| Instant::now() + t));
                let started =
                    self.upstream
                        .start(&step.method, &step.target.url, &step.headers, &step.body);
                state.set_deadline(None);
                let verdict = match started {
                    Ok(upstream) => {
                        head_at = Some(Instant::now());
                        state.set_idle_timeout(settings.stream_idle_timeout);
                        let verdict = judge(step, upstream, state);
                        state.set_idle_timeout(None);
                        verdict
                    }
                    Err(e) => {
                        let (kind, reason) = classify(&e, state.fired());
                        let reason = match (kind, settings.request_timeout) {
                            (ErrorKind::Timeout, Some(t)) => {
                                format!("{reason} ({} ms)", t.as_millis())
                            }
                            _ => reason,
                        };
                        let error = Error::new(kind, reason);
                        if is_fatal(kind) {
                            Verdict::Fatal(error)
                        } else {
                            Verdict::Failed(error)
                        }
                    }
                };
                let (status_code, error) = match &verdict {
                    Verdict::Served(r) | Verdict::Rejected(r) => (Some(r.status), None),
                    Verdict::Failed(e) | Verdict::Fatal(e) => (None, Some(e.message.clone())),
                };
                record.attempts.push(AttemptRecord {
                    step: step.index,
                    provider: step.target.provider.clone(),
                    status_code,
                    error,
                    duration_ms: millis(attempt_started.elapsed()),
                });
                cooldowns.note_for_cooldown(&step.target, &step.body, &verdict);
                match verdict {
                    Verdict::Served(response) => {
                        record.ttfb = head_at.map(|t| t - record.started);
                        return Ok(Finished::Served(response));
                    }
                    // Name where a cancel struck; other fatal errors say so already.
                    Verdict::Fatal(e) if e.kind == ErrorKind::Cancelled => {
                        return Err(Error::new(e.kind, format!("{}: {}", place(), e.message)));
                    }
                    Verdict::Fatal(e) => return Err(e),
                    Verdict::Rejected(response) => {
                        all_timeouts = false;
                        let retryable = is_retryable_status(response.status);
                        outcome = format!("HTTP {}", response.status);
                        retry_after = response
                            .header("retry-after")
                            .and_then(|v| parse_retry_after(v, SystemTime::now()));
                        last_http = Some(response);
                        if !retryable {
                            break;
                        }
                    }
                    Verdict::Failed(e) => {
                        all_timeouts &= e.kind == ErrorKind::Timeout;
                        last_error_kind = e.kind;
                        let retryable = matches!(e.kind, ErrorKind::Connect | ErrorKind::Timeout);
                        outcome = e.message;
                        retry_after = None;
                        if !retryable {
                            break;
                        }
                    }
                }
            }
            let tries = if attempts_made == 1 {
                String::new()
            } else {
                format!(" after {attempts_made} attempts")
            };
            failures.push(format!("{}: {outcome}{tries}", place()));
        }

        if let Some(response) = last_http {
            return Ok(Finished::Exhausted(response));
        }
        let kind = if all_timeouts {
            ErrorKind::Timeout
        } else {
            last_error_kind
        };
        let summary = if plan.universal {
            format!("every step failed: {}", failures.join("; "))
        } else {
            failures.join("; ")
        };
        Err(Error::new(kind, summary))
    }
}

/// A duration in milliseconds with microsecond precision, for records.
pub fn millis(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

/// Errors that end the call at once instead of moving to the next attempt.
pub(crate) fn is_fatal(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Cancelled
            | ErrorKind::Aborted
            | ErrorKind::BodyTooLarge
            | ErrorKind::StreamInterrupted
    )
}

fn sleep_unless_cancelled(wait: Duration, state: &IoState) -> Result<()> {
    let until = Instant::now() + wait;
    loop {
        if state.is_cancelled() {
            return Err(Error::new(ErrorKind::Cancelled, "cancelled"));
        }
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        std::thread::sleep((until - now).min(crate::transport::io_scope::POLL_SLICE));
    }
}

/// Converts the head and reads the whole body, at most `limit` bytes. Nothing
/// has been delivered yet, so a body that stalls past the idle timeout is a
/// retryable timeout here, not an interrupted stream.
pub fn read_whole(
    plan: &Plan,
    step: &PlannedStep,
    upstream: UpstreamResponse,
    limit: u64,
    state: &IoState,
) -> Result<Response> {
    let (head, body) = upstream.into_parts();
    let mut response = response_head(plan, step, &head);
    // Read straight into the body (no bounce buffer), one byte past the
    // limit so that going over it shows.
    // The upstream's length (a translated head no longer carries it).
    let announced = head.headers.get(ureq::http::header::CONTENT_LENGTH);
    if let Some(len) = announced.and_then(|v| v.to_str().ok()?.parse::<u64>().ok()) {
        // Trust the announced length only so far: a hostile upstream could
        // announce the limit and send nothing.
        response.body.reserve(len.min(limit).min(1 << 20) as usize);
    }
    let reader = body.into_with_config().limit(u64::MAX).reader();
    match reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut response.body)
    {
        Ok(_) if response.body.len() as u64 > limit => {
            return Err(Error::new(
                ErrorKind::BodyTooLarge,
                format!(
                    "{} at {}: response body exceeds the limit of {limit} bytes",
                    step.target.provider, step.target.host
                ),
            ));
        }
        Ok(_) => {}
        Err(e) => {
            let (kind, reason) = classify(&ureq::Error::Io(e), state.fired());
            // A stalled body is retryable here: nothing was delivered yet.
            let kind = match kind {
                ErrorKind::StreamInterrupted => ErrorKind::Timeout,
                other => other,
            };
            return Err(Error::new(
                kind,
                format!("{reason} (while reading the body)"),
            ));
        }
    }
    // The unified API: the answer in the caller's format.
    if let Some(compat) = &step.compat {
        compat.translate_whole(&mut response)?;
    }
    Ok(response)
}

/// The response head as the caller sees it: upstream status and headers,
/// plus `cf-aig-step` for Universal requests and the gateway's own headers.
/// The body is left empty.
pub fn response_head(
    plan: &Plan,
    step: &PlannedStep,
    head: &ureq::http::response::Parts,
) -> Response {
    // Besides the gateway's own headers, room for what the compat layer
    // adds (content type, provider, model) and `cf-aig-step`.
    const ADDED_HERE: usize = 4;
    let ours = step.response_headers.iter().chain(&plan.response_headers);
    // A translated answer's length and type are the compat layer's to set.
    let skip = |name: &str| step.compat.is_some() && crate::compat::CompatStep::sets_header(name);
    let mut r = Response {
        status: head.status.as_u16(),
        headers: convert_headers(&head.headers, ours.clone().count() + ADDED_HERE, skip),
        body: Vec::new(),
        step: step.index,
    };
    if let Some(compat) = &step.compat {
        compat.adjust_head(&mut r);
    }
    if plan.universal {
        r.headers.push(STEP_HEADER, &step.index.to_string());
    }
    r.headers
        .extend(ours.map(|(n, v)| (n.as_str(), v.as_str())));
    r
}

/// Header names and values as text, with room for `more` headers, leaving
/// out those `skip` names (lowercase); a value that is not UTF-8 is
/// converted lossily (C callers get a NUL-terminated string either way).
pub fn convert_headers(
    headers: &ureq::http::HeaderMap,
    more: usize,
    skip: impl Fn(&str) -> bool,
) -> HeaderList {
    let bytes: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len())
        .sum();
    let mut list = HeaderList::with_capacity(headers.len() + more, bytes + 64 * more);
    for (n, v) in headers {
        if !skip(n.as_str()) {
            list.push(n.as_str(), &crate::http::text(v.as_bytes()));
        }
    }
    list
}
