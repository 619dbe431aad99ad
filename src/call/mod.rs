//! One call through the gateway: the `Gateway` itself and its send loop
//! (`gateway`), the end-to-end exchange (cache, rate limit, log), streaming,
//! retry and cancel, and the request/response types. May depend on every
//! other layer (plan, providers, policy, observe, http, transport, store).

pub mod exchange;
pub mod gateway;
pub mod request;
pub mod stream;

// The value types a call passes around live in the layers below; named
// here too for the layers above (server, compat, ffi).
pub use crate::http::response;
pub use crate::transport::cancel;
