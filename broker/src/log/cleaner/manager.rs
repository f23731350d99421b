//! The cleaner threads' loop over the log manager's logs (Kafka's `LogCleanerManager` +
//! `CleanerThread`): pick the dirtiest compacted log, clean it, record the checkpoint, log
//! the figures. The I/O of one clean is in `clean`, the choice in `plan`.

use std::collections::HashSet;
use std::sync::Arc;

use super::clean::{clean_log, CleanError};
use super::plan;
use crate::log::partition_log::now_ms;
use crate::log::{LogManager, Partition, TopicPartition};

impl LogManager {
    /// The log dir (a `log.dirs` entry) holding `log_dir`.
    fn root_of(&self, log_dir: &std::path::Path) -> Option<std::path::PathBuf> {
        self.dirs.iter().find(|d| log_dir.starts_with(d)).cloned()
    }

    /// One pass of a cleaner thread: cleans the dirtiest log worth it, if any. Returns
    /// whether a log was cleaned.
    pub fn clean_once(&self, thread: usize) -> bool {
        let cfg = self.cleaner.config();
        let now = now_ms();
        // The candidates, each frozen once, under its own lock only.
        let mut best: Option<(TopicPartition, Arc<Partition>, std::path::PathBuf, crate::log::partition_log::Frozen, plan::Cleanable)> = None;
        let mut best_ratio = f64::MIN;
        for (tp, p) in self.all() {
            if p.offline() || self.cleaner.is_busy_or_failed(&tp) {
                continue;
            }
            let (frozen, root) = {
                let mut log = p.lock();
                let Some(root) = self.root_of(&log.dir) else { continue };
                if let Some(t) = log.take_truncation() {
                    self.cleaner.lower_checkpoint(&root, &tp, t);
                }
                if !log.config.compact {
                    continue;
                }
                let cp = self.cleaner.checkpoint_of(&root, &tp);
                (log.freeze_for_cleaning(cp, log.config.min_cleanable_ratio), root)
            };
            let c = plan::cleanable_offsets(&frozen.view, now);
            if !c.worth_it(frozen.view.min_cleanable_ratio) {
                continue;
            }
            // The dirtiest; one overdue by max.compaction.lag.ms counts as fully dirty.
            let ratio = if c.need_now() { 2.0 } else { c.ratio() };
            if ratio > best_ratio {
                best_ratio = ratio;
                best = Some((tp, p.clone(), root, frozen, c));
            }
        }
        let Some((tp, part, root, frozen, c)) = best else { return false };
        if !self.cleaner.claim(&tp) {
            return false;
        }
        let name = format!("{}-{}", tp.0, tp.1);
        let res = clean_log(&part, &frozen, &c, cfg.budget(), now);
        drop(frozen);
        let cleaned = res.is_ok();
        match res {
            Ok((end, stats)) => {
                if stats.interrupted {
                    tracing::info!("Log cleaner thread {thread}: {name} changed while it was cleaned; it is cleaned again later");
                }
                let live: HashSet<TopicPartition> = self.all().into_iter().map(|(k, _)| k).collect();
                if let Err(e) = self.cleaner.set_checkpoint(&root, &tp, if stats.interrupted { c.first_dirty } else { end }, &live) {
                    tracing::warn!("cannot write {}/{}: {e}", root.display(), super::CHECKPOINT_FILE);
                }
                tracing::info!("{}", stats.line(thread, &name));
            }
            Err(CleanError::Log(e)) => {
                tracing::error!("Log cleaner thread {thread}: cleaning {name} failed: {e}");
            }
            Err(CleanError::Io(e)) => {
                // A log truncated or deleted while it was read ends up here too: tried again
                // after the backoff.
                tracing::warn!("Log cleaner thread {thread}: cleaning {name} failed: {e}; trying again later");
            }
            Err(e) => {
                tracing::error!("Log cleaner thread {thread}: cleaning {name} failed: {e}; the partition is marked uncleanable until a restart");
                self.cleaner.mark_uncleanable(&tp);
            }
        }
        self.cleaner.release(&tp);
        // After a failure the thread backs off rather than trying again at once.
        cleaned
    }

    /// A cleaner thread's loop, until `stop` says so (checked at least every 100 ms when
    /// idle).
    pub fn run_cleaner(&self, thread: usize, stop: &dyn Fn() -> bool) {
        loop {
            if stop() {
                return;
            }
            let cfg = self.cleaner.config();
            if cfg.enable && thread < cfg.threads && self.clean_once(thread) {
                continue;
            }
            let idle = std::time::Instant::now();
            while idle.elapsed() < std::time::Duration::from_millis(self.cleaner.config().backoff_ms) {
                if stop() {
                    return;
                }
                std::thread::sleep(super::IDLE_SLICE);
            }
        }
    }
}
