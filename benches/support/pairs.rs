//! Interleaved baseline/candidate timing for benches that compare two sides in one run.
//!
//! Every iteration runs one baseline op and one candidate op, in alternating order (A B,
//! then B A), each timed on its own, so drift (a growing collection, a checkpoint, a busy
//! machine) weighs on both sides alike. Criterion gets two benchmarks per pair (one reports
//! the baseline's times, the other the candidate's); the ratios come from every op timed.
#![allow(dead_code)]

use std::cell::RefCell;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

/// Every op time of one side.
#[derive(Default)]
pub struct Side {
    times: RefCell<Vec<Duration>>,
}

impl Side {
    pub fn add(&self, took: Duration) {
        self.times.borrow_mut().push(took);
    }

    pub fn ops(&self) -> usize {
        self.times.borrow().len()
    }

    pub fn mean(&self) -> Duration {
        let times = self.times.borrow();
        times.iter().sum::<Duration>() / u32::try_from(times.len().max(1)).unwrap_or(u32::MAX)
    }

    pub fn median(&self) -> Duration {
        let mut times = self.times.borrow().clone();
        times.sort_unstable();
        times.get(times.len() / 2).copied().unwrap_or_default()
    }
}

/// One baseline/helper pair, measured interleaved.
pub struct Pair {
    pub baseline: Side,
    pub helper: Side,
}

impl Pair {
    pub fn new() -> Self {
        Pair {
            baseline: Side::default(),
            helper: Side::default(),
        }
    }

    /// Runs `iters` (baseline, helper) pairs, alternating which goes first; returns the time
    /// of the side `report` picks.
    pub fn run<A, B>(
        &self,
        rt: &Runtime,
        iters: u64,
        baseline: A,
        helper: B,
        report_helper: bool,
    ) -> Duration
    where
        A: AsyncFn(u64),
        B: AsyncFn(u64),
    {
        rt.block_on(async {
            let (mut base_time, mut helper_time) = (Duration::ZERO, Duration::ZERO);
            for i in 0..iters {
                let time_base = async || {
                    let start = Instant::now();
                    baseline(i).await;
                    start.elapsed()
                };
                let time_helper = async || {
                    let start = Instant::now();
                    helper(i).await;
                    start.elapsed()
                };
                let (b, h) = if i.is_multiple_of(2) {
                    let b = time_base().await;
                    (b, time_helper().await)
                } else {
                    let h = time_helper().await;
                    (time_base().await, h)
                };
                self.baseline.add(b);
                self.helper.add(h);
                base_time += b;
                helper_time += h;
            }
            if report_helper {
                helper_time
            } else {
                base_time
            }
        })
    }

    /// Helper throughput / baseline throughput, from the mean op times.
    pub fn ratio_of_means(&self) -> f64 {
        self.baseline.mean().as_secs_f64() / self.helper.mean().as_secs_f64()
    }

    /// The same from the median op times: what a busy machine's stalls do not move.
    pub fn ratio_of_medians(&self) -> f64 {
        self.baseline.median().as_secs_f64() / self.helper.median().as_secs_f64()
    }

    /// Prints the ratios of one pair: candidate throughput / baseline throughput.
    pub fn print(&self, name: &str) {
        println!(
            "{name}: throughput ratio {:.3} (means: {:?} vs {:?} per op), {:.3} (medians: {:?} vs {:?}); {} interleaved pairs",
            self.ratio_of_means(),
            self.helper.mean(),
            self.baseline.mean(),
            self.ratio_of_medians(),
            self.helper.median(),
            self.baseline.median(),
            self.helper.ops(),
        );
    }
}
