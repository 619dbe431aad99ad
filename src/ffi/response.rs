//! `aigw_response`: status, headers and body of an upstream response.

use std::ffi::{CStr, c_char};

use crate::call::response::Response;
use crate::ffi::{Failure, Handle, aigw_status, ffi_boundary, try_out, try_ref, try_str};
use crate::http::header_list::HeaderList;

/// A response: status, headers in the order received, body, and the index of
/// the Universal step that served it.
///
/// Made by `aigw_send` (and `aigw_send_stream`, with an empty body), freed by
/// `aigw_response_free`. Immutable: may be read from any thread at once.
/// Every pointer borrowed from it lives until `aigw_response_free`.
pub struct aigw_response {
    status: u16,
    step: i32,
    body: Vec<u8>,
    // Each name and value NUL-terminated in one buffer: C borrows them in
    // place.
    headers: HeaderList,
}

/// Header `i`'s name and value as C strings borrowed from `headers`.
fn c_header(headers: &HeaderList, i: usize) -> Option<(&CStr, &CStr)> {
    let (name, value) = headers.with_nul(i)?;
    // `HeaderList` ends each name and value with the only NUL it holds.
    Some((
        CStr::from_bytes_with_nul(name.as_bytes()).ok()?,
        CStr::from_bytes_with_nul(value.as_bytes()).ok()?,
    ))
}

impl aigw_response {
    pub(crate) fn new(response: Response) -> aigw_response {
        aigw_response {
            status: response.status,
            step: i32::try_from(response.step).unwrap_or(i32::MAX),
            headers: response.headers,
            body: response.body,
        }
    }
}

// Immutable once made, so shared borrows only.
impl Handle for aigw_response {}

/// The HTTP status code; 0 if `r` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_response_status(r: *const aigw_response) -> u16 {
    ffi_boundary!({ try_ref!(r).map_or(0, |r| r.status) })
}

/// The 0-based index of the Universal step that produced this response
/// (also sent as the `cf-aig-step` header); 0 for provider endpoints; -1 if
/// `r` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_response_step(r: *const aigw_response) -> i32 {
    ffi_boundary!(on_panic(-1) { try_ref!(r).map_or(-1, |r| r.step) })
}

/// The first value of the header `name`, matched case-insensitively, or NULL
/// if absent (or if `r` or `name` is NULL or `name` is not UTF-8).
/// Borrowed from `r`: valid until `aigw_response_free(r)`.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_response_header(
    r: *const aigw_response,
    name: *const c_char,
) -> *const c_char {
    ffi_boundary!({
        let (Ok(r), Ok(name)) = (try_ref!(r), try_str!(name)) else {
            return std::ptr::null();
        };
        r.headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|i| c_header(&r.headers, i))
            .map_or(std::ptr::null(), |(_, v)| v.as_ptr())
    })
}

/// The number of headers (each value of a repeated header counts); 0 if `r`
/// is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_response_header_count(r: *const aigw_response) -> usize {
    ffi_boundary!({ try_ref!(r).map_or(0, |r| r.headers.len()) })
}

/// The `i`-th header (0-based, in the order received). On `AIGW_OK`, `*name`
/// and `*value` receive NUL-terminated strings borrowed from `r` (valid until
/// `aigw_response_free(r)`). `i` out of range is `AIGW_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_response_header_at(
    r: *const aigw_response,
    i: usize,
    name: *mut *const c_char,
    value: *mut *const c_char,
) -> aigw_status {
    ffi_boundary!(status {
        let r = try_ref!(r)?;
        let (Ok(name), Ok(value)) = (try_out!(name), try_out!(value)) else {
            return Err(Failure::null("name/value"));
        };
        let (n, v) = c_header(&r.headers, i)
            .ok_or_else(|| Failure::invalid("header index out of range"))?;
        name.put(n.as_ptr());
        value.put(v.as_ptr());
        Ok(())
    })
}

/// The body. `*len` (if `len` is not NULL) receives its length in bytes.
/// Borrowed from `r`: valid until `aigw_response_free(r)`; not
/// NUL-terminated. Never NULL for a valid `r`, even when empty; NULL (and
/// length 0) if `r` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_response_body(r: *const aigw_response, len: *mut usize) -> *const u8 {
    ffi_boundary!({
        let (ptr, n) = match try_ref!(r) {
            Ok(r) if r.body.is_empty() => (c"".as_ptr().cast::<u8>(), 0),
            Ok(r) => (r.body.as_ptr(), r.body.len()),
            Err(_) => (std::ptr::null(), 0),
        };
        // `len` is optional; written whether or not `r` is NULL, as
        // documented.
        if let Ok(len) = try_out!(len) {
            len.put(n);
        }
        ptr
    })
}

/// Frees a response and everything borrowed from it. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn aigw_response_free(r: *mut aigw_response) {
    ffi_boundary!({
        // SAFETY: NULL or made by the library with `into_raw`, freed once.
        unsafe { aigw_response::free(r) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_c_strings_in_order() {
        let mut h = HeaderList::new();
        h.push("content-type", "application/json");
        h.push("x-empty", "");
        h.push("x-nul", "a\0b");
        let got: Vec<(&str, &str)> = (0..4)
            .map_while(|i| c_header(&h, i))
            .map(|(n, v)| (n.to_str().unwrap(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("content-type", "application/json"),
                ("x-empty", ""),
                ("x-nul", "a b"),
            ]
        );
    }
}
