#![no_main]
// The oracle is aigw::fuzzing::compat_request (src/fuzzing.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| aigw::fuzzing::compat_request(data));
