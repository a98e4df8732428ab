//! `servesim calibrate`: calibration data import.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

use clap::Subcommand;
use servesim_models::calibration::import::import_dir;
use servesim_models::hardware::GpuCatalog;

use super::CliError;

/// `servesim calibrate` subcommands.
#[derive(Subcommand)]
pub enum CalibrateCommand {
    /// Convert kernel tables in the public layout (`DIR/<gpu>/<backend>/<table>.csv[.gz]`, the
    /// columns of aiconfigurator's performance database) into the calibration format.
    Import {
        /// Folder in the public layout, or already in the calibration format (a harness run).
        dir: PathBuf,
        /// Output calibration root (`<out>/<gpu>/<backend>/<family>.csv.gz`).
        #[arg(long, default_value = "data/calibration")]
        out: PathBuf,
        /// Provenance written as `# source:` in every file.
        #[arg(long)]
        source: Option<String>,
        /// License written as `# license:` in every file.
        #[arg(long)]
        license: Option<String>,
    },
}

/// Runs a `servesim calibrate` subcommand.
pub fn run(cmd: CalibrateCommand) -> Result<(), CliError> {
    match cmd {
        CalibrateCommand::Import {
            dir,
            out,
            source,
            license,
        } => {
            // Each is one `# key: value` header line of every file written.
            for (flag, value) in [("--source", &source), ("--license", &license)] {
                if value
                    .as_deref()
                    .is_some_and(|v| v.chars().any(char::is_control))
                {
                    return Err(CliError::Message(format!(
                        "{flag}: holds a line break or another control character, which would \
                         break the header line it is written as; give it on one line"
                    )));
                }
            }
            super::prepare_out_dir("--out", &out, &[], &[])?;
            let mut extra = BTreeMap::new();
            if let Some(s) = source {
                extra.insert("source".to_string(), s);
            }
            if let Some(l) = license {
                extra.insert("license".to_string(), l);
            }
            let files =
                import_dir(&dir, &out, &extra).map_err(|e| CliError::Message(e.to_string()))?;
            // A GPU the catalog does not know is read only with a GPU file naming it.
            let catalog = GpuCatalog::builtin();
            let gpus: BTreeSet<String> = files
                .iter()
                .filter_map(|f| f.strip_prefix(&out).ok()?.iter().next())
                .map(|g| g.to_string_lossy().into_owned())
                .filter(|g| catalog.resolve(g).is_err())
                .collect();
            for g in gpus {
                eprintln!(
                    "warning: {g} is not a built-in GPU (servesim list gpus): its tables are \
                     read only where a GPU file names it (perf predict --gpu-file)"
                );
            }
            let mut stdout = std::io::stdout().lock();
            for f in files {
                writeln!(stdout, "wrote {}", f.display())
                    .map_err(|e| CliError::Message(e.to_string()))?;
            }
            Ok(())
        }
    }
}
