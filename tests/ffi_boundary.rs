//! The C boundary's rules, checked on the source of src/ffi and through the
//! exported functions themselves: every exported function is one
//! `ffi_boundary!` call, documented and unmangled; only the request (changed
//! from one thread at a time) is ever borrowed `&mut`; out-parameters stay
//! untouched and errors name the argument when a pointer is NULL.

use std::ffi::{CStr, c_char};
use std::path::Path;
use std::ptr;

use aigw::ffi::aigw_status;
use aigw::ffi::error::{aigw_error, aigw_error_free, aigw_error_message, aigw_error_status};
use aigw::ffi::gateway::{aigw_gateway, aigw_gateway_free, aigw_gateway_new, aigw_send};
use aigw::ffi::logs::aigw_gateway_set_log_callback;
use aigw::ffi::request::{aigw_request, aigw_request_free, aigw_request_new};
use aigw::ffi::response::{aigw_response, aigw_response_header_at};

/// Exported functions that are deliberately not wrapped, and why.
const UNWRAPPED: &[(&str, &str)] = &[(
    "aigw_cancel_trigger",
    "async-signal-safe: one atomic store, no unwinding machinery",
)];

/// Every exported function in src/ffi: (file, name, signature, body opening).
fn exported() -> Vec<(String, String, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ffi");
    let mut found = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("src/ffi is readable")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).expect("source is readable");
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        // Unit tests (mod.rs tests the macro with extern fns of its own)
        // are not exported.
        let mut rest = text.split("\n#[cfg(test)]").next().unwrap_or("");
        while let Some(at) = rest.find("extern \"C\" fn ") {
            let before = &rest[..at];
            let after = &rest[at + "extern \"C\" fn ".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            // Signatures hold no braces, so the first `{` opens the body.
            let open = after.find('{').expect("a body");
            let signature = after[..open].to_string();
            let body = after[open + 1..]
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with("//"))
                .unwrap_or("")
                .to_string();
            // The attributes and doc comment directly above the function.
            let head: Vec<&str> = before
                .lines()
                .rev()
                .skip(1)
                .take_while(|l| l.starts_with("#[") || l.starts_with("///"))
                .collect();
            let mut header = head.join("\n");
            header.push('\n');
            found.push((file.clone(), name, signature, header + &body));
            rest = &after[open..];
        }
    }
    found
}

#[test]
fn every_exported_function_is_one_boundary_call() {
    let all = exported();
    assert!(
        all.len() >= 30,
        "found only {} exported functions",
        all.len()
    );
    let mut wrong = Vec::new();
    for (file, name, _, head_and_body) in &all {
        let body = head_and_body.lines().last().unwrap_or("");
        if !name.starts_with("aigw_") {
            wrong.push(format!(
                "{file}: {name} is exported without the aigw_ prefix"
            ));
        }
        if !head_and_body.contains("#[unsafe(no_mangle)]") {
            wrong.push(format!("{file}: {name} lacks #[unsafe(no_mangle)]"));
        }
        if !head_and_body.lines().any(|l| l.starts_with("///")) {
            wrong.push(format!("{file}: {name} has no doc comment for the header"));
        }
        let exempt = UNWRAPPED.iter().any(|(n, _)| n == name);
        if !exempt && !body.starts_with("ffi_boundary!(") {
            wrong.push(format!(
                "{file}: {name} does not start with ffi_boundary!: {body}"
            ));
        }
        if exempt && body.starts_with("ffi_boundary!(") {
            wrong.push(format!(
                "{file}: {name} is listed as unwrapped but is wrapped"
            ));
        }
    }
    for (name, _why) in UNWRAPPED {
        if !all.iter().any(|(_, n, _, _)| n == name) {
            wrong.push(format!("{name} is listed as unwrapped but is not exported"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn only_requests_are_borrowed_mutably() {
    let all = exported();
    let mut wrong = Vec::new();
    for (file, name, signature, _) in &all {
        let frees = name.ends_with("_free");
        for param in signature.split(',') {
            let Some((_, ty)) = param.split_once(':') else {
                continue;
            };
            let ty = ty.split(')').next().unwrap_or("").trim();
            // A `*mut` to a shareable handle would let `&mut` alias the
            // `&` other threads hold; only freeing (ownership back) and the
            // request's setters take one.
            let shared = [
                "aigw_gateway",
                "aigw_response",
                "aigw_cancel",
                "aigw_server",
                "aigw_error",
            ];
            if shared.iter().any(|h| ty == format!("*mut {h}")) && !frees {
                wrong.push(format!("{file}: {name} takes {ty}"));
            }
        }
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ffi");
    for entry in std::fs::read_dir(dir).expect("src/ffi is readable") {
        let path = entry.expect("directory entry").path();
        let text = std::fs::read_to_string(&path).expect("source is readable");
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        // mod.rs holds ExclusiveHandle::try_mut, the one place it is formed.
        if text.contains(".as_mut()") && file != "mod.rs" {
            wrong.push(format!(
                "{file}: forms &mut from a raw pointer outside try_mut!"
            ));
        }
        if text.contains("impl ExclusiveHandle for") && file != "request.rs" {
            wrong.push(format!("{file}: a second exclusive handle"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn message(e: *const aigw_error) -> String {
    // SAFETY: a live error from the library; the text lives until freed.
    unsafe { CStr::from_ptr(aigw_error_message(e)) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn null_arguments_are_named_and_out_parameters_stay_untouched() {
    let mut gw: *mut aigw_gateway = ptr::null_mut();
    assert_eq!(
        aigw_gateway_new(ptr::null(), &mut gw, ptr::null_mut()),
        aigw_status::AIGW_OK
    );
    let mut req: *mut aigw_request = ptr::null_mut();
    assert_eq!(
        aigw_request_new(
            c"POST".as_ptr(),
            c"openai/chat/completions".as_ptr(),
            &mut req
        ),
        aigw_status::AIGW_OK
    );

    // Each NULL in turn: its status, a message naming it, `out` untouched.
    let sentinel = ptr::dangling_mut::<aigw_response>();
    let cases: [(*const aigw_gateway, *const aigw_request, bool, &str); 3] = [
        (ptr::null(), req, true, "gw is NULL"),
        (gw, ptr::null(), true, "req is NULL"),
        (gw, req, false, "out is NULL"),
    ];
    for (g, r, with_out, named) in cases {
        let mut out = sentinel;
        let out_ptr: *mut *mut aigw_response = if with_out { &mut out } else { ptr::null_mut() };
        let mut err: *mut aigw_error = ptr::null_mut();
        assert_eq!(
            aigw_send(g, r, out_ptr, &mut err),
            aigw_status::AIGW_ERR_NULL_ARGUMENT
        );
        assert_eq!(out, sentinel, "out was written on failure ({named})");
        assert!(!err.is_null());
        assert_eq!(aigw_error_status(err), aigw_status::AIGW_ERR_NULL_ARGUMENT);
        assert_eq!(message(err), named);
        aigw_error_free(err);
    }

    // A config that is not UTF-8 is an invalid argument naming it.
    let bad: [u8; 3] = [0xff, 0xfe, 0];
    let mut err: *mut aigw_error = ptr::null_mut();
    let mut other: *mut aigw_gateway = ptr::null_mut();
    assert_eq!(
        aigw_gateway_new(bad.as_ptr() as *const c_char, &mut other, &mut err),
        aigw_status::AIGW_ERR_INVALID_ARGUMENT
    );
    assert!(other.is_null());
    assert_eq!(message(err), "config_json is not valid UTF-8");
    aigw_error_free(err);

    // A shared-borrow call on a NULL gateway is a status, not a crash.
    assert_eq!(
        aigw_gateway_set_log_callback(ptr::null(), None, ptr::null_mut()),
        aigw_status::AIGW_ERR_NULL_ARGUMENT
    );
    // Both out-parameters of header_at are required; neither is written.
    let mut name: *const c_char = c"untouched".as_ptr();
    assert_eq!(
        aigw_response_header_at(ptr::null(), 0, &mut name, ptr::null_mut()),
        aigw_status::AIGW_ERR_NULL_ARGUMENT
    );
    // SAFETY: still the static string above.
    assert_eq!(unsafe { CStr::from_ptr(name) }, c"untouched");

    aigw_request_free(req);
    aigw_gateway_free(gw);
    // Every *_free accepts NULL.
    aigw_request_free(ptr::null_mut());
    aigw_gateway_free(ptr::null_mut());
    aigw_error_free(ptr::null_mut());
}
