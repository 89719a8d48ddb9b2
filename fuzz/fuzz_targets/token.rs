#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mqtt_doctor::fuzzing::token(data));
