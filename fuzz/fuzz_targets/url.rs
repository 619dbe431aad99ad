#![no_main]
// The oracle is aigw::fuzzing::url (src/fuzzing.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| aigw::fuzzing::url(data));
