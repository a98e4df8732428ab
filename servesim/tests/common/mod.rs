//! What the CLI tests share: running the built `servesim` binary.

use std::process::Command;

/// Runs `servesim args…`: (success, stdout, stderr).
pub fn servesim(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_servesim"))
        .args(args)
        .output()
        .expect("servesim runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
