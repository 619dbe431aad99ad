//! What the gateway reports about calls: log records (`log`) and metrics
//! (`metrics`). Depends on http, plan (to redact Universal bodies) and store
//! (shared-state stats); never on `call`.

pub mod log;
pub mod metrics;
