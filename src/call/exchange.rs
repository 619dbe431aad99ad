//! One call through the gateway, end to end: the cache, the rate limit, the
//! run itself, then the log record and the metrics.

use std::time::{Duration, Instant, SystemTime};

use crate::call::gateway::{
    Finished, Gateway, Plan, PlannedStep, Verdict, is_fatal, millis, read_whole,
};
use crate::call::request::Request;
use crate::call::response::Response;
use crate::call::stream::{StreamSink, is_event_stream, replay, run_stream, run_stream_steps};
use crate::compat::routed::RouteSteps;
use crate::compat::{CompatSink, StepTranslations};
use crate::error::{Error, ErrorKind, Result};
use crate::http::sse::SseEvent;
use crate::observe::log::{AttemptRecord, LogRecord, redact_body, redact_path, rfc3339};
use crate::observe::metrics::Observation;
use crate::policy::cache::{
    CACHE_STATUS_HEADER, CacheKey, CachedResponse, Lookup, compute_key, custom_key,
};
use crate::providers::adapter::{BY_SHAPE, Reports, adapter};
use crate::providers::usage::{StreamUsage, Usage, cost};
use crate::routing::RouteTaken;
use crate::transport::io_scope::IoScope;

pub use crate::http::headers::{EVENT_ID_HEADER, LOG_ID_HEADER};
/// TTL of a request that sets `cf-aig-cache-key` but no TTL anywhere (as the
/// hosted gateway: five minutes).
pub const DEFAULT_CUSTOM_KEY_TTL: Duration = Duration::from_secs(300);
/// Payload bodies in log records are cut at this many bytes.
pub const LOG_PAYLOAD_LIMIT: usize = 64 * 1024;

pub(crate) enum Mode<'a> {
    Whole,
    Stream(&'a mut dyn StreamSink),
}

/// What one call learns as it runs: the run fills in the attempts, timings
/// and step, the exchange the cache, usage, body and sizes. The log record
/// and the metrics are made from it.
#[derive(Debug)]
pub struct CallRecord {
    pub started: Instant,
    pub attempts: Vec<AttemptRecord>,
    /// When the serving response's head arrived.
    pub ttfb: Option<Duration>,
    /// The step of the latest attempt, served or not.
    pub last_step: Option<usize>,
    /// The dynamic route walked, and the elements it took (see `routing`).
    pub route: Option<RouteTaken>,
    /// The cache served the call.
    pub cached: bool,
    pub usage: Usage,
    /// The response body, when it is needed after the call (cache, logs).
    pub body: Option<Vec<u8>>,
    pub response_size: usize,
    /// An error event that arrived after the stream committed: the call
    /// returns the head, but the record says it failed.
    pub stream_error: Option<String>,
}

impl CallRecord {
    pub fn new(started: Instant) -> CallRecord {
        CallRecord {
            started,
            attempts: Vec::new(),
            ttfb: None,
            last_step: None,
            route: None,
            cached: false,
            usage: Usage::default(),
            body: None,
            response_size: 0,
            stream_error: None,
        }
    }
}

/// One call through the gateway: what it was asked, what it planned, and
/// what it learned on the way (`record`). The log record and the metrics
/// are made from it.
pub(crate) struct Call<'g, 'r> {
    gw: &'g Gateway,
    request: &'r Request,
    id: String,
    created: SystemTime,
    stream: bool,
    /// `None` when planning failed.
    plan: Option<Plan>,
    record: CallRecord,
}

/// Sends `request` through `gw`, whole or streamed: plan, cache, rate limit,
/// run, then the log record and metrics.
pub(crate) fn exchange(gw: &Gateway, request: &Request, mut mode: Mode<'_>) -> Result<Response> {
    let created = SystemTime::now();
    let mut call = Call {
        gw,
        request,
        id: gw.logs.ids.make(created),
        created,
        stream: matches!(mode, Mode::Stream(_)),
        plan: None,
        record: CallRecord::new(Instant::now()),
    };
    // Errors noted here belong to this call only.
    let _ = crate::store::shared::take_noted_error();
    let mut plan = match gw.plan(request) {
        Ok(plan) => plan,
        Err(e) => {
            let result = Err(e);
            call.finish(&result);
            return result;
        }
    };
    plan.response_headers
        .push((LOG_ID_HEADER.into(), call.id.clone()));
    if let Some(event_id) = &plan.features.event_id {
        plan.response_headers
            .push((EVENT_ID_HEADER.into(), event_id.clone()));
    }
    let scope = IoScope::enter(request.cancel.clone());
    // `dynamic/<route>`: the route is walked as the run needs steps.
    let routed = plan.route.clone();
    let mut source = None;
    let result = match routed
        .as_deref()
        .map(|r| RouteSteps::new(gw, r))
        .transpose()
    {
        Ok(s) => {
            source = s;
            call.exchange_plan(&mut plan, &scope, &mut mode, source.as_mut())
        }
        Err(e) => Err(e),
    };
    if let Some(source) = source.as_mut() {
        source.conclude(&mut plan, &mut call.record);
    }
    call.plan = Some(plan);
    let cost = call.finish(&result);
    // Cost budgets are charged once the cost is known (a stream's at its end).
    if let (Some(source), Some(cost)) = (source.as_mut(), cost) {
        // The response is delivered: a store error here cannot refuse it.
        let _ = source.settle(cost);
    }
    result
}

/// The cache key and TTL, if this request goes through the cache.
fn cache_plan(gw: &Gateway, request: &Request, plan: &Plan) -> Option<(CacheKey, Duration)> {
    let f = &plan.features;
    if f.skip_cache {
        return None;
    }
    let ttl = match (f.cache_ttl_s, gw.config.cache_ttl_s, &f.cache_key) {
        (Some(0), _, _) => return None,
        (Some(s), _, _) => Duration::from_secs(s),
        (None, s, _) if s > 0 => Duration::from_secs(s),
        (None, _, Some(_)) => DEFAULT_CUSTOM_KEY_TTL,
        _ => return None,
    };
    let key = match &f.cache_key {
        Some(k) => custom_key(k),
        None => compute_key(
            &request.method,
            request.path.trim(),
            &request.headers,
            &request.body,
        ),
    };
    Some((key, ttl))
}

impl Call<'_, '_> {
    fn exchange_plan(
        &mut self,
        plan: &mut Plan,
        scope: &IoScope,
        mode: &mut Mode<'_>,
        source: Option<&mut RouteSteps<'_>>,
    ) -> Result<Response> {
        let Call {
            gw,
            request,
            record,
            ..
        } = self;
        let (gw, request) = (*gw, *request);
        let cache_plan = cache_plan(gw, request, plan);
        let mut claim = None;
        if let Some((key, _)) = &cache_plan {
            match gw.cache.lookup(key, scope.state())? {
                Lookup::Hit(entry) => {
                    record.cached = true;
                    let mut response = entry.response.clone();
                    response.headers.push(CACHE_STATUS_HEADER, "HIT");
                    response.headers.extend(
                        plan.response_headers
                            .iter()
                            .map(|(n, v)| (n.as_str(), v.as_str())),
                    );
                    record.usage = entry.usage;
                    record.response_size = response.body.len();
                    record.last_step = Some(response.step);
                    record.ttfb = Some(record.started.elapsed());
                    if wants_payloads(gw, plan) {
                        record.body = Some(response.body.clone());
                    }
                    return match mode {
                        Mode::Whole => Ok(response),
                        Mode::Stream(sink) => {
                            let body = std::mem::take(&mut response.body);
                            replay(gw, scope.state(), &mut **sink, &response, &body)?;
                            Ok(response)
                        }
                    };
                }
                Lookup::Miss(c) => {
                    claim = Some(c);
                    plan.response_headers
                        .push((CACHE_STATUS_HEADER.into(), "MISS".into()));
                }
            }
        }

        // Cache hits are not counted: they cost no provider anything.
        if let Some(limiter) = &gw.limiter {
            let admitted = limiter
                .admit(None)
                .map_err(|e| Error::new(ErrorKind::Connect, format!("rate limit store: {e}")))?;
            if let Err(wait) = admitted {
                let c = limiter.config();
                return Err(Error::new(
                    ErrorKind::RateLimited,
                    format!(
                        "rate limited: at most {} requests per {} s ({} window); the next request is allowed in {} ms",
                        c.limit,
                        c.interval.as_secs(),
                        c.technique,
                        wait.as_millis().max(1)
                    ),
                ));
            }
        }

        let keep_body = claim.is_some() || wants_payloads(gw, plan);
        // How the serving step's provider reports usage and errors.
        let routed = source.as_deref().map(RouteSteps::translations);
        let plan: &Plan = plan;
        let reports_of = |step: usize| reports_of(plan, routed.as_ref(), step);
        let (response, body) = match mode {
            Mode::Whole => {
                let response = run_whole(gw, plan, scope, record, source)?;
                // A translated answer hands its usage over; others are read.
                record.usage = crate::compat::whole_usage(&plan.steps, &response)
                    .unwrap_or_else(|| (reports_of(response.step).usage_of_body)(&response.body));
                record.response_size = response.body.len();
                let body = keep_body.then(|| response.body.clone());
                (response, body)
            }
            Mode::Stream(sink) => {
                let capture_limit = if claim.is_some() {
                    gw.config.cache_max_bytes as usize
                } else {
                    LOG_PAYLOAD_LIMIT
                };
                let mut tap = Tap {
                    inner: &mut **sink,
                    usage: StreamUsage::default(),
                    bytes: 0,
                    body: keep_body.then(Vec::new),
                    capture_limit,
                    plain: None,
                    error_event: None,
                    reports_of: &reports_of,
                    reports: &BY_SHAPE,
                };
                // The unified API (src/compat) translates streams on the way.
                let wrapped = match source.as_deref() {
                    Some(s) => Ok(CompatSink::wrap_shared(s.translations(), &mut tap)),
                    None => CompatSink::wrap(plan, &mut tap),
                };
                let head = match wrapped {
                    Ok(mut compat) => {
                        let run = match source {
                            Some(s) => run_stream_steps(gw, plan, s, scope, record, &mut compat),
                            None => run_stream(gw, plan, scope, record, &mut compat),
                        }
                        .map_err(|e| compat.take_failure().unwrap_or(e))
                        .and_then(|head| compat.finish().map(|()| head));
                        // The hub's usage counts cached input; prefer it.
                        if let Some(u) = compat.usage() {
                            record.usage = crate::compat::log_usage(u);
                        }
                        run?
                    }
                    Err(tap) => run_stream(gw, plan, scope, record, tap)?,
                };
                if record.usage.is_empty() {
                    record.usage = match &tap.plain {
                        // Not an event stream: the usage is in the whole body.
                        Some(plain) => (tap.reports.usage_of_body)(plain),
                        None => tap.usage.usage(),
                    };
                }
                record.response_size = tap.bytes;
                record.stream_error = tap.error_event;
                (head, tap.body)
            }
        };
        let mut body = body;
        let served = record.ttfb.is_some();
        if let (Some(claim), Some((_, ttl))) = (claim, cache_plan) {
            let storable = body.as_ref().is_some_and(|b| gw.cache.fits(b.len()));
            // A stream that reported an error after it started is not a success to replay.
            if served && response.is_success() && storable && record.stream_error.is_none() {
                // The log needs the body afterwards only for payloads.
                let stored_body = if wants_payloads(gw, plan) {
                    body.clone().unwrap_or_default()
                } else {
                    body.take().unwrap_or_default()
                };
                let stored = Response {
                    status: response.status,
                    headers: response
                        .headers
                        .iter()
                        .filter(|(n, _)| {
                            !n.eq_ignore_ascii_case(LOG_ID_HEADER)
                                && !n.eq_ignore_ascii_case(EVENT_ID_HEADER)
                                && !n.eq_ignore_ascii_case(CACHE_STATUS_HEADER)
                        })
                        .collect(),
                    body: stored_body,
                    step: response.step,
                };
                claim.fulfil(CachedResponse::new(stored, ttl, record.usage));
            }
            // Otherwise the claim drops: waiters go to the upstream themselves.
        }
        record.body = body;
        Ok(response)
    }

    /// Records the call: metrics always, a log record unless turned off.
    /// Returns the call's cost, when known.
    fn finish(&self, result: &Result<Response>) -> Option<f64> {
        let Call {
            gw,
            request,
            id,
            created,
            stream,
            plan,
            record,
        } = self;
        let plan = plan.as_ref();
        let duration = record.started.elapsed();
        let step_index = match result {
            Ok(r) => Some(r.step),
            Err(_) => record.last_step,
        };
        let step: Option<&PlannedStep> = plan.and_then(|p| {
            step_index
                .and_then(|i| p.steps.get(i))
                .or_else(|| p.steps.first())
        });
        let provider = step.map(|s| s.target.provider.clone());
        let model = step.and_then(model_of);
        let (status_code, success, error) = match result {
            Ok(r) => (
                Some(r.status),
                r.is_success() && record.stream_error.is_none(),
                record.stream_error.clone(),
            ),
            Err(e) => (None, false, Some(e.message.clone())),
        };
        let custom_cost = plan.and_then(|p| p.features.custom_cost);
        // A cache hit spends nothing.
        let cost = if record.cached {
            Some(0.0)
        } else {
            cost(model.as_deref(), record.usage, custom_cost)
        };

        gw.metrics.observe(Observation {
            provider: provider.as_deref().unwrap_or("unknown"),
            model: model.as_deref().unwrap_or_default(),
            success,
            cached: record.cached,
            tokens_in: if record.cached {
                0
            } else {
                record.usage.tokens_in.unwrap_or(0)
            },
            tokens_out: if record.cached {
                0
            } else {
                record.usage.tokens_out.unwrap_or(0)
            },
            cost: cost.unwrap_or(0.0),
            seconds: duration.as_secs_f64(),
        });

        let features = plan.map(|p| &p.features);
        let collect = features
            .and_then(|f| f.collect_log)
            .unwrap_or(gw.config.collect_logs);
        if !collect {
            return cost;
        }
        let payloads = plan.is_some_and(|p| wants_payloads(gw, p));
        let record = LogRecord {
            id: id.to_string(),
            created_at: rfc3339(*created),
            provider,
            model,
            path: redact_path(&request.path),
            step: result.as_ref().ok().map(|r| r.step),
            status_code,
            success,
            cached: record.cached,
            duration_ms: millis(duration),
            ttfb_ms: record.ttfb.map(millis),
            tokens_in: record.usage.tokens_in,
            tokens_out: record.usage.tokens_out,
            cost,
            metadata: features.and_then(|f| f.metadata.clone()),
            event_id: features.and_then(|f| f.event_id.clone()),
            stream: *stream,
            request_size: request.body.len(),
            response_size: record.response_size,
            error,
            shared_state_error: crate::store::shared::take_noted_error(),
            attempts: record.attempts.clone(),
            route: record.route.as_ref().map(|r| r.name.clone()),
            route_elements: record
                .route
                .as_ref()
                .map(|r| r.elements.clone())
                .unwrap_or_default(),
            request_body: payloads.then(|| truncate(redact_body(&request.body))),
            response_body: if payloads {
                record
                    .body
                    .as_deref()
                    .map(|b| truncate(String::from_utf8_lossy(b).into_owned()))
            } else {
                None
            },
        };
        gw.logs.record(record);
        cost
    }
}

fn run_whole(
    gw: &Gateway,
    plan: &Plan,
    scope: &IoScope,
    record: &mut CallRecord,
    source: Option<&mut RouteSteps<'_>>,
) -> Result<Response> {
    let limit = gw.config.max_response_body_bytes;
    let mut judge = |step: &PlannedStep, upstream, state: &_| match read_whole(
        plan, step, upstream, limit, state,
    ) {
        Ok(r) if r.is_success() => Verdict::Served(r),
        Ok(r) => Verdict::Rejected(r),
        Err(e) if is_fatal(e.kind) => Verdict::Fatal(e),
        Err(e) => Verdict::Failed(e),
    };
    let finished = match source {
        Some(source) => gw.run_steps(plan, source, scope, record, &mut judge),
        None => gw.run(plan, scope, record, &mut judge),
    }?;
    Ok(match finished {
        Finished::Served(r) | Finished::Exhausted(r) => r,
    })
}

fn wants_payloads(gw: &Gateway, plan: &Plan) -> bool {
    gw.config.log_payloads && plan.features.collect_log_payload != Some(false)
}

fn truncate(mut s: String) -> String {
    if s.len() > LOG_PAYLOAD_LIMIT {
        let mut cut = LOG_PAYLOAD_LIMIT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// The model a step asks for (see [`crate::providers::adapter::Adapter::model_of`]).
pub fn model_of(step: &PlannedStep) -> Option<String> {
    if let Some(m) = step.compat.as_ref().and_then(|c| c.upstream_model.clone()) {
        return Some(m); // a translated step knows it without reading its body
    }
    adapter(&step.target.provider).model_of(&step.target.url, &step.body)
}

/// How the provider of step `index` reports usage and errors: the step's
/// adapter, from the plan or (a route walk's steps) their translations.
fn reports_of(plan: &Plan, routed: Option<&StepTranslations>, index: usize) -> &'static Reports {
    let provider = match routed {
        Some(steps) => steps
            .borrow()
            .get(index)
            .and_then(|s| s.as_ref().map(|s| adapter(&s.provider))),
        None => plan.steps.get(index).map(|s| adapter(&s.target.provider)),
    };
    provider.map_or(&BY_SHAPE, |a| a.reports)
}

/// Watches a stream on its way to the caller: usage from events, the body
/// for the cache and payload logs (up to a limit).
struct Tap<'a> {
    inner: &'a mut dyn StreamSink,
    usage: StreamUsage,
    bytes: usize,
    body: Option<Vec<u8>>,
    capture_limit: usize,
    /// A body that is not an event stream, kept (up to
    /// [`PLAIN_USAGE_LIMIT`]) to read its usage at the end.
    plain: Option<Vec<u8>>,
    /// The first error event after commit, described for the record.
    error_event: Option<String>,
    /// The adapter reports of a step's provider, by step index.
    reports_of: &'a dyn Fn(usize) -> &'static Reports,
    /// The serving step's, once its head arrived.
    reports: &'static Reports,
}

/// How much of a streamed non-SSE body is kept to read its usage.
const PLAIN_USAGE_LIMIT: usize = 1024 * 1024;

impl StreamSink for Tap<'_> {
    fn on_response(&mut self, head: &Response) -> bool {
        self.reports = (self.reports_of)(head.step);
        if !is_event_stream(head) {
            self.plain = Some(Vec::new());
        }
        self.inner.on_response(head)
    }

    fn on_data(&mut self, data: &[u8]) -> bool {
        self.bytes += data.len();
        if let Some(plain) = &mut self.plain {
            if plain.len() + data.len() <= PLAIN_USAGE_LIMIT {
                plain.extend_from_slice(data);
            } else {
                plain.clear();
                plain.shrink_to_fit();
            }
        }
        if let Some(body) = &mut self.body {
            if body.len() + data.len() <= self.capture_limit {
                body.extend_from_slice(data);
            } else {
                // Too big to keep: neither cached nor logged whole.
                self.body = None;
            }
        }
        self.inner.on_data(data)
    }

    fn on_event(&mut self, event: &SseEvent<'_>) -> bool {
        self.usage.add((self.reports.usage_of_event)(&event.data));
        if self.error_event.is_none() && (self.reports.is_error_event)(event) {
            self.error_event = Some(describe_error_event(event));
        }
        self.inner.on_event(event)
    }
}

/// An error event after commit, for the log record: the provider's message
/// when the data carries one (`error.message`), cut short.
fn describe_error_event(event: &SseEvent<'_>) -> String {
    #[derive(serde::Deserialize)]
    struct Body {
        error: Option<Detail>,
    }
    #[derive(serde::Deserialize)]
    struct Detail {
        message: Option<String>,
    }
    let message = serde_json::from_str::<Body>(&event.data)
        .ok()
        .and_then(|b| b.error)
        .and_then(|d| d.message)
        .unwrap_or_else(|| "no message".into());
    let mut text = format!("the stream sent an error event after it started: {message}");
    if text.len() > 300 {
        let mut cut = 300;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}
