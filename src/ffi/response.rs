//! `aigw_response`: status, headers and body of an upstream response.

use std::ffi::{CStr, c_char};

use crate::call::response::Response;
use crate::ffi::{Failure, Handle, aigw_status, ffi_boundary, try_out, try_ref, try_str};

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
    headers: CHeaders,
}

/// Header names and values kept NUL-terminated, so C can borrow them in
/// place: all of them back to back in one buffer, so a response's headers
/// cost two allocations rather than two per header.
struct CHeaders {
    text: Vec<u8>,
    /// Where each header's name and value start in `text`.
    starts: Vec<(usize, usize)>,
}

impl CHeaders {
    fn new(headers: &[(String, String)]) -> CHeaders {
        let size = headers.iter().map(|(n, v)| n.len() + v.len() + 2).sum();
        let mut text = Vec::with_capacity(size);
        let mut put = |s: &str| {
            let at = text.len();
            // HTTP forbids NUL in names and values; replace rather than
            // fail if an upstream sends one anyway.
            text.extend(s.bytes().map(|b| if b == 0 { b' ' } else { b }));
            text.push(0);
            at
        };
        let starts = headers.iter().map(|(n, v)| (put(n), put(v))).collect();
        CHeaders { text, starts }
    }

    fn len(&self) -> usize {
        self.starts.len()
    }

    /// The NUL-terminated string at `at`, as C reads it.
    fn c_str(&self, at: usize) -> &CStr {
        // `new` ends every string with the only NUL it holds.
        CStr::from_bytes_until_nul(&self.text[at..]).unwrap_or_default()
    }

    fn get(&self, i: usize) -> Option<(&CStr, &CStr)> {
        let &(n, v) = self.starts.get(i)?;
        Some((self.c_str(n), self.c_str(v)))
    }

    fn iter(&self) -> impl Iterator<Item = (&CStr, &CStr)> {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

impl aigw_response {
    pub(crate) fn new(response: Response) -> aigw_response {
        aigw_response {
            status: response.status,
            step: i32::try_from(response.step).unwrap_or(i32::MAX),
            headers: CHeaders::new(&response.headers),
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
            .find(|(n, _)| n.to_bytes().eq_ignore_ascii_case(name.as_bytes()))
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
        let (n, v) = r
            .headers
            .get(i)
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
    fn headers_are_borrowed_in_order_nul_terminated() {
        let pairs = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("x-empty".to_string(), String::new()),
            ("x-nul".to_string(), "a\0b".to_string()),
            ("set-cookie".to_string(), "1".to_string()),
            ("set-cookie".to_string(), "2".to_string()),
        ];
        let h = CHeaders::new(&pairs);
        assert_eq!(h.len(), 5);
        let got: Vec<(&str, &str)> = h
            .iter()
            .map(|(n, v)| (n.to_str().unwrap(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("content-type", "application/json"),
                ("x-empty", ""),
                ("x-nul", "a b"),
                ("set-cookie", "1"),
                ("set-cookie", "2"),
            ]
        );
        assert!(h.get(5).is_none());
        assert_eq!(CHeaders::new(&[]).iter().count(), 0);
    }
}
