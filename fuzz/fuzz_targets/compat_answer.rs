#![no_main]
// The oracle is aigw::fuzzing::compat_answer (src/fuzzing.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| aigw::fuzzing::compat_answer(data));
