//! HTTP vocabulary shared by every layer: header names, matching and checks
//! (`headers`), the response value (`response`), server-sent events (`sse`).
//! Depends on nothing else in the crate but `error`.

pub mod headers;
pub mod response;
pub mod sse;
