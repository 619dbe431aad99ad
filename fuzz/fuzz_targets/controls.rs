#![no_main]
// The oracle is aigw::fuzzing::controls (src/fuzzing.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| aigw::fuzzing::controls(data));
