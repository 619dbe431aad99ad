//! Decisions made around a call: the response cache (`cache`), the gateway
//! rate limit (`ratelimit`), provider cool-downs (`cooldown`) and the retry
//! vocabulary (`retry`: verdicts, retryable statuses, backoff). Their state
//! lives behind the `store` traits. May depend on providers, observe, store,
//! http, config; never on `plan`, `call` or above.

pub mod cache;
pub mod cooldown;
pub mod ratelimit;
pub mod retry;
