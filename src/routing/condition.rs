//! Conditions of `conditional` elements: MongoDB-like operators over
//! `metadata.<key>` and request body fields.
//!
//! Semantics (documented in the README):
//! - A condition object is the AND of its entries. An entry is `$and` / `$or`
//!   (a non-empty array of conditions), or a field with an operator object
//!   (`{"$gte": 3, "$lt": 9}`: every operator must hold) or a bare value
//!   (shorthand for `$eq`).
//! - Fields: `metadata.<key>` reads `cf-aig-metadata`; anything else reads
//!   the request body, dots walking into nested objects (`model`, `stream`,
//!   `max_tokens`, `response_format.type`).
//! - A missing field makes `$ne` and `$nin` true and every other operator false.
//! - `$eq` is JSON equality (numbers by value: 1 equals 1.0); `$ne` is its
//!   negation, `$in` / `$nin` test membership the same way.
//! - `$gt` `$gte` `$lt` `$lte` compare two numbers, or two strings
//!   (byte-wise); any other pair of types compares false.

use serde_json::{Map, Value};

/// What a condition can see of one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFacts<'a> {
    /// The request's `cf-aig-metadata`.
    pub metadata: Option<&'a Map<String, Value>>,
    /// The request body as parsed JSON (the unified request).
    pub body: Option<&'a Value>,
}

impl<'a> RequestFacts<'a> {
    /// The value at `path`, if the request has one.
    pub fn field(&self, path: &str) -> Option<&'a Value> {
        if let Some(key) = path.strip_prefix("metadata.") {
            return self.metadata?.get(key);
        }
        let mut at = self.body?;
        for part in path.split('.') {
            at = at.as_object()?.get(part)?;
        }
        Some(at)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Gt,
    Gte,
    Lt,
    Lte,
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Eq(String, Value),
    Ne(String, Value),
    In(String, Vec<Value>),
    Nin(String, Vec<Value>),
    Cmp(String, Compare, Value),
}

impl Condition {
    /// Parses a condition; the error says what is wrong, for the caller to
    /// place (route and element).
    pub fn parse(value: &Value) -> Result<Condition, String> {
        let Value::Object(entries) = value else {
            return Err(format!("a condition must be an object, got {value}"));
        };
        if entries.is_empty() {
            return Err("a condition must not be empty".into());
        }
        let mut all = Vec::with_capacity(entries.len());
        for (key, v) in entries {
            match key.as_str() {
                "$and" | "$or" => {
                    let Value::Array(items) = v else {
                        return Err(format!("{key} takes an array of conditions"));
                    };
                    if items.is_empty() {
                        return Err(format!("{key} takes a non-empty array"));
                    }
                    let parts = items
                        .iter()
                        .map(Condition::parse)
                        .collect::<Result<Vec<_>, _>>()?;
                    all.push(if key == "$and" {
                        Condition::And(parts)
                    } else {
                        Condition::Or(parts)
                    });
                }
                op if op.starts_with('$') => {
                    return Err(format!("unknown operator {op:?} where a field belongs"));
                }
                "" => return Err("a field name must not be empty".into()),
                field => all.extend(parse_field(field, v)?),
            }
        }
        Ok(if all.len() == 1 {
            all.pop().unwrap_or(Condition::And(Vec::new()))
        } else {
            Condition::And(all)
        })
    }

    /// Whether the request satisfies the condition.
    pub fn eval(&self, facts: &RequestFacts<'_>) -> bool {
        match self {
            Condition::And(parts) => parts.iter().all(|c| c.eval(facts)),
            Condition::Or(parts) => parts.iter().any(|c| c.eval(facts)),
            Condition::Eq(f, v) => facts.field(f).is_some_and(|x| equal(x, v)),
            Condition::Ne(f, v) => !facts.field(f).is_some_and(|x| equal(x, v)),
            Condition::In(f, vs) => facts
                .field(f)
                .is_some_and(|x| vs.iter().any(|v| equal(x, v))),
            Condition::Nin(f, vs) => !facts
                .field(f)
                .is_some_and(|x| vs.iter().any(|v| equal(x, v))),
            Condition::Cmp(f, op, v) => facts.field(f).is_some_and(|x| compare(x, *op, v)),
        }
    }
}

fn parse_field(field: &str, v: &Value) -> Result<Vec<Condition>, String> {
    let ops = match v {
        Value::Object(ops) if ops.keys().any(|k| k.starts_with('$')) => ops,
        // A bare value (objects without operators included) means $eq.
        other => return Ok(vec![Condition::Eq(field.into(), other.clone())]),
    };
    let mut out = Vec::with_capacity(ops.len());
    for (op, arg) in ops {
        let f = field.to_string();
        let list = || match arg {
            Value::Array(items) => Ok(items.clone()),
            _ => Err(format!("{field}: {op} takes an array, got {arg}")),
        };
        let ordered = |cmp| match arg {
            Value::Number(_) | Value::String(_) => Ok(Condition::Cmp(f.clone(), cmp, arg.clone())),
            _ => Err(format!(
                "{field}: {op} takes a number or a string, got {arg}"
            )),
        };
        out.push(match op.as_str() {
            "$eq" => Condition::Eq(f, arg.clone()),
            "$ne" => Condition::Ne(f, arg.clone()),
            "$in" => Condition::In(f, list()?),
            "$nin" => Condition::Nin(f, list()?),
            "$gt" => ordered(Compare::Gt)?,
            "$gte" => ordered(Compare::Gte)?,
            "$lt" => ordered(Compare::Lt)?,
            "$lte" => ordered(Compare::Lte)?,
            other => {
                return Err(format!(
                    "{field}: unknown operator {other:?} (expected $eq, $ne, $gt, $gte, $lt, $lte, $in or $nin)"
                ));
            }
        });
    }
    Ok(out)
}

/// JSON equality, numbers by value.
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn compare(a: &Value, op: Compare, b: &Value) -> bool {
    let ord = match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x.partial_cmp(&y),
            _ => None,
        },
        (Value::String(x), Value::String(y)) => Some(x.as_str().cmp(y.as_str())),
        _ => None,
    };
    let Some(ord) = ord else { return false };
    match op {
        Compare::Gt => ord.is_gt(),
        Compare::Gte => ord.is_ge(),
        Compare::Lt => ord.is_lt(),
        Compare::Lte => ord.is_le(),
    }
}
