//! Whether a log dir can still be used: the counterpart of Kafka 2.5's LogDirFailureChannel.
//!
//! Every [`super::Log`] holds the [`DirHealth`] of the `log.dirs` entry it lives in. Storage
//! errors are sorted in two kinds:
//! - *out of space* (ENOSPC, EDQUOT): the failed write was undone (see `segment::Mark`), the
//!   client gets KAFKA_STORAGE_ERROR, and writes work again once space is freed — no restart;
//! - anything else (EIO, a write that could not be undone, a checkpoint that cannot be
//!   written because the directory is gone, a failed fsync): the dir goes *offline* for the
//!   life of the process, as in Kafka. Its partitions answer KAFKA_STORAGE_ERROR, followers
//!   there stop fetching, leaders there hand leadership to another in-sync replica (see
//!   `replica::heal`), DescribeLogDirs reports the dir with KAFKA_STORAGE_ERROR, nothing is
//!   written there any more, and new partitions go to other dirs. When every dir is offline
//!   the broker shuts down ("all log dirs ... have failed"), as Kafka halts.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// True for errors that mean "no space left" (the write can be retried once space is back).
pub fn is_out_of_space(e: &io::Error) -> bool {
    use nix::errno::Errno;
    matches!(e.raw_os_error(), Some(c) if c == Errno::ENOSPC as i32 || c == Errno::EDQUOT as i32)
}

pub struct DirHealth {
    pub path: PathBuf,
    offline: AtomicBool,
    /// Woken once when the dir goes offline (the broker reacts: leadership, shutdown).
    on_failure: Arc<tokio::sync::Notify>,
}

impl DirHealth {
    pub fn new(path: &Path, on_failure: Arc<tokio::sync::Notify>) -> DirHealth {
        DirHealth { path: path.to_path_buf(), offline: AtomicBool::new(false), on_failure }
    }

    /// A health of its own (a log opened outside a `LogManager`, e.g. in tests).
    pub fn standalone(path: &Path) -> Arc<DirHealth> {
        Arc::new(DirHealth::new(path, Arc::new(tokio::sync::Notify::new())))
    }

    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Relaxed)
    }

    /// Takes the dir offline after `what` failed with `e` (logged once, as Kafka does).
    pub fn fail(&self, what: &str, e: &dyn std::fmt::Display) {
        if !self.offline.swap(true, Ordering::SeqCst) {
            tracing::error!("Error while {what} in dir {}: {e}", self.path.display());
            tracing::error!("Stopping serving replicas in dir {}: it is offline until the broker restarts", self.path.display());
            self.on_failure.notify_one();
        }
    }

    /// Sorts an I/O error: out of space stays online; anything else takes the dir offline.
    /// Returns whether the dir is still online.
    pub fn check(&self, what: &str, e: &io::Error) -> bool {
        if is_out_of_space(e) {
            return !self.is_offline();
        }
        self.fail(what, e);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_space_stays_online_anything_else_goes_offline() {
        let n = Arc::new(tokio::sync::Notify::new());
        let h = DirHealth::new(Path::new("/x"), n);
        assert!(h.check("appending", &io::Error::from_raw_os_error(nix::errno::Errno::ENOSPC as i32)));
        assert!(!h.is_offline());
        assert!(!h.check("appending", &io::Error::from_raw_os_error(nix::errno::Errno::EIO as i32)));
        assert!(h.is_offline());
        // Once offline, always offline.
        assert!(!h.check("appending", &io::Error::from_raw_os_error(nix::errno::Errno::ENOSPC as i32)));
    }
}
