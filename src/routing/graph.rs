//! Route graphs as the config gives them (`"routes": {"<name>":
//! {"elements": [...]}}`, the hosted gateway's format), checked into
//! elements that refer to each other by index.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::condition::Condition;
use crate::config::{MAX_ATTEMPTS_LIMIT, check_timeout};
use crate::store::Technique;
use crate::store::Window;

/// Most percentage outputs one `percentage` element may have (besides `else`).
pub const MAX_PERCENTAGE_OUTPUTS: usize = 5;
/// Longest budget interval, as for the gateway rate limit (366 days).
pub const MAX_BUDGET_INTERVAL_S: u64 = 86_400 * 366;

/// What a `rate_limit` element counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitType {
    /// Requests: each one passing the element counts 1.
    Count,
    /// Spend in US dollars: checked before sending, charged once known.
    Cost,
}

/// A `rate_limit` element's budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    pub limit_type: LimitType,
    /// The request field whose value picks the budget (`metadata.user_id`);
    /// `None`: one budget for every request through the element.
    pub key: Option<String>,
    pub limit: f64,
    pub window: Window,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ElementKind {
    Start {
        next: usize,
    },
    Conditional {
        condition: Condition,
        on_true: usize,
        on_false: usize,
    },
    Percentage {
        /// Cumulative upper bounds in [0, 1] with the output each leads to.
        branches: Vec<(f64, usize)>,
        otherwise: Option<usize>,
    },
    RateLimit {
        budget: Budget,
        success: usize,
        fallback: Option<usize>,
    },
    Model {
        provider: String,
        model: String,
        timeout_ms: Option<u64>,
        retries: u32,
        success: Option<usize>,
        fallback: Option<usize>,
    },
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub id: String,
    pub kind: ElementKind,
}

/// One validated route.
#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    pub elements: Vec<Element>,
    pub start: usize,
    /// The config text it came from: what two routes are compared by.
    source: Value,
}

impl PartialEq for Route {
    fn eq(&self, other: &Route) -> bool {
        self.name == other.name && self.source == other.source
    }
}

impl Eq for Route {}

/// Every configured route, by name.
pub type Routes = BTreeMap<String, Arc<Route>>;

/// Parses and checks the config's `routes` object. Errors name the route
/// and, where one is at fault, the element.
pub fn parse_routes(value: &Value) -> Result<Routes, String> {
    let Value::Object(routes) = value else {
        return Err("routes must be an object of named routes".into());
    };
    let mut out = Routes::new();
    for (name, route) in routes {
        if name.is_empty() || name.contains('/') || name.trim() != name {
            return Err(format!(
                "routes: route name {name:?} must be non-empty, without '/' or surrounding spaces"
            ));
        }
        let parsed = parse_route(name, route).map_err(|m| format!("routes.{name}: {m}"))?;
        out.insert(name.clone(), Arc::new(parsed));
    }
    Ok(out)
}

fn parse_route(name: &str, value: &Value) -> Result<Route, String> {
    let Value::Object(obj) = value else {
        return Err("a route must be an object with \"elements\"".into());
    };
    // `id` and `name` are what the hosted gateway's API returns with a
    // route; the config's key is the name that counts.
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "elements" | "id" | "name"))
    {
        return Err(format!(
            "unknown key {k:?} (a route has \"elements\", and optionally \"id\" and \"name\")"
        ));
    }
    let Some(Value::Array(raw)) = obj.get("elements") else {
        return Err("\"elements\" must be an array of elements".into());
    };
    // First pass: ids, so outputs can be resolved to indices.
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(raw.len());
    for (i, e) in raw.iter().enumerate() {
        let Some(id) = e.get("id").and_then(Value::as_str) else {
            return Err(format!("element {i} has no \"id\" (a non-empty string)"));
        };
        if id.is_empty() {
            return Err(format!("element {i} has an empty \"id\""));
        }
        if index.insert(id, i).is_some() {
            return Err(format!("element {id:?}: duplicate id"));
        }
    }
    let mut elements = Vec::with_capacity(raw.len());
    let mut starts = Vec::new();
    for e in raw {
        let id = e["id"].as_str().unwrap_or_default();
        let kind = parse_element(e, &index).map_err(|m| format!("element {id:?}: {m}"))?;
        if matches!(kind, ElementKind::Start { .. }) {
            starts.push(elements.len());
        }
        elements.push(Element {
            id: id.to_string(),
            kind,
        });
    }
    let start = match starts.as_slice() {
        [one] => *one,
        [] => return Err("no \"start\" element".into()),
        [_, second, ..] => {
            return Err(format!(
                "element {:?}: a second \"start\" element (a route has exactly one)",
                elements[*second].id
            ));
        }
    };
    if let Some(at) = find_cycle(&elements) {
        return Err(format!(
            "element {:?}: part of a cycle (routes must not loop)",
            elements[at].id
        ));
    }
    Ok(Route {
        name: name.to_string(),
        elements,
        start,
        source: value.clone(),
    })
}

fn parse_element(e: &Value, index: &HashMap<&str, usize>) -> Result<ElementKind, String> {
    let Value::Object(obj) = e else {
        return Err("an element must be an object".into());
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "id" | "type" | "properties" | "outputs"))
    {
        return Err(format!("unknown key {k:?}"));
    }
    let Some(kind) = obj.get("type").and_then(Value::as_str) else {
        return Err("no \"type\"".into());
    };
    let empty = Map::new();
    let props = match obj.get("properties") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(p)) => p,
        Some(_) => return Err("\"properties\" must be an object".into()),
    };
    let outputs = match obj.get("outputs") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(o)) => o,
        Some(_) => return Err("\"outputs\" must be an object".into()),
    };
    let allowed_props: &[&str] = match kind {
        "start" | "end" | "percentage" => &[],
        // `conditions` and `window` are the hosted API's other spellings.
        "conditional" => &["condition", "conditions"],
        "rate_limit" => &[
            "limitType",
            "key",
            "limit",
            "interval",
            "window",
            "technique",
        ],
        "model" => &["provider", "model", "timeout", "retries"],
        other => {
            return Err(format!(
                "unknown type {other:?} (expected start, conditional, percentage, rate_limit, model or end)"
            ));
        }
    };
    let mut outs = Outputs::new(outputs, index)?;
    if let Some(k) = props.keys().find(|k| !allowed_props.contains(&k.as_str())) {
        return Err(format!("unknown property {k:?} for a {kind:?} element"));
    }
    let parsed = match kind {
        "start" => ElementKind::Start {
            next: outs.required("next")?,
        },
        "end" => ElementKind::End,
        "conditional" => {
            let condition = match (props.get("condition"), props.get("conditions")) {
                (Some(c), None) | (None, Some(c)) => {
                    Condition::parse(c).map_err(|m| format!("condition: {m}"))?
                }
                (None, None) => return Err("no properties.condition".into()),
                (Some(_), Some(_)) => {
                    return Err("give properties.condition or conditions, not both".into());
                }
            };
            ElementKind::Conditional {
                condition,
                on_true: outs.required("true")?,
                on_false: outs.required("false")?,
            }
        }
        "percentage" => {
            let otherwise = outs.optional("else");
            let mut shares: Vec<(String, f64, usize)> = Vec::new();
            for (name, target) in outs.rest() {
                let pct = name
                    .strip_suffix('%')
                    .and_then(|n| n.trim().parse::<f64>().ok())
                    .filter(|p| p.is_finite() && *p >= 0.0)
                    .ok_or_else(|| {
                        format!("unknown output {name:?} (expected \"<n>%\" or \"else\")")
                    })?;
                shares.push((name, pct, target));
            }
            if shares.is_empty() {
                return Err("no percentage outputs (\"<n>%\")".into());
            }
            if shares.len() > MAX_PERCENTAGE_OUTPUTS {
                return Err(format!(
                    "{} percentage outputs, at most {MAX_PERCENTAGE_OUTPUTS}",
                    shares.len()
                ));
            }
            let total: f64 = shares.iter().map(|s| s.1).sum();
            if total > 100.0 + 1e-9 {
                return Err(format!("percentages add up to {total}%, over 100%"));
            }
            if total < 100.0 - 1e-9 && otherwise.is_none() {
                return Err(format!(
                    "percentages add up to {total}%, under 100%, and there is no \"else\" output"
                ));
            }
            // Outputs in a fixed order (by share, then name), so one seed
            // always gives the same walk.
            shares.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
            let mut upper = 0.0;
            let branches = shares
                .into_iter()
                .map(|(_, pct, target)| {
                    upper += pct / 100.0;
                    (upper, target)
                })
                .collect();
            ElementKind::Percentage {
                branches,
                otherwise,
            }
        }
        "rate_limit" => ElementKind::RateLimit {
            budget: parse_budget(props)?,
            success: outs.required("success")?,
            fallback: outs.optional("fallback"),
        },
        "model" => {
            let text = |k: &str| match props.get(k) {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
                Some(_) => Err(format!("properties.{k} must be a non-empty string")),
                None => Err(format!("no properties.{k}")),
            };
            let provider = text("provider")?;
            let model = text("model")?;
            let timeout_ms = match props.get("timeout") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    whole(v)
                        .ok_or("properties.timeout must be a whole number of ms".to_string())
                        .and_then(|t| check_timeout("properties.timeout", t))?,
                ),
            };
            let retries = match props.get("retries") {
                None | Some(Value::Null) => 0,
                Some(v) => match whole(v) {
                    Some(r) if r < MAX_ATTEMPTS_LIMIT as u64 => r as u32,
                    _ => {
                        return Err(format!(
                            "properties.retries must be a whole number from 0 to {}",
                            MAX_ATTEMPTS_LIMIT - 1
                        ));
                    }
                },
            };
            ElementKind::Model {
                provider,
                model,
                timeout_ms,
                retries,
                success: outs.optional("success"),
                fallback: outs.optional("fallback"),
            }
        }
        other => return Err(format!("unknown type {other:?}")),
    };
    outs.finish(kind)?;
    Ok(parsed)
}

fn parse_budget(props: &Map<String, Value>) -> Result<Budget, String> {
    let limit_type = match props.get("limitType").and_then(Value::as_str) {
        Some("count") => LimitType::Count,
        Some("cost") => LimitType::Cost,
        _ => return Err("properties.limitType must be \"count\" or \"cost\"".into()),
    };
    let key = match props.get("key") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) if !k.is_empty() => Some(k.clone()),
        Some(_) => return Err("properties.key must be a non-empty string".into()),
    };
    let limit = props
        .get("limit")
        .and_then(Value::as_f64)
        .filter(|l| l.is_finite() && *l > 0.0)
        .ok_or("properties.limit must be a number above 0")?;
    if limit_type == LimitType::Count && limit.fract() != 0.0 {
        return Err("properties.limit of a count budget must be a whole number".into());
    }
    if props.contains_key("interval") && props.contains_key("window") {
        return Err("give properties.interval or window, not both".into());
    }
    let interval = props
        .get("interval")
        .or_else(|| props.get("window"))
        .and_then(whole)
        .filter(|s| (1..=MAX_BUDGET_INTERVAL_S).contains(s))
        .ok_or_else(|| {
            format!("properties.interval must be whole seconds from 1 to {MAX_BUDGET_INTERVAL_S}")
        })?;
    let technique = match props.get("technique") {
        None | Some(Value::Null) => Technique::Fixed,
        Some(Value::String(t)) if t == "fixed" => Technique::Fixed,
        Some(Value::String(t)) if t == "sliding" => Technique::Sliding,
        _ => return Err("properties.technique must be \"fixed\" or \"sliding\"".into()),
    };
    Ok(Budget {
        limit_type,
        key,
        limit,
        window: Window {
            interval: Duration::from_secs(interval),
            technique,
        },
    })
}

/// A whole, non-negative number, also when written as a float (`60.0`).
fn whole(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
            .map(|f| f as u64)
    })
}

/// An element's outputs, taken by name; whatever is left is an error.
struct Outputs {
    left: BTreeMap<String, usize>,
}

impl Outputs {
    fn new(raw: &Map<String, Value>, index: &HashMap<&str, usize>) -> Result<Outputs, String> {
        let mut left = BTreeMap::new();
        for (name, out) in raw {
            let Some(target) = out.get("elementId").and_then(Value::as_str) else {
                return Err(format!(
                    "output {name:?} must be {{\"elementId\": \"<id>\"}}"
                ));
            };
            let Some(&i) = index.get(target) else {
                return Err(format!("output {name:?} leads to a missing id {target:?}"));
            };
            left.insert(name.clone(), i);
        }
        Ok(Outputs { left })
    }

    fn required(&mut self, name: &str) -> Result<usize, String> {
        self.left
            .remove(name)
            .ok_or_else(|| format!("no {name:?} output"))
    }

    fn optional(&mut self, name: &str) -> Option<usize> {
        self.left.remove(name)
    }

    fn rest(&mut self) -> Vec<(String, usize)> {
        std::mem::take(&mut self.left).into_iter().collect()
    }

    fn finish(self, kind: &str) -> Result<(), String> {
        match self.left.keys().next() {
            Some(name) => Err(format!("unknown output {name:?} for a {kind:?} element")),
            None => Ok(()),
        }
    }
}

/// Targets of an element's outputs.
pub(crate) fn successors(kind: &ElementKind) -> Vec<usize> {
    match kind {
        ElementKind::Start { next } => vec![*next],
        ElementKind::Conditional {
            on_true, on_false, ..
        } => vec![*on_true, *on_false],
        ElementKind::Percentage {
            branches,
            otherwise,
        } => branches
            .iter()
            .map(|b| b.1)
            .chain(otherwise.iter().copied())
            .collect(),
        ElementKind::RateLimit {
            success, fallback, ..
        } => std::iter::once(*success)
            .chain(fallback.iter().copied())
            .collect(),
        ElementKind::Model {
            success, fallback, ..
        } => success.iter().chain(fallback.iter()).copied().collect(),
        ElementKind::End => Vec::new(),
    }
}

/// An element on a cycle, if there is one (iterative depth-first search).
fn find_cycle(elements: &[Element]) -> Option<usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; elements.len()];
    for root in 0..elements.len() {
        if mark[root] != Mark::New {
            continue;
        }
        let mut stack = vec![(root, successors(&elements[root].kind), 0usize)];
        mark[root] = Mark::Open;
        while let Some((at, next, i)) = stack.last_mut() {
            if let Some(&n) = next.get(*i) {
                *i += 1;
                match mark[n] {
                    Mark::Open => return Some(n),
                    Mark::New => {
                        mark[n] = Mark::Open;
                        stack.push((n, successors(&elements[n].kind), 0));
                    }
                    Mark::Done => {}
                }
            } else {
                mark[*at] = Mark::Done;
                stack.pop();
            }
        }
    }
    None
}
