//! What is specific to each provider: the per-provider table (`adapter`,
//! the seam provider-specific code asks: credentials, URLs, model, usage,
//! error events, stream ends), upstream URLs (`provider`), credential
//! headers and stored keys (`credentials`), usage and cost (`usage`), stream
//! dialects (`dialect`). Depends on config, transport (URL origins) and http.

pub mod adapter;
pub mod credentials;
pub mod dialect;
pub mod provider;
pub mod usage;
