//! `wasi:random/random.get-random-bytes`, served in one draw.
//!
//! wasmtime-wasi answers it one byte at a time, each byte a call through
//! its boxed generator. componentize-py's runtime asks for 2,496 bytes on
//! every instance's first call (it reseeds Python's `random`), so with a
//! fresh instance per job every Python job paid for 2,496 such calls. This
//! module shadows that one function with a fill of the whole buffer from
//! the store's own generator. The other random functions stay wasmtime-wasi's.
//!
//! Contract: the bytes come from a cryptographically secure generator
//! (ChaCha12, `rand`'s `StdRng`) seeded from the operating system's
//! generator through `rand`'s thread-local one, a generator per store data
//! ([`HostState`]); a request above 64 MiB traps, as it does
//! in wasmtime-wasi.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wasmtime::component::Linker;
use wasmtime::StoreContextMut;

use super::host_imports::HostState;

/// The interface as wasmtime-wasi's linker names it (the WIT it was
/// generated from); a plugin importing another 0.2 version links to it.
const INTERFACE: &str = "wasi:random/random@0.2.12";

/// Largest request, as wasmtime-wasi's default.
const MAX_RANDOM_BYTES: u64 = 64 << 20;

/// A new secure generator for one store data.
pub(crate) fn new_generator() -> StdRng {
    StdRng::from_rng(&mut rand::rng())
}

/// Replace wasmtime-wasi's `get-random-bytes` in `linker`, which must
/// already hold wasmtime-wasi's interfaces.
pub(crate) fn shadow_get_random_bytes(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let defined = linker.instance(INTERFACE)?.func_wrap(
        "get-random-bytes",
        |mut store: StoreContextMut<'_, HostState>, (len,): (u64,)| {
            if len > MAX_RANDOM_BYTES {
                wasmtime::bail!("requested len {len} exceeds limit {MAX_RANDOM_BYTES}");
            }
            let mut bytes = vec![0u8; len as usize];
            store.data_mut().random.fill_bytes(&mut bytes);
            Ok((bytes,))
        },
    );
    linker.allow_shadowing(false);
    defined
}
