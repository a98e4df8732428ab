//! The workloads of a suite folder: the ones its `suite.yaml` lists (a scenario file, relative
//! to the folder, optionally with `--set`-style overrides and a name of its own), or else every
//! scenario file in it (`.yaml`, `.yml`, `.json`), by file name.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::Error;
use crate::scenario::{Override, Scenario};

use super::Workload;

/// The manifest's file name in a suite folder.
pub const MANIFEST: &str = "suite.yaml";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    workloads: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(default)]
    name: Option<String>,
    file: PathBuf,
    #[serde(default)]
    set: Vec<String>,
}

/// The workloads of the suite folder `dir`, in the manifest's order (or by file name).
pub fn load(dir: &Path) -> Result<Vec<Workload>, Error> {
    let manifest = dir.join(MANIFEST);
    let workloads = if manifest.is_file() {
        from_manifest(dir, &manifest)?
    } else {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .map(|e| e.map(|e| e.path()).map_err(|e| Error::io(dir, e)))
            .collect::<Result<_, _>>()?;
        files.retain(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        });
        files.sort();
        files
            .iter()
            .map(|f| {
                let scenario = Scenario::from_file(f)?;
                Ok(Workload {
                    name: scenario.name().to_string(),
                    origin: file_name(f),
                    file: f.clone(),
                    scenario,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?
    };
    if workloads.is_empty() {
        return Err(Error::Config {
            path: dir.display().to_string(),
            message: format!("no scenario files (.yaml, .yml, .json) and no {MANIFEST}"),
        });
    }
    if let Some((i, w)) = workloads
        .iter()
        .enumerate()
        .find(|(i, w)| workloads[..*i].iter().any(|o| o.name == w.name))
    {
        return Err(Error::Config {
            path: format!("{}: workloads[{i}]", manifest.display()),
            message: format!(
                "the name '{}' is taken by an earlier workload (give `name:`)",
                w.name
            ),
        });
    }
    Ok(workloads)
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    )
}

fn from_manifest(dir: &Path, manifest: &Path) -> Result<Vec<Workload>, Error> {
    let text = std::fs::read_to_string(manifest).map_err(|source| Error::Io {
        path: manifest.to_path_buf(),
        source,
    })?;
    let origin = manifest.display().to_string();
    let de = serde_norway::Deserializer::from_str(&text);
    let m: Manifest = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        Error::Parse {
            origin: origin.clone(),
            message: crate::scenario::parse_message(&path, &e.into_inner().to_string()),
            path,
        }
    })?;
    if m.workloads.is_empty() {
        return Err(Error::Config {
            path: format!("{origin}: workloads"),
            message: "lists no workload: name at least one `file:`".into(),
        });
    }
    let mut out = Vec::new();
    for (i, entry) in m.workloads.into_iter().enumerate() {
        let at = |field: String, message: String| Error::Config {
            path: format!("{origin}: workloads[{i}].{field}"),
            message,
        };
        let sets: Vec<Override> = entry
            .set
            .iter()
            .enumerate()
            .map(|(k, s)| {
                s.parse::<Override>()
                    .map(|o| o.written_at(&format!("{origin}: workloads[{i}].set[{k}]")))
                    .map_err(|e| at(format!("set[{k}]"), e))
            })
            .collect::<Result<_, _>>()?;
        let file = dir.join(&entry.file);
        if !file.is_file() {
            return Err(at(
                "file".into(),
                format!("{} is not a file", file.display()),
            ));
        }
        // An error that names neither the manifest nor the file (a value a `set` gave)
        // is placed at the workload.
        let scenario = Scenario::from_file_with(&file, &sets).map_err(|e| {
            let said = e.to_string();
            if said.contains(&origin) || said.contains(&file.display().to_string()) {
                e
            } else {
                at("set".into(), said)
            }
        })?;
        let mut origin = entry.file.display().to_string();
        if !entry.set.is_empty() {
            origin = format!("{origin} --set {}", entry.set.join(" --set "));
        }
        out.push(Workload {
            name: entry.name.unwrap_or_else(|| scenario.name().to_string()),
            origin,
            file,
            scenario,
        });
    }
    Ok(out)
}
