//! Summaries of repeated measurements: median with min and max over runs, and
//! percentiles of one run's samples. Nothing here judges a number; it only reduces them.

use serde::{Deserialize, Serialize};

/// One figure over several runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: Vec<f64>,
}

impl Stat {
    pub fn of(runs: Vec<f64>) -> Stat {
        let mut sorted = runs.clone();
        sorted.sort_by(f64::total_cmp);
        Stat {
            median: median_sorted(&sorted),
            min: sorted.first().copied().unwrap_or(f64::NAN),
            max: sorted.last().copied().unwrap_or(f64::NAN),
            runs,
        }
    }

    /// Run by run `self / other`, summarised the same way.
    pub fn ratio_to(&self, other: &Stat) -> Stat {
        Stat::of(
            self.runs
                .iter()
                .zip(&other.runs)
                .map(|(a, b)| a / b)
                .collect(),
        )
    }
}

fn median_sorted(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The `p`-th percentile (0–100) by nearest rank; `samples` need not be sorted.
pub fn percentile(samples: &mut [f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max_and_ratio() {
        let a = Stat::of(vec![3.0, 1.0, 2.0]);
        assert_eq!((a.median, a.min, a.max), (2.0, 1.0, 3.0));
        let b = Stat::of(vec![1.5, 0.5, 1.0]);
        let r = a.ratio_to(&b);
        assert_eq!(r.median, 2.0);
        assert_eq!(Stat::of(vec![1.0, 4.0]).median, 2.5);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut v, 50.0), 50.0);
        assert_eq!(percentile(&mut v, 99.0), 99.0);
        assert_eq!(percentile(&mut v, 100.0), 100.0);
    }
}
