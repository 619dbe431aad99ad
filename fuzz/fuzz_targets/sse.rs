#![no_main]
// The oracle is aigw::fuzzing::sse (src/fuzzing.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| aigw::fuzzing::sse(data));
