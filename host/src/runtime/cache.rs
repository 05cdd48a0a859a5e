//! The compiled-plugin cache: compiled components on disk, so that a
//! restart with a large plugin (a JavaScript or Python component takes
//! seconds to compile) is ready in milliseconds.
//!
//! An entry is named by a hash of the `.wasm` file's bytes and a hash of
//! the wasmtime version and engine settings, so a changed plugin or engine
//! never meets a stale entry. Beside each entry (`.cwasm`) is its checksum
//! (`.sum`): a truncated or corrupt entry is detected, recompiled and
//! rewritten, never loaded. Both are written to temporary files and renamed,
//! so a crash mid-write leaves no half file. A valid entry is memory-mapped,
//! not read into the heap.
//!
//! Every hit marks its entry as used (the checksum file's modification
//! time), and opening the cache deletes entries unused for [`PRUNE_AFTER`]:
//! those of plugins no longer loaded and those an upgrade of jobhost or a
//! change of engine settings left behind (a JavaScript or Python entry is
//! tens of megabytes), and the temporary files of crashed writes.
//!
//! Loading native code from disk is only as safe as the directory it comes
//! from: the cache directory must be writable by the jobhost user alone
//! (it is created with mode 0700).

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use wasmtime::component::Component;
use wasmtime::Engine;
use xxhash_rust::xxh3::{xxh3_128, Xxh3};

/// Prefix of a checksum file's contents (its format version).
const MAGIC: &[u8; 8] = b"jhcache2";

/// Entries unused for this long are deleted when a cache is opened.
pub const PRUNE_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);

/// Temporary files older than this are left from a crashed write.
const STALE_TEMPORARY: Duration = Duration::from_secs(24 * 3600);

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
        // The vendored compiler makes code the stock one does not
        // (vendor/README.md, change 6): entries of either are kept apart.
        "wasmtime-48.0.8+jobhost.6".hash(&mut hasher);
        engine.precompile_compatibility_hash().hash(&mut hasher);
        prune(dir, SystemTime::now());
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

    /// Where the entry for `wasm` lives (and its checksum, beside it).
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
        match verify(&path) {
            Ok(true) => {
                // SAFETY: the entry was written by `store` below from
                // `Component::serialize` of this engine configuration (the
                // name says so), its checksum matches, and the directory is
                // private to this user. Mapping the file (rather than reading
                // it) keeps a 40 MB component out of the heap.
                match unsafe { Component::deserialize_file(engine, &path) } {
                    Ok(component) => {
                        mark_used(&path);
                        return Ok((component, Source::Cached));
                    }
                    Err(error) => {
                        tracing::warn!(
                            "compiled cache entry {} for {} is unusable ({error:#}); recompiling",
                            path.display(),
                            name.display()
                        );
                        source = Source::Recompiled;
                    }
                }
            }
            Ok(false) => {
                tracing::warn!(
                    "compiled cache entry {} for {} is truncated or corrupt; recompiling",
                    path.display(),
                    name.display()
                );
                source = Source::Recompiled;
            }
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

fn sum_path(entry: &Path) -> PathBuf {
    entry.with_extension("sum")
}

/// Record that the entry at `path` was used now (best effort: a cache on a
/// read-only disk still serves).
fn mark_used(path: &Path) {
    let touched = std::fs::File::options()
        .write(true)
        .open(sum_path(path))
        .and_then(|file| file.set_modified(SystemTime::now()));
    if let Err(error) = touched {
        tracing::debug!("cannot mark {} as used: {error}", path.display());
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Delete the entries in `dir` (of any engine) unused for [`PRUNE_AFTER`],
/// checksum files left without their entry as long, and temporary files
/// older than a day. Best effort: what cannot be listed or deleted stays.
fn prune(dir: &Path, now: SystemTime) {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return;
    };
    let older_than = |time: Option<SystemTime>, limit: Duration| {
        time.and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > limit)
    };
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut remove = |path: &Path| {
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        if std::fs::remove_file(path).is_ok() {
            files += 1;
            bytes += size;
        }
    };
    for item in listing.flatten() {
        let path = item.path();
        let Some(extension) = path.extension().and_then(|e| e.to_str()) else {
            continue;
        };
        match extension {
            "cwasm" => {
                // Last used: the checksum file's time (an entry without one
                // is half of a crashed write: its own time).
                let used = modified(&sum_path(&path)).or_else(|| modified(&path));
                if older_than(used, PRUNE_AFTER) {
                    remove(&sum_path(&path));
                    remove(&path);
                }
            }
            "sum"
                if !path.with_extension("cwasm").exists()
                    && older_than(modified(&path), PRUNE_AFTER) =>
            {
                remove(&path);
            }
            other if other.starts_with("tmp") && older_than(modified(&path), STALE_TEMPORARY) => {
                remove(&path);
            }
            _ => {}
        }
    }
    if files > 0 {
        tracing::info!(
            "compiled cache {}: deleted {files} files ({} MiB) unused for {} days",
            dir.display(),
            bytes >> 20,
            PRUNE_AFTER.as_secs() / 86_400
        );
    }
}

/// Checksum of a file, read in pieces (no whole-file buffer).
fn checksum(path: &Path) -> std::io::Result<u128> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Xxh3::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hasher.digest128());
        }
        hasher.update(&buffer[..n]);
    }
}

/// Whether the entry at `path` matches its recorded checksum. `NotFound`
/// when there is no entry.
fn verify(path: &Path) -> std::io::Result<bool> {
    let recorded = match std::fs::read_to_string(sum_path(path)) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && path.exists() => {
            // An entry without its checksum: half of a crashed write.
            return Ok(false);
        }
        Err(error) => return Err(error),
    };
    let Some(expected) = recorded
        .trim()
        .strip_prefix(std::str::from_utf8(MAGIC).unwrap_or_default())
        .and_then(|hex| u128::from_str_radix(hex.trim(), 16).ok())
    else {
        return Ok(false);
    };
    match checksum(path) {
        Ok(actual) => Ok(actual == expected),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error),
    }
}

/// Write the entry, then its checksum: each to a temporary file renamed
/// into place, so a reader sees whole files (and a crash between the two
/// leaves an entry without a checksum, which `verify` rejects).
fn store(path: &Path, payload: &[u8]) -> std::io::Result<()> {
    let write = |target: &Path, bytes: &[u8]| -> std::io::Result<()> {
        let tmp = target.with_extension(format!("tmp{}", std::process::id()));
        {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, target)
    };
    let _ = std::fs::remove_file(sum_path(path));
    write(path, payload)?;
    let sum = format!(
        "{}{:032x}\n",
        std::str::from_utf8(MAGIC).unwrap_or_default(),
        xxh3_128(payload)
    );
    write(&sum_path(path), sum.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(path: &Path, days: u64) {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(days * 86_400))
            .unwrap();
    }

    #[test]
    fn entries_unused_for_a_month_are_pruned_and_a_hit_counts_as_use() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::default();
        let cache = CompileCache::open(dir.path(), &engine).unwrap();
        let wasm = wat::parse_str("(component)").unwrap();
        let name = Path::new("tiny.wasm");
        let (_, source) = cache.load_or_compile(&engine, &wasm, name).unwrap();
        assert_eq!(source, Source::Compiled);
        let entry = cache.entry_path(&wasm);
        // This engine's entry, last used 40 days ago, is used again now.
        age(&sum_path(&entry), 40);
        let (_, source) = cache.load_or_compile(&engine, &wasm, name).unwrap();
        assert_eq!(source, Source::Cached);
        // Another engine's entry (an older jobhost), unused for 40 days; one
        // used 10 days ago; a crashed write's leftovers.
        let old = dir
            .path()
            .join(format!("{:032x}-00000000deadbeef.cwasm", 1));
        let recent = dir
            .path()
            .join(format!("{:032x}-00000000deadbeef.cwasm", 2));
        for path in [&old, &recent] {
            store(path, b"compiled elsewhere").unwrap();
        }
        age(&sum_path(&old), 40);
        age(&sum_path(&recent), 10);
        let temporary = dir.path().join("x.tmp123");
        let orphan_sum = dir.path().join(format!("{:032x}-00000000deadbeef.sum", 3));
        for path in [&temporary, &orphan_sum] {
            std::fs::write(path, b"left").unwrap();
            age(path, 40);
        }
        let fresh_temporary = dir.path().join("y.tmp456");
        std::fs::write(&fresh_temporary, b"being written").unwrap();

        CompileCache::open(dir.path(), &engine).unwrap();
        for gone in [&old, &sum_path(&old), &temporary, &orphan_sum] {
            assert!(!gone.exists(), "{} should be pruned", gone.display());
        }
        for kept in [&entry, &sum_path(&entry), &recent, &fresh_temporary] {
            assert!(kept.exists(), "{} should be kept", kept.display());
        }
    }

    #[test]
    fn entries_verify_and_damage_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.cwasm");
        assert_eq!(
            verify(&path).unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
        store(&path, b"payload bytes").unwrap();
        assert!(verify(&path).unwrap());
        let entry = std::fs::read(&path).unwrap();
        std::fs::write(&path, &entry[..entry.len() - 1]).unwrap();
        assert!(!verify(&path).unwrap(), "truncated");
        let mut flipped = entry.clone();
        flipped[3] ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        assert!(!verify(&path).unwrap(), "corrupted");
        std::fs::write(&path, &entry).unwrap();
        assert!(verify(&path).unwrap());
        std::fs::remove_file(sum_path(&path)).unwrap();
        assert!(!verify(&path).unwrap(), "an entry without its checksum");
    }
}
