//! Prometheus metrics in the text exposition format (version 0.0.4). Few enough series that a
//! registry crate would add more than it saves.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Latency bucket bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 8.0,
];

#[derive(Default)]
pub struct Metrics {
    admitted: AtomicU64,
    warned: AtomicU64,
    denied: Mutex<BTreeMap<&'static str, u64>>,
    cache: Mutex<BTreeMap<&'static str, u64>>,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
}

impl Metrics {
    pub fn record(
        &self,
        allowed: bool,
        warned: bool,
        reasons: &[&'static str],
        cache: &[&'static str],
        latency: Duration,
    ) {
        if allowed {
            self.admitted.fetch_add(1, Ordering::Relaxed);
        } else {
            let mut denied = self.denied.lock().unwrap_or_else(|e| e.into_inner());
            // One count per distinct reason of this review.
            let mut seen: Vec<&str> = Vec::new();
            for reason in reasons {
                if !seen.contains(reason) {
                    seen.push(reason);
                    *denied.entry(reason).or_default() += 1;
                }
            }
        }
        if warned {
            self.warned.fetch_add(1, Ordering::Relaxed);
        }
        let mut counts = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        for use_ in cache {
            *counts.entry(use_).or_default() += 1;
        }
        drop(counts);
        let seconds = latency.as_secs_f64();
        for (bucket, bound) in self.latency_buckets.iter().zip(BUCKETS) {
            if seconds <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros
            .fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP immerse_admission_admitted_total Reviews admitted."
        );
        let _ = writeln!(out, "# TYPE immerse_admission_admitted_total counter");
        let _ = writeln!(
            out,
            "immerse_admission_admitted_total {}",
            self.admitted.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP immerse_admission_warned_total Reviews admitted with warnings."
        );
        let _ = writeln!(out, "# TYPE immerse_admission_warned_total counter");
        let _ = writeln!(
            out,
            "immerse_admission_warned_total {}",
            self.warned.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP immerse_admission_denied_total Reviews denied, by reason."
        );
        let _ = writeln!(out, "# TYPE immerse_admission_denied_total counter");
        for (reason, n) in self.denied.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(
                out,
                "immerse_admission_denied_total{{reason=\"{reason}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP immerse_admission_cache_total Verification lookups, by how they were answered."
        );
        let _ = writeln!(out, "# TYPE immerse_admission_cache_total counter");
        for (result, n) in self.cache.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(
                out,
                "immerse_admission_cache_total{{result=\"{result}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP immerse_admission_review_seconds Time to decide a review."
        );
        let _ = writeln!(out, "# TYPE immerse_admission_review_seconds histogram");
        for (bucket, bound) in self.latency_buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "immerse_admission_review_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "immerse_admission_review_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "immerse_admission_review_seconds_sum {}",
            self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "immerse_admission_review_seconds_count {count}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histogram_render_in_the_text_format() {
        let m = Metrics::default();
        m.record(true, false, &[], &["hit"], Duration::from_millis(3));
        m.record(
            false,
            false,
            &["signature", "signature"],
            &["miss"],
            Duration::from_secs(20),
        );
        let text = m.render();
        assert!(text.contains("immerse_admission_admitted_total 1\n"));
        assert!(text.contains("immerse_admission_denied_total{reason=\"signature\"} 1\n"));
        assert!(text.contains("immerse_admission_cache_total{result=\"hit\"} 1\n"));
        assert!(text.contains("immerse_admission_review_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("immerse_admission_review_seconds_bucket{le=\"8\"} 1\n"));
        assert!(text.contains("immerse_admission_review_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("immerse_admission_review_seconds_count 2\n"));
    }
}
