//! Per-cluster fault knobs for reliability tests: added latency, a random error rate, down, and
//! going down right after accepting a number of writes.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// The fault settings of one cluster, as the admin endpoint reads and writes them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultSettings {
    /// Added to every request before it is served.
    #[serde(default)]
    pub latency_ms: u64,
    /// Fraction of requests, 0.0 to 1.0, answered with 500 InternalError.
    #[serde(default)]
    pub error_rate: f64,
    /// When true every request gets 503 ServiceUnavailable and open watches end.
    #[serde(default)]
    pub down: bool,
    /// When set, the cluster serves this many more writes (POST, PUT, PATCH, DELETE), then goes
    /// down (as `down`) right after accepting the last one. Reads do not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_after_writes: Option<u64>,
}

/// Live fault knobs, changed without locking the cluster.
#[derive(Debug)]
pub struct Faults {
    latency_ms: AtomicU64,
    error_rate_bits: AtomicU64,
    down: AtomicBool,
    draws: AtomicU64,
    /// Writes left before going down; `u64::MAX` when not counting.
    writes_left: AtomicU64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency_ms: AtomicU64::new(0),
            error_rate_bits: AtomicU64::new(0),
            down: AtomicBool::new(false),
            draws: AtomicU64::new(0),
            writes_left: AtomicU64::new(u64::MAX),
        }
    }
}

impl Faults {
    /// Replaces all settings.
    pub fn set(&self, s: FaultSettings) {
        self.latency_ms.store(s.latency_ms, Ordering::Relaxed);
        self.error_rate_bits
            .store(s.error_rate.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
        self.down.store(s.down, Ordering::Relaxed);
        self.writes_left
            .store(s.down_after_writes.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The current settings.
    pub fn get(&self) -> FaultSettings {
        FaultSettings {
            latency_ms: self.latency_ms.load(Ordering::Relaxed),
            error_rate: f64::from_bits(self.error_rate_bits.load(Ordering::Relaxed)),
            down: self.down.load(Ordering::Relaxed),
            down_after_writes: match self.writes_left.load(Ordering::Relaxed) {
                u64::MAX => None,
                n => Some(n),
            },
        }
    }

    /// Counts a request that the cluster is about to serve: the last write allowed by
    /// `down_after_writes` is served, and the cluster is down for every request after it.
    pub fn admit(&self, write: bool) {
        if !write {
            return;
        }
        let left =
            self.writes_left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| match n {
                    u64::MAX | 0 => None,
                    n => Some(n - 1),
                });
        if left == Ok(1) {
            self.down.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the cluster is down.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// The latency to add to a request.
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.load(Ordering::Relaxed))
    }

    /// Draws whether this request fails. A splitmix64 sequence keeps the error rate exact over
    /// many requests without a random-number dependency.
    pub fn should_fail(&self) -> bool {
        let rate = f64::from_bits(self.error_rate_bits.load(Ordering::Relaxed));
        if rate <= 0.0 {
            return false;
        }
        let n = self.draws.fetch_add(1, Ordering::Relaxed);
        let mut z = n
            .wrapping_add(0x9E37_79B9_7F4A_7C15)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 / (1u64 << 53) as f64) < rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rate_is_roughly_honoured() {
        let f = Faults::default();
        f.set(FaultSettings {
            error_rate: 0.25,
            ..Default::default()
        });
        let fails = (0..10_000).filter(|_| f.should_fail()).count();
        assert!((2_000..3_000).contains(&fails), "{fails}");
        f.set(FaultSettings::default());
        assert!(!(0..1000).any(|_| f.should_fail()));
    }

    #[test]
    fn down_after_the_last_write_allowed() {
        let f = Faults::default();
        f.admit(true);
        assert!(!f.is_down(), "not counting by default");
        f.set(FaultSettings {
            down_after_writes: Some(2),
            ..Default::default()
        });
        f.admit(false);
        f.admit(true);
        assert!(!f.is_down());
        assert_eq!(f.get().down_after_writes, Some(1));
        f.admit(true);
        assert!(f.is_down(), "down right after the second write");
    }
}
