//! What the gateway reports about calls: log records (`log`) and metrics
//! (`metrics`), both made from a call's record by `call`. Depends on http,
//! json (to redact Universal bodies) and store (shared-state stats); never
//! on plan, policy or call.

pub mod log;
pub mod metrics;
