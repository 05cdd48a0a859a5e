//! The compiled-plugin cache: compiled components on disk, so that a
//! restart with a large plugin (a JavaScript or Python component takes
//! seconds to compile) is ready in milliseconds.
//!
//! An entry is named by a hash of the `.wasm` file's bytes and a hash of
//! the wasmtime version and engine settings, so a changed plugin or engine
//! never meets a stale entry. Each entry ends with a checksum of its
//! contents: a truncated or corrupt entry is detected, recompiled and
//! rewritten, never loaded. Entries are written to a temporary file and
//! renamed, so a crash mid-write leaves no half entry.
//!
//! Loading native code from disk is only as safe as the directory it comes
//! from: the cache directory must be writable by the jobhost user alone
//! (it is created with mode 0700).

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::component::Component;
use wasmtime::Engine;
use xxhash_rust::xxh3::{xxh3_128, Xxh3};

const MAGIC: &[u8; 8] = b"jhcache1";
const TRAILER: usize = 16 + MAGIC.len();

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Compiled now (no cache, or no entry yet).
    Compiled,
    /// Loaded from a valid cache entry.
    Cached,
    /// An entry was there but corrupt or unusable: compiled again.
    Recompiled,
}

/// A cache directory for one engine configuration.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
    engine_key: String,
}

impl CompileCache {
    /// Open (creating if needed) the cache in `dir` for `engine`.
    pub fn open(dir: &Path, engine: &Engine) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let mut hasher = Xxh3::new();
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        "wasmtime-48.0.8".hash(&mut hasher);
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(CompileCache {
            dir: dir.to_owned(),
            engine_key: format!("{:016x}", hasher.finish()),
        })
    }

    /// The default location: `$XDG_CACHE_HOME/jobhost` or `~/.cache/jobhost`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir).join("jobhost"));
        }
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|home| PathBuf::from(home).join(".cache").join("jobhost"))
    }

    /// Where the entry for `wasm` lives.
    pub fn entry_path(&self, wasm: &[u8]) -> PathBuf {
        self.dir
            .join(format!("{:032x}-{}.cwasm", xxh3_128(wasm), self.engine_key))
    }

    /// The compiled form of `wasm`: from the cache if a valid entry exists,
    /// else compiled and stored. `name` is for log lines.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        name: &Path,
    ) -> wasmtime::Result<(Component, Source)> {
        let path = self.entry_path(wasm);
        let mut source = Source::Compiled;
        match std::fs::read(&path) {
            Ok(entry) => match verify(&entry) {
                Some(payload) => {
                    // SAFETY: the entry was written by `store` below from
                    // `Component::serialize` of this engine configuration
                    // (the name says so), its checksum matches, and the
                    // directory is private to this user.
                    match unsafe { Component::deserialize(engine, payload) } {
                        Ok(component) => return Ok((component, Source::Cached)),
                        Err(error) => {
                            tracing::warn!("compiled cache entry {} for {} is unusable ({error:#}); recompiling", path.display(), name.display());
                            source = Source::Recompiled;
                        }
                    }
                }
                None => {
                    tracing::warn!(
                        "compiled cache entry {} for {} is truncated or corrupt; recompiling",
                        path.display(),
                        name.display()
                    );
                    source = Source::Recompiled;
                }
            },
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(
                    "cannot read compiled cache entry {}: {error}; compiling",
                    path.display()
                );
            }
        }
        let component = Component::new(engine, wasm)?;
        match component.serialize() {
            Ok(bytes) => {
                if let Err(error) = store(&path, &bytes) {
                    tracing::warn!(
                        "cannot write compiled cache entry {}: {error}",
                        path.display()
                    );
                }
            }
            Err(error) => tracing::warn!("cannot serialize {}: {error:#}", name.display()),
        }
        Ok((component, source))
    }
}

/// The payload of a well-formed entry.
fn verify(entry: &[u8]) -> Option<&[u8]> {
    if entry.len() < TRAILER || &entry[entry.len() - MAGIC.len()..] != MAGIC {
        return None;
    }
    let (payload, trailer) = entry.split_at(entry.len() - TRAILER);
    let sum = u128::from_le_bytes(trailer[..16].try_into().ok()?);
    (xxh3_128(payload) == sum).then_some(payload)
}

fn store(path: &Path, payload: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(payload)?;
        file.write_all(&xxh3_128(payload).to_le_bytes())?;
        file.write_all(MAGIC)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_verify_and_damage_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.cwasm");
        store(&path, b"payload bytes").unwrap();
        let entry = std::fs::read(&path).unwrap();
        assert_eq!(verify(&entry), Some(&b"payload bytes"[..]));
        assert_eq!(verify(&entry[..entry.len() - 1]), None, "truncated");
        let mut flipped = entry.clone();
        flipped[3] ^= 1;
        assert_eq!(verify(&flipped), None, "corrupted");
        assert_eq!(verify(b"short"), None);
    }
}
