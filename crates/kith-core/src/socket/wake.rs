//! Detecting a resume from sleep.
//!
//! On Linux the monotonic clock stops while the machine is suspended, but the wall
//! clock does not. When the wall clock advanced much further than the monotonic clock
//! between two observations, the machine slept. Pure: both clocks are arguments.

use std::time::{Duration, Instant, SystemTime};

/// Remembers the last observation of both clocks.
#[derive(Debug, Clone)]
pub(crate) struct SleepDetector {
    last_wall: SystemTime,
    last_mono: Instant,
    threshold: Duration,
}

impl SleepDetector {
    /// A wall-clock lead of more than `threshold` over the monotonic clock means a sleep.
    pub(crate) fn new(wall: SystemTime, mono: Instant, threshold: Duration) -> Self {
        SleepDetector {
            last_wall: wall,
            last_mono: mono,
            threshold,
        }
    }

    /// Records an observation; returns how long the machine slept, if it did.
    /// A wall clock set backwards is not a sleep.
    pub(crate) fn observe(&mut self, wall: SystemTime, mono: Instant) -> Option<Duration> {
        let wall_delta = wall
            .duration_since(self.last_wall)
            .unwrap_or(Duration::ZERO);
        let mono_delta = mono.saturating_duration_since(self.last_mono);
        self.last_wall = wall;
        self.last_mono = mono;
        let lead = wall_delta.saturating_sub(mono_delta);
        (lead > self.threshold).then_some(lead)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wall_clock_jump_is_a_sleep_and_steady_time_is_not() {
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let mono = Instant::now();
        let mut detector = SleepDetector::new(wall, mono, Duration::from_secs(5));
        let step = Duration::from_secs(15);
        assert_eq!(detector.observe(wall + step, mono + step), None);
        let slept = detector.observe(wall + step * 2 + Duration::from_secs(600), mono + step * 2);
        assert_eq!(slept, Some(Duration::from_secs(600)));
        // Setting the clock back is not a sleep.
        assert_eq!(detector.observe(wall, mono + step * 3), None);
    }
}
