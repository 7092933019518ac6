//! Process metrics read from `/proc/self` at scrape time (Linux): CPU seconds,
//! resident memory, open file descriptors, threads, and the start time. Elsewhere
//! (no `/proc`), only the start time.

use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use crate::{encode_counter, encode_gauge};

/// Clock ticks per second in `/proc/self/stat` (`USER_HZ`, 100 on Linux everywhere).
const TICKS_PER_SECOND: f64 = 100.0;

/// The process collector.
#[derive(Debug)]
pub struct ProcessCollector {
    start_time_seconds: i64,
}

impl ProcessCollector {
    /// For a process that started at `started`.
    pub fn new(started: SystemTime) -> Self {
        ProcessCollector {
            start_time_seconds: started
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        }
    }
}

/// `(utime + stime)` in seconds, from `/proc/self/stat`.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces), which ends at the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// A `Name:  value kB` line of `/proc/self/status`, as a number (kB for memory).
fn status_field(name: &str) -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn open_fds() -> Option<i64> {
    let count = std::fs::read_dir("/proc/self/fd").ok()?.count();
    i64::try_from(count).ok()
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        encode_gauge(
            &mut encoder,
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch, in seconds",
            self.start_time_seconds,
        )?;
        if let Some(cpu) = cpu_seconds() {
            let counter = prometheus_client::metrics::counter::ConstCounter::new(cpu);
            let metric = encoder.encode_descriptor(
                "process_cpu_seconds",
                "User and system CPU time spent, in seconds",
                None,
                prometheus_client::metrics::MetricType::Counter,
            )?;
            prometheus_client::encoding::EncodeMetric::encode(&counter, metric)?;
        }
        if let Some(kb) = status_field("VmRSS") {
            encode_gauge(
                &mut encoder,
                "process_resident_memory_bytes",
                "Resident memory size, in bytes",
                kb.saturating_mul(1024),
            )?;
        }
        if let Some(threads) = status_field("Threads") {
            encode_gauge(&mut encoder, "process_threads", "OS threads", threads)?;
        }
        if let Some(fds) = open_fds() {
            encode_gauge(
                &mut encoder,
                "process_open_fds",
                "Open file descriptors",
                fds,
            )?;
        }
        let _ = encode_counter;
        Ok(())
    }
}
