//! Kafka 2.5's log files beside our structured stdout log: a `tracing` layer that writes
//! `server.log`, `controller.log`, `state-change.log` and `log-cleaner.log` in `$LOG_DIR`
//! with log4j's layout from Kafka's shipped `config/log4j.properties`
//! (`[%d] %p %m (%c)%n`: `[2020-05-01 10:00:00,123] INFO message (broker.module)`), rolled
//! every hour as its DailyRollingFileAppender does (`DatePattern='.'yyyy-MM-dd-HH`: the file
//! of the past hour is renamed `server.log.2020-05-01-09`).
//!
//! Routing follows Kafka's loggers: the controller (`broker::controller::*`, Kafka's
//! `kafka.controller`) goes to controller.log, the log cleaner (`broker::log::cleaner::*`,
//! Kafka's `kafka.log.LogCleaner`) to log-cleaner.log, events with target
//! `state.change.logger` (partition leader/follower transitions) to state-change.log — none
//! of them also in server.log, as Kafka's appenders have `additivity=false` — and the rest to
//! server.log. The logger column is our module path (Kafka prints its class name there).
//!
//! Installed by the `kafka-server` binary when `LOG_DIR` is set (Kafka's scripts set the
//! same variable for `kafka.logs.dir`); `KAFKA_LOG4J_FILES=false` turns it off. A file
//! that cannot be written is reported once on stderr and skipped, never fatal.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// The four files, in routing order.
pub const FILES: [&str; 4] = ["server.log", "controller.log", "state-change.log", "log-cleaner.log"];

/// Which file an event goes to (an index into `FILES`).
pub fn route(target: &str) -> usize {
    if target == "state.change.logger" {
        2
    } else if target.starts_with("broker::controller") {
        1
    } else if target.starts_with("broker::log::cleaner") {
        3
    } else {
        0
    }
}

/// One line in log4j's `[%d] %p %m (%c)%n` layout.
pub fn line(time: &jiff::Zoned, level: &Level, message: &str, target: &str) -> String {
    let logger = target.replace("::", ".");
    format!(
        "[{:04}-{:02}-{:02} {:02}:{:02}:{:02},{:03}] {} {} ({})\n",
        time.year(),
        time.month(),
        time.day(),
        time.hour(),
        time.minute(),
        time.second(),
        time.millisecond(),
        level,
        message,
        logger
    )
}

/// The hour a line belongs to, as the rolled file's suffix (`yyyy-MM-dd-HH`).
pub fn hour_suffix(time: &jiff::Zoned) -> String {
    format!("{:04}-{:02}-{:02}-{:02}", time.year(), time.month(), time.day(), time.hour())
}

struct Out {
    path: PathBuf,
    file: Option<File>,
    /// The hour the open file holds.
    hour: String,
    failed: bool,
}

impl Out {
    fn write(&mut self, hour: &str, text: &str) {
        if self.hour != hour {
            if !self.hour.is_empty() {
                self.file = None;
                let rolled = PathBuf::from(format!("{}.{}", self.path.display(), self.hour));
                let _ = std::fs::rename(&self.path, rolled);
            }
            self.hour = hour.to_string();
        }
        if self.file.is_none() {
            match OpenOptions::new().create(true).append(true).open(&self.path) {
                Ok(f) => self.file = Some(f),
                Err(e) => {
                    if !self.failed {
                        eprintln!("kafka-server: cannot write {}: {e}", self.path.display());
                        self.failed = true;
                    }
                    return;
                }
            }
        }
        if let Some(f) = self.file.as_mut() {
            if f.write_all(text.as_bytes()).is_err() {
                self.file = None;
            }
        }
    }
}

/// The layer. Writes are serialised by one mutex (log lines are few next to requests).
pub struct Log4jFiles {
    outs: Mutex<Vec<Out>>,
    level: Level,
}

impl Log4jFiles {
    /// Files in `dir` (created if missing); events at `level` and above.
    pub fn new(dir: &Path, level: Level) -> std::io::Result<Log4jFiles> {
        std::fs::create_dir_all(dir)?;
        // A file left by an earlier run belongs to the hour it was last written in: it rolls
        // at the first line of a later hour, as log4j's appender does at activation.
        let outs = FILES
            .iter()
            .map(|f| {
                let path = dir.join(f);
                let hour = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| jiff::Timestamp::try_from(t).ok())
                    .map(|t| hour_suffix(&t.to_zoned(jiff::tz::TimeZone::system())))
                    .unwrap_or_default();
                Out { path, file: None, hour, failed: false }
            })
            .collect();
        Ok(Log4jFiles { outs: Mutex::new(outs), level })
    }

    fn write(&self, time: &jiff::Zoned, level: &Level, message: &str, target: &str) {
        let text = line(time, level, message, target);
        let hour = hour_suffix(time);
        if let Ok(mut outs) = self.outs.lock() {
            if let Some(o) = outs.get_mut(route(target)) {
                o.write(&hour, &text);
            }
        }
    }
}

/// Collects an event's message and its other fields (`key=value`, after the message).
#[derive(Default)]
struct Message(String, String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.1, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.1, " {}={:?}", field.name(), value);
        }
    }
}

impl<S: Subscriber> Layer<S> for Log4jFiles {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() > self.level {
            return;
        }
        let mut m = Message::default();
        event.record(&mut m);
        m.0.push_str(&m.1);
        self.write(&jiff::Zoned::now(), meta.level(), &m.0, meta.target());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_look_like_kafkas() {
        let t: jiff::Zoned = "2020-05-01T10:00:00.123+00:00[UTC]".parse().unwrap();
        assert_eq!(
            line(&t, &Level::INFO, "[KafkaServer id=0] started", "broker::broker"),
            "[2020-05-01 10:00:00,123] INFO [KafkaServer id=0] started (broker.broker)\n"
        );
        assert_eq!(hour_suffix(&t), "2020-05-01-10");
        assert_eq!(route("broker::controller::event_loop"), 1);
        assert_eq!(route("state.change.logger"), 2);
        assert_eq!(route("broker::log::cleaner::manager"), 3);
        assert_eq!(route("broker::server"), 0);
    }

    #[test]
    fn files_roll_every_hour() {
        let d = tempfile::tempdir().unwrap();
        let l = Log4jFiles::new(d.path(), Level::INFO).unwrap();
        let t1: jiff::Zoned = "2020-05-01T09:59:59.999+00:00[UTC]".parse().unwrap();
        let t2: jiff::Zoned = "2020-05-01T10:00:00.001+00:00[UTC]".parse().unwrap();
        l.write(&t1, &Level::INFO, "one", "broker::broker");
        l.write(&t1, &Level::WARN, "elected", "broker::controller::election");
        l.write(&t2, &Level::INFO, "two", "broker::broker");
        let rolled = std::fs::read_to_string(d.path().join("server.log.2020-05-01-09")).unwrap();
        assert_eq!(rolled, "[2020-05-01 09:59:59,999] INFO one (broker.broker)\n");
        let now = std::fs::read_to_string(d.path().join("server.log")).unwrap();
        assert_eq!(now, "[2020-05-01 10:00:00,001] INFO two (broker.broker)\n");
        let c = std::fs::read_to_string(d.path().join("controller.log")).unwrap();
        assert!(c.contains("WARN elected (broker.controller.election)"), "{c}");
    }
}
