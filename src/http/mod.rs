//! HTTP vocabulary shared by every layer: header names and matching
//! (`headers`), server-sent events (`sse`).
//! Depends on nothing else in the crate.

pub mod headers;
pub mod sse;
