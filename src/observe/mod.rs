//! What the gateway reports about calls: log records (`log`) and metrics
//! (`metrics`). Depends on providers (usage) and http; never on `call`.

pub mod log;
pub mod metrics;
