//! The gateway: routes a request to one provider or through the Universal
//! Endpoint's steps, retrying and falling back as the controls say.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::call::exchange::{Mode, exchange};
use crate::call::request::{FeatureControls, Request, split_controls};
use crate::call::response::Response;
use crate::call::retry::{backoff_delay, is_retryable_status, parse_retry_after};
use crate::call::stream::StreamSink;
use crate::config::{Config, Settings};
use crate::error::{Error, ErrorKind, Result};
use crate::observe::log::{AttemptRecord, LogCallback, LogFilter, LogStore};
use crate::observe::metrics::Metrics;
use crate::plan::universal::parse_steps;
use crate::policy::cache::ResponseCache;
use crate::policy::ratelimit::RateLimiter;
use crate::providers::provider::{Providers, Target, split_path};
use crate::routing::{RequestFacts, RouteWalk, Router};
use crate::store::{CacheStore, CooldownStore, CounterStore, MemoryStore};
use crate::transport::io_scope::{IoScope, IoState};
use crate::transport::{Upstream, UpstreamResponse, classify};

pub use crate::http::headers::STEP_HEADER;

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
    pub compat: Option<std::sync::Arc<crate::compat::CompatStep>>,
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

/// What happened during a run, for the log record.
#[derive(Debug)]
pub struct Trace {
    pub started: Instant,
    pub attempts: Vec<AttemptRecord>,
    /// When the serving response's head arrived.
    pub ttfb: Option<Duration>,
    /// The step of the latest attempt, served or not.
    pub last_step: Option<usize>,
    /// The dynamic route walked, and the elements it took (see `routing`).
    pub route: Option<crate::routing::RouteTaken>,
}

impl Trace {
    pub fn new(started: Instant) -> Trace {
        Trace {
            started,
            attempts: Vec::new(),
            ttfb: None,
            last_step: None,
            route: None,
        }
    }
}

/// How one attempt ended, as judged by the code reading the response.
pub enum Verdict {
    /// This response serves the request: stop here.
    Served(Response),
    /// An HTTP response that does not serve the request (non-2xx, or a 2xx
    /// stream whose first event is an error). Retried if its status is
    /// retryable, then the next step runs; kept as the latest HTTP response.
    Rejected(Response),
    /// The attempt failed before anything was delivered: retry, then fall back.
    Failed(Error),
    /// Stop everything and fail the call (cancelled, aborted, too large, or a
    /// stream that broke after delivering data).
    Fatal(Error),
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
    pub fn plan(&self, request: &Request) -> Result<Plan> {
        let (request_controls, forward) = split_controls(&request.headers)?;
        let base = self.config.controls.over(&request_controls.retry);
        let features = request_controls.features;
        let body_limit = self.config.max_request_body_bytes;
        let check_size = |len: usize, what: &str| {
            if len as u64 > body_limit {
                Err(Error::new(
                    ErrorKind::BodyTooLarge,
                    format!("{what} is {len} bytes, over the limit of {body_limit} bytes"),
                ))
            } else {
                Ok(())
            }
        };
        check_size(request.body.len(), "the request body")?;

        let path = request.path.trim();
        if path.is_empty() || path == "/" {
            if !request.method.eq_ignore_ascii_case("POST") {
                return Err(Error::invalid_request(format!(
                    "the Universal Endpoint takes POST, not {}",
                    request.method
                )));
            }
            let steps = parse_steps(&request.body)?;
            let mut planned = Vec::with_capacity(steps.len());
            for (index, step) in steps.into_iter().enumerate() {
                let in_step = |e: Error| Error::new(e.kind, format!("step {index}: {}", e.message));
                // The unified API's step (src/compat).
                if step.provider == "compat" {
                    planned.push(
                        self.plan_compat_step(&step, &forward, &base, &features, index)
                            .map_err(in_step)?,
                    );
                    continue;
                }
                let target = self
                    .providers
                    .target(&step.provider, &step.endpoint)
                    .map_err(in_step)?;
                let (header_controls, step_headers) =
                    split_controls(&step.headers).map_err(in_step)?;
                let settings = base
                    .over(&header_controls.retry)
                    .over(&step.config)
                    .resolve();
                let body = step.body.unwrap_or_default();
                check_size(body.len(), &format!("step {index}'s query"))?;
                let mut headers = merge_headers(&forward, &step_headers);
                if !body.is_empty() && !has_header(&headers, "content-type") {
                    headers.push(("Content-Type".into(), "application/json".into()));
                }
                self.apply_stored_key(&target, &mut headers);
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
            return Ok(Plan {
                steps: planned,
                universal: true,
                features,
                response_headers: Vec::new(),
                route: None,
            });
        }

        // The unified API (src/compat): one translated step.
        if let Some(caller) = crate::compat::Caller::for_path(path) {
            let drop = features.drop_params.unwrap_or(self.config.drop_params);
            let settings = base.resolve();
            if let Some(routed) = crate::compat::routed::plan(
                self,
                caller,
                &request.body,
                &forward,
                drop,
                &settings,
                features.metadata.as_ref(),
            )? {
                return Ok(Plan {
                    steps: Vec::new(),
                    universal: false,
                    features,
                    response_headers: Vec::new(),
                    route: Some(Arc::new(routed)),
                });
            }
            let step = crate::compat::plan_step(
                &self.providers,
                &self.config,
                caller,
                &request.body,
                forward,
                drop,
                0,
                settings,
            )?;
            return Ok(Plan {
                steps: vec![step],
                universal: false,
                features,
                response_headers: Vec::new(),
                route: None,
            });
        }

        let (slug, rest) = split_path(path)?;
        let target = self.providers.target(slug, rest)?;
        let mut headers = forward;
        self.apply_stored_key(&target, &mut headers);
        Ok(Plan {
            steps: vec![PlannedStep {
                index: 0,
                target,
                method: request.method.clone(),
                headers,
                body: crate::alloc::try_copy(&request.body, "the request body")?,
                settings: base.resolve(),
                response_headers: Vec::new(),
                compat: None,
            }],
            universal: false,
            features,
            response_headers: Vec::new(),
            route: None,
        })
    }

    /// BYOK: the stored key for the target's provider, unless the request
    /// carries a credential of its own.
    fn apply_stored_key(&self, target: &Target, headers: &mut Vec<(String, String)>) {
        crate::providers::credentials::apply_stored(
            self.config.provider_keys.get(&target.provider),
            &target.provider,
            &target.url,
            headers,
        );
    }

    /// A Universal step with provider `compat`: its endpoint names the
    /// unified format, its query is the unified request.
    fn plan_compat_step(
        &self,
        step: &crate::plan::universal::Step,
        forward: &[(String, String)],
        base: &crate::config::Controls,
        features: &FeatureControls,
        index: usize,
    ) -> Result<PlannedStep> {
        let caller = crate::compat::Caller::for_endpoint(&step.endpoint).ok_or_else(|| {
            Error::invalid_request(format!(
                "compat endpoint {:?} is not chat/completions, embeddings or messages",
                step.endpoint
            ))
        })?;
        let (header_controls, step_headers) = split_controls(&step.headers)?;
        let settings = base
            .over(&header_controls.retry)
            .over(&step.config)
            .resolve();
        let body = step.body.clone().unwrap_or_default();
        let drop = header_controls
            .features
            .drop_params
            .or(features.drop_params)
            .unwrap_or(self.config.drop_params);
        crate::compat::plan_step(
            &self.providers,
            &self.config,
            caller,
            &body,
            merge_headers(forward, &step_headers),
            drop,
            index,
            settings,
        )
    }

    /// Runs a plan: each step's attempts in order, then the next step, until
    /// `judge` accepts a response. `judge` reads the response (or as much of
    /// it as it needs) and says how the attempt ended.
    pub fn run(
        &self,
        plan: &Plan,
        scope: &IoScope,
        trace: &mut Trace,
        judge: &mut dyn FnMut(&PlannedStep, UpstreamResponse, &IoState) -> Verdict,
    ) -> Result<Finished> {
        self.run_steps(plan, &mut ListSteps::new(&plan.steps), scope, trace, judge)
    }

    /// [`Gateway::run`] with the steps taken from `source` as they are
    /// needed; `plan` gives everything but the steps.
    pub fn run_steps(
        &self,
        plan: &Plan,
        source: &mut dyn StepSource,
        scope: &IoScope,
        trace: &mut Trace,
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
                cooldowns.cooling_skip(step)?
            };
            if let Some(left) = cooling {
                // As if it had failed at once: the next choice runs.
                let why = format!(
                    "skipped: cooling down for {} s more after failing repeatedly",
                    left.as_secs().max(1)
                );
                trace.attempts.push(AttemptRecord {
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
                trace.last_step = Some(step.index);
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
                trace.attempts.push(AttemptRecord {
                    step: step.index,
                    provider: step.target.provider.clone(),
                    status_code,
                    error,
                    duration_ms: millis(attempt_started.elapsed()),
                });
                cooldowns.note_for_cooldown(step, &verdict);
                match verdict {
                    Verdict::Served(response) => {
                        trace.ttfb = head_at.map(|t| t - trace.started);
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

/// Request-level headers with the step's laid over them: a step header
/// replaces every request header of the same name.
fn merge_headers(request: &[(String, String)], step: &[(String, String)]) -> Vec<(String, String)> {
    let mut merged: Vec<(String, String)> = request
        .iter()
        .filter(|(n, _)| !has_header(step, n))
        .cloned()
        .collect();
    merged.extend(step.iter().cloned());
    merged
}

use crate::http::headers::has_header;

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
    let mut headers = convert_headers(&head.headers);
    if let Some(compat) = &step.compat {
        let mut r = Response {
            status: head.status.as_u16(),
            headers,
            ..Response::default()
        };
        compat.adjust_head(&mut r);
        headers = r.headers;
    }
    if plan.universal {
        headers.push((STEP_HEADER.into(), step.index.to_string()));
    }
    headers.extend(step.response_headers.iter().cloned());
    headers.extend(plan.response_headers.iter().cloned());
    Response {
        status: head.status.as_u16(),
        headers,
        body: Vec::new(),
        step: step.index,
    }
}

/// Header names and values as text; a value that is not UTF-8 is converted
/// lossily (C callers get a NUL-terminated string either way).
pub fn convert_headers(headers: &ureq::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}
