//! One call through the gateway: the `Gateway` itself, its planners list and
//! send loop (`gateway`), the end-to-end exchange (`exchange`: the `Call`
//! and the `CallRecord` the run fills, then cache, log record, metrics),
//! streaming (`stream`) and the request type (`request`). May depend on
//! every layer below (compat, plan, routing, policy, observe, providers,
//! store, transport, http); only ffi and server depend on it.

pub mod exchange;
pub mod gateway;
pub mod request;
pub mod stream;

// The value types a call passes around live in the layers below; named
// here too for the layers above (server, compat, ffi).
pub use crate::http::response;
pub use crate::transport::cancel;
