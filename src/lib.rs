//! aigw: an AI gateway that runs inside the calling process.
//!
//! The core (`config`, `provider`, `request`, `universal`, `retry`,
//! `transport`, `gateway`) is plain Rust and knows nothing of C. The `ffi`
//! module is the C ABI: it checks arguments, converts, calls the core and
//! converts back. `include/aigw.h` is generated from it by `build.rs`.

pub mod alloc;
pub mod cache;
pub mod cancel;
pub mod compat;
pub mod config;
pub mod cooldown;
pub mod credentials;
pub mod dialect;
pub mod error;
pub mod exchange;
pub mod gateway;
pub mod log;
pub mod metrics;
pub mod provider;
pub mod ratelimit;
pub mod request;
pub mod response;
pub mod retry;
pub mod routing;
pub mod server;
pub mod sse;
pub mod store;
pub mod stream;
pub mod transport;
pub mod universal;
pub mod usage;

pub mod ffi;

// Entry points for the fuzz targets in fuzz/ (see README, "Fuzzing").
#[doc(hidden)]
pub mod fuzzing;

pub use cancel::CancelToken;
pub use config::Config;
pub use error::{Error, ErrorKind};
pub use gateway::Gateway;
pub use request::Request;
pub use response::Response;
pub use stream::StreamSink;
