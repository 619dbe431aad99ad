//! aigw: an AI gateway that runs inside the calling process.
//!
//! Layers, each using only those below it (see README, "Architecture"):
//! `ffi` (the C ABI; `include/aigw.h` is generated from it by `build.rs`)
//! and `server` (loopback HTTP) call into `call` (the `Gateway`, one call end
//! to end and its record, streaming), which asks its planners for steps
//! (`compat`'s and `plan`'s, behind `plan::step::Planner`; `routing` walks
//! routes), applies `policy` (cache, rate limit, cool-downs, retry) and
//! reports through `observe` (logs, metrics). Below them: `providers` (what
//! differs per provider), `store` (memory or Redis state), `transport` (the
//! only user of ureq; cancel tokens) and `http` (headers, the response, SSE).
//!
//! The Rust API is the re-exports below; the module paths are for the
//! project's own tests, benches and fuzz targets.

pub(crate) mod alloc;
pub mod call;
pub mod compat;
pub mod config;
pub mod error;
pub(crate) mod http;
pub(crate) mod json;
pub(crate) mod observe;
pub(crate) mod plan;
pub mod policy;
pub(crate) mod providers;
pub mod routing;
pub mod server;
pub mod store;
pub mod transport;

pub mod ffi;

// Entry points for the fuzz targets in fuzz/ (see README, "Fuzzing").
#[doc(hidden)]
pub mod fuzzing;

pub use call::gateway::Gateway;
pub use call::request::Request;
pub use call::stream::StreamSink;
pub use config::Config;
pub use error::{Error, ErrorKind};
pub use http::response::Response;
pub use transport::cancel::CancelToken;

// The modules tests, benches and fuzz targets name by their short path.
pub use call::{gateway, stream};
pub use http::sse;
pub use observe::log;
pub use policy::ratelimit;
