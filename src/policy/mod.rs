//! Decisions made around a call: the response cache (`cache`), the gateway
//! rate limit (`ratelimit`) and provider cool-downs (`cooldown`). Their state
//! lives behind the `store` traits; of `call` they use only the value types
//! (response, planned step, verdict), never the send loop.

pub mod cache;
pub mod cooldown;
pub mod ratelimit;
