//! HTTP vocabulary shared by every layer: header names, matching and checks
//! (`headers`), a response's header list (`header_list`), the response
//! value (`response`), server-sent events (`sse`).
//! Depends on nothing else in the crate but `error`.

pub mod header_list;
pub mod headers;
pub mod response;
pub mod sse;

use std::borrow::Cow;

/// Bytes as text: borrowed when valid UTF-8 (`str::from_utf8` validates
/// much faster than `from_utf8_lossy`'s chunk walk), replaced otherwise.
pub fn text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}
