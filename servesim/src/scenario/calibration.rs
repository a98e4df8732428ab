//! A `calibration` folder's kernel timer ([`measured::over_shipped`]), read once per process
//! for each folder as it stands on disk (its files' contents): an A/B experiment, a sweep or
//! the profiler validates the same scenario many times, and building the timer takes most
//! of a second where reading and hashing the files takes milliseconds.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use servesim_models::backend::Backend;
use servesim_models::calibration;
use servesim_models::error::ModelsError;
use servesim_models::hardware::{GpuCatalog, GpuSku};
use servesim_models::perf::measured::{self, MeasuredTimer};

/// A folder's files as they stand: each one's path and a hash of its bytes (the same in one
/// process for the same bytes).
type Fingerprint = Vec<(PathBuf, u64)>;

/// What a timer was built from: the folder, its files, the GPU and the backend.
type Key = (PathBuf, Fingerprint, String, Backend);

/// The timer of the tables in `dir` over the shipped ones for `gpu` and `backend`, or why
/// not (the folder's or a file's error, or what makes none of its tables readable).
pub fn measured_timer(dir: &Path, gpu: &GpuSku, backend: Backend) -> Result<MeasuredTimer, String> {
    if !dir.is_dir() {
        return Err(format!("{}: no such folder", dir.display()));
    }
    // One folder by any of its names (`cal`, `./cal`, an absolute path).
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let key: Key = (
        canonical.clone(),
        fingerprint(&canonical),
        gpu.sku.clone(),
        backend,
    );
    static CACHE: OnceLock<Mutex<BTreeMap<Key, MeasuredTimer>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    // A poisoned lock only means another thread panicked while inserting: the map holds
    // whole entries either way.
    if let Some(t) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(t.clone());
    }
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", dir.display());
    let tables = calibration::load_dir(dir).map_err(|e| at(&e))?;
    let timer =
        measured::over_shipped(tables, &GpuCatalog::builtin(), &gpu.sku, backend).map_err(|e| {
            match e {
                ModelsError::Invalid { message, .. } => at(&message),
                e => at(&e),
            }
        })?;
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, timer.clone());
    Ok(timer)
}

/// The files two folders down in `dir` (`<gpu>/<backend>/<file>`, where the tables lie),
/// sorted, with their bytes' hashes; unreadable entries are left out (reading the tables then
/// says why).
fn fingerprint(dir: &Path) -> Fingerprint {
    fn entries(d: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        v.sort();
        v
    }
    let mut out = Vec::new();
    for g in entries(dir).into_iter().filter(|p| p.is_dir()) {
        for b in entries(&g).into_iter().filter(|p| p.is_dir()) {
            for f in entries(&b) {
                if let Ok(bytes) = std::fs::read(&f) {
                    let mut h = DefaultHasher::new();
                    h.write(&bytes);
                    out.push((f, h.finish()));
                }
            }
        }
    }
    out
}
