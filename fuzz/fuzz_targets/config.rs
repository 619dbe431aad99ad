#![no_main]
// The oracle is aigw::fuzzing::config (src/fuzzing.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| aigw::fuzzing::config(data));
