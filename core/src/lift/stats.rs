//! The two tests the lift report uses, with 95% intervals.
//!
//! - Rates (conversion, reply): the difference of two proportions. The interval is Wald's
//!   (unpooled standard error); the p-value is the two-proportion z-test's (pooled standard
//!   error, the null being "no difference"). Both are the textbook large-sample methods: the
//!   report refuses to claim anything below a minimum sample per arm.
//! - Revenue per customer: Welch's t-test (unequal variances, Welch–Satterthwaite degrees of
//!   freedom), the interval from the same t distribution.
//!
//! Distribution functions come from `statrs` (normal and Student's t), not hand-written.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// The two-sided 95% level.
const LEVEL: f64 = 0.95;

/// A treated arm against its control arm on one measure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Comparison {
    /// Treated minus control (absolute uplift).
    pub diff: f64,
    /// Absolute uplift over the control's value; `None` when the control's is zero.
    pub relative: Option<f64>,
    /// The 95% interval of `diff`.
    pub low: f64,
    /// Its upper end.
    pub high: f64,
    /// Two-sided p-value of "no difference".
    pub p_value: f64,
}

impl Comparison {
    /// Whether the interval excludes zero.
    pub fn significant(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// `k` of `n` customers did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Proportion {
    /// Customers in the arm.
    pub n: u64,
    /// Of them, how many did it.
    pub k: u64,
}

impl Proportion {
    /// The rate, `None` for an empty arm.
    pub fn rate(&self) -> Option<f64> {
        (self.n > 0).then(|| self.k as f64 / self.n as f64)
    }
}

/// The 97.5th percentile of the standard normal (1.959964…).
fn z_critical() -> f64 {
    standard_normal().inverse_cdf(1.0 - (1.0 - LEVEL) / 2.0)
}

fn standard_normal() -> Normal {
    // Mean 0, sd 1 are valid parameters: this cannot fail.
    Normal::new(0.0, 1.0).unwrap_or_else(|_| unreachable!("N(0, 1) is a valid normal"))
}

/// Treated against control rates; `None` when an arm is empty.
pub fn proportions(treated: Proportion, control: Proportion) -> Option<Comparison> {
    let (p1, p0) = (treated.rate()?, control.rate()?);
    let (n1, n0) = (treated.n as f64, control.n as f64);
    let diff = p1 - p0;
    let se = (p1 * (1.0 - p1) / n1 + p0 * (1.0 - p0) / n0).sqrt();
    let z = z_critical();
    let pooled = (treated.k + control.k) as f64 / (n1 + n0);
    let se0 = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n0)).sqrt();
    let p_value = if se0 > 0.0 {
        2.0 * (1.0 - standard_normal().cdf((diff / se0).abs()))
    } else {
        // Every customer of both arms did it, or none did: no evidence of a difference.
        1.0
    };
    Some(Comparison {
        diff,
        relative: (p0 > 0.0).then(|| diff / p0),
        low: diff - z * se,
        high: diff + z * se,
        p_value,
    })
}

/// A sample's size, mean and (unbiased) variance.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Sample {
    /// Values.
    pub n: u64,
    /// Their mean.
    pub mean: f64,
    /// Their variance (n − 1 in the denominator).
    pub variance: f64,
}

impl Sample {
    /// Size, mean and variance of `values` (Welford's one pass).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let (mut n, mut mean, mut m2) = (0u64, 0.0, 0.0);
        for x in values {
            n += 1;
            let delta = x - mean;
            mean += delta / n as f64;
            m2 += delta * (x - mean);
        }
        Self {
            n,
            mean,
            variance: if n > 1 { m2 / (n - 1) as f64 } else { 0.0 },
        }
    }
}

/// Treated against control means by Welch's t-test; `None` when an arm has fewer than two
/// values.
pub fn welch(treated: Sample, control: Sample) -> Option<Comparison> {
    if treated.n < 2 || control.n < 2 {
        return None;
    }
    let (n1, n0) = (treated.n as f64, control.n as f64);
    let (v1, v0) = (treated.variance / n1, control.variance / n0);
    let diff = treated.mean - control.mean;
    let se = (v1 + v0).sqrt();
    let relative = (control.mean != 0.0).then(|| diff / control.mean);
    if se == 0.0 {
        // No spread in either arm: the difference is what it is.
        let p_value = if diff == 0.0 { 1.0 } else { 0.0 };
        return Some(Comparison {
            diff,
            relative,
            low: diff,
            high: diff,
            p_value,
        });
    }
    let df = (v1 + v0).powi(2) / (v1.powi(2) / (n1 - 1.0) + v0.powi(2) / (n0 - 1.0));
    let t = StudentsT::new(0.0, 1.0, df).ok()?;
    let critical = t.inverse_cdf(1.0 - (1.0 - LEVEL) / 2.0);
    Some(Comparison {
        diff,
        relative,
        low: diff - critical * se,
        high: diff + critical * se,
        p_value: 2.0 * (1.0 - t.cdf((diff / se).abs())),
    })
}

#[cfg(test)]
mod tests;
