//! The live progress line of `jobhost run` on a terminal: jobs done out of
//! those accepted (with the in-memory queue), retried and dead, the rate,
//! and the time left once the input has all been read.
//!
//! It exists only when stderr is a terminal (and not `--no-progress`, not
//! `--log-format json`): piped or redirected output never gets a bar or a
//! control character. It reads the queues' counters five times a second,
//! so jobs pay nothing for it. Log lines written meanwhile go through
//! [`LogWriter`], which lifts the bar out of the way for them.

use std::io::{IsTerminal as _, Write};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::queue::{Queue, QueueStats};

/// The bar being shown, for [`LogWriter`].
static SHOWN: OnceLock<ProgressBar> = OnceLock::new();

/// How often the bar reads the counters.
const TICK: Duration = Duration::from_millis(200);

/// A bar being drawn, until [`Progress::finish`].
pub struct Progress {
    bar: ProgressBar,
    ticker: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Show a bar over `queues` if stderr is a terminal and `wanted`.
    /// `bounded`: the queue ends when drained (the in-memory queue), so
    /// the tasks accepted so far are the total to show.
    pub fn start<Q: Queue>(wanted: bool, queues: Vec<Arc<Q>>, bounded: bool) -> Option<Self> {
        if !wanted || !std::io::stderr().is_terminal() {
            return None;
        }
        let template = if bounded {
            "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} done, {msg}, {per_sec}, {eta} left"
        } else {
            "{spinner} {elapsed_precise} {pos} done, {msg}, {per_sec}"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar =
            ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr()).with_style(style);
        // Only one run per process draws; a second would keep its own bar
        // without the log writer's help.
        let _ = SHOWN.set(bar.clone());
        let shown = bar.clone();
        let ticker = tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            loop {
                tick.tick().await;
                let stats: QueueStats = queues.iter().map(|queue| queue.stats()).sum();
                if bounded {
                    shown.set_length(stats.enqueued);
                }
                shown.set_position(stats.done + stats.dead);
                shown.set_message(format!("{} retried, {} dead", stats.retried, stats.dead));
                shown.tick();
            }
        });
        Some(Progress { bar, ticker })
    }

    /// Stop drawing and clear the line (the summary follows).
    pub fn finish(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}

/// The log lines' writer: stderr, with the bar (if one is shown) lifted out
/// of the way while a line is written.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> Self::Writer {
        LogLine(Vec::new())
    }
}

/// One log line, written out whole when dropped.
pub struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let line = std::mem::take(&mut self.0);
        let write = || {
            let _ = std::io::stderr().lock().write_all(&line);
        };
        match SHOWN.get() {
            Some(bar) if !bar.is_finished() => bar.suspend(write),
            _ => write(),
        }
    }
}
