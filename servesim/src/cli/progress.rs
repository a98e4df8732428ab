//! The progress bar of the long commands (`ab`, `suite`, `validate`, `profile --mode
//! simulate`, `report`, `airline`): drawn on stderr only when stderr is a terminal, so
//! piped output, `--json` and tests see exactly what they saw without it.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use servesim::progress::Observer;

/// A bar that follows each phase of the work; cleared when dropped.
pub struct Bar(ProgressBar);

impl Bar {
    /// A bar on stderr if it is a terminal, hidden otherwise.
    pub fn new() -> Bar {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>20} [{bar:30}] {pos}/{len} ({elapsed}, {eta} left)",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        Bar(bar)
    }
}

impl Observer for Bar {
    fn phase(&self, what: &str, total: u64) {
        self.0.reset();
        self.0.set_length(total);
        self.0.set_message(what.to_string());
    }

    fn done(&self) {
        self.0.inc(1);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
