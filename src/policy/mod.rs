//! Decisions made around a call: the response cache (`cache`), the gateway
//! rate limit (`ratelimit`) and provider cool-downs (`cooldown`). Their state
//! lives behind the `store` traits; they never depend on `call`.

pub mod cache;
pub mod cooldown;
pub mod ratelimit;
