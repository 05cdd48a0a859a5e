//! Arbitrary bytes through the HTTP/1.1 response framing: head, body
//! framing and chunked decoding, fed in one piece, in random pieces and a
//! byte at a time. The invariants are `framing::check_invariants`.
#![no_main]

// The sans-IO module alone: it depends on nothing else in the host, so the
// target need not build wasmtime and the rest with fuzzing instrumentation.
#[path = "../../host/src/fetch/http1/framing.rs"]
#[allow(dead_code)]
mod framing;

libfuzzer_sys::fuzz_target!(|data: &[u8]| framing::check_invariants(data));
