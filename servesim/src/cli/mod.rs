//! Subcommand implementations of the `servesim` tool.

pub mod ab;
pub mod airline;
pub mod bench;
pub mod calibrate;
pub mod list;
pub mod perf;
pub mod profile;
pub mod progress;
pub mod report;
pub mod run;
pub mod schema;
pub mod suite;
pub mod traffic;
pub mod validate;

/// Any error a subcommand reports: printed as `error: ...`, exit code 1 (2 for
/// [`CliError::SloNotMet`]).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A message already in words (the wrapped error names the file, line or field).
    #[error("{0}")]
    Message(String),
    /// The work was done and its outputs written, but nothing it found meets the SLOs.
    #[error("{0}")]
    SloNotMet(String),
}

impl CliError {
    /// The process's exit status.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Message(_) => 1,
            CliError::SloNotMet(_) => 2,
        }
    }
}

/// Threads for `--jobs`: the machine's cores when left out; 0 is an error.
pub fn jobs(flag: Option<usize>) -> Result<usize, CliError> {
    match flag {
        Some(0) => Err(CliError::Message("--jobs: must be at least 1".into())),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

/// A file or folder the command reads, named for errors: what it is, and its path.
pub type Input<'a> = (&'a str, &'a std::path::Path);

/// How an output path meets one of the command's inputs.
enum Clash<'a> {
    /// It names the input file (as written, in another spelling, or through links).
    File(&'a str),
    /// It lies in the input folder, whose next reader would take it for one of its files.
    InFolder(&'a str),
}

/// The input of `inputs` that `path` would lose, if any.
fn input_at<'a>(path: &std::path::Path, inputs: &[Input<'a>]) -> Option<Clash<'a>> {
    inputs.iter().find_map(|&(what, input)| {
        if servesim::validate::same_file(path, input) {
            Some(Clash::File(what))
        } else if input.is_dir() && servesim::validate::inside(path, input) {
            Some(Clash::InFolder(what))
        } else {
            None
        }
    })
}

/// Checks, before any work, that a file can be written at `path` (given as `flag`): its
/// folder exists, it is not itself a folder, and it is none of the command's `inputs`.
pub fn check_writable(
    flag: &str,
    path: &std::path::Path,
    inputs: &[Input],
) -> Result<(), CliError> {
    match input_at(path, inputs) {
        Some(Clash::File(what)) => {
            return Err(CliError::Message(format!(
                "{flag} {}: is the {what}; give another path, or it would be written over",
                path.display()
            )));
        }
        Some(Clash::InFolder(what)) => {
            return Err(CliError::Message(format!(
                "{flag} {}: is inside the {what}; give a path outside it",
                path.display()
            )));
        }
        None => {}
    }
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if path.is_dir() {
        return Err(CliError::Message(format!(
            "{flag} {}: is a folder, not a file",
            path.display()
        )));
    }
    if !folder.is_dir() {
        return Err(CliError::Message(format!(
            "{flag} {}: the folder {} does not exist",
            path.display(),
            folder.display()
        )));
    }
    Ok(())
}

/// Checks, before any work, that the folder `dir` (given as `flag`) can hold the outputs
/// `files`: creates it if missing, and fails if it (or a folder on its way) is a file, or if
/// one of `files` inside it is a folder or one of the command's `inputs`.
pub fn prepare_out_dir(
    flag: &str,
    dir: &std::path::Path,
    files: &[&str],
    inputs: &[Input],
) -> Result<(), CliError> {
    for f in files {
        let path = dir.join(f);
        let clash = match input_at(&path, inputs) {
            Some(Clash::File(what)) => format!("over the {what}"),
            Some(Clash::InFolder(what)) => format!("inside the {what}"),
            None => continue,
        };
        return Err(CliError::Message(format!(
            "{flag} {}: would write {f} {clash} ({}); give another folder",
            dir.display(),
            path.display()
        )));
    }
    if dir.exists() && !dir.is_dir() {
        return Err(CliError::Message(format!(
            "{flag} {}: is a file, not a folder",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        CliError::Message(format!(
            "{flag} {}: cannot create the folder: {e}",
            dir.display()
        ))
    })?;
    for f in files {
        let path = dir.join(f);
        if path.is_dir() {
            return Err(CliError::Message(format!(
                "{flag} {}: {} is a folder, not a file",
                dir.display(),
                path.display()
            )));
        }
    }
    Ok(())
}

/// Tells on stderr, before a run starts, what can be said of it already (a run that will
/// take long): `servesim::warnings::before_run`.
pub fn warn_before(scenario: &servesim::Scenario) {
    for w in servesim::warnings::before_run(scenario) {
        eprintln!("warning: {w}");
    }
}

/// Tells on stderr what planner settings a comparison of policies gives a scenario without
/// a `planner:` section (`servesim::experiment::with_policy`), which `run` would refuse as
/// incomplete: the user did not write them.
pub fn note_default_planner(scenario: &servesim::Scenario) {
    if scenario.planner().is_none() {
        eprintln!(
            "note: the scenario has no planner section: each policy decides every {} s with \
             its own defaults (set planner.interval_s and the rest to choose)",
            servesim::experiment::DEFAULT_INTERVAL_S
        );
    }
}

/// Tells on stderr, after the runs of one scenario, what their summaries warned of beyond
/// what [`warn_before`] said: each warning once, with the runs that gave it
/// (`servesim::warnings::of_runs`).
pub fn warn_after<'a>(
    scenario: &servesim::Scenario,
    runs: impl IntoIterator<Item = (&'a str, &'a servesim::report::Summary)>,
) {
    let before = servesim::warnings::before_run(scenario);
    let runs: Vec<(&str, &[String])> = (runs.into_iter())
        .map(|(policy, s)| (policy, s.warnings.as_slice()))
        .collect();
    for w in servesim::warnings::of_runs(&before, &runs) {
        eprintln!("warning: {w}");
    }
}
