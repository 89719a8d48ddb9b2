#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mqtt_doctor::fuzzing::mqtt_session(data));
