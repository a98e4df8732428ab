//! The progress bar of the long commands (`run`, `ab`, `suite`, `validate`, `profile --mode
//! simulate`, `report`, `airline`): drawn on stderr only when stderr is a terminal, so
//! piped output, `--json` and tests see exactly what they saw without it.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use servesim::progress::Observer;

/// A bar that follows each phase of the work; cleared when dropped.
pub struct Bar {
    bar: ProgressBar,
    /// Whether stderr is a terminal, and the bar not yet drawn there (it is drawn from the
    /// first phase on, never empty).
    pending: AtomicBool,
}

impl Bar {
    /// A bar on stderr if it is a terminal, hidden otherwise.
    pub fn new() -> Bar {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>20} [{bar:30}] {pos}/{len} ({elapsed}, {eta} left)",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        Bar {
            bar,
            pending: AtomicBool::new(std::io::stderr().is_terminal()),
        }
    }
}

impl Observer for Bar {
    fn phase(&self, what: &str, total: u64) {
        self.bar.reset();
        self.bar.set_length(total);
        self.bar.set_message(what.to_string());
        if self.pending.swap(false, Ordering::Relaxed) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    fn done(&self) {
        self.bar.inc(1);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
