//! The build's progress bar: bytes of input read, documents per second and time left.
//! It draws only when standard error is a terminal.

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Shows how far a build has got.
pub struct BuildProgress {
    bar: Option<ProgressBar>,
}

impl BuildProgress {
    /// A progress bar over `total_bytes` of input, or nothing when `enabled` is false or
    /// standard error is not a terminal.
    pub fn new(total_bytes: u64, enabled: bool) -> BuildProgress {
        if !enabled || !std::io::stderr().is_terminal() {
            return BuildProgress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{bar:30}] {bytes}/{total_bytes} {msg} (ETA {eta})",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        BuildProgress { bar: Some(bar) }
    }

    /// Records the input bytes read so far and the documents indexed so far.
    pub fn update(&self, bytes_read: u64, docs: u64, seconds: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(bytes_read);
            let rate = if seconds > 0.0 { docs as f64 / seconds } else { 0.0 };
            bar.set_message(format!("{docs} docs, {rate:.0} docs/s"));
        }
    }

    /// Shows a phase that has no byte count, such as the final commit.
    pub fn phase(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_string());
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
