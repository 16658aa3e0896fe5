//! The statistics against hand-computed (and SciPy-checked) values for small tables, and
//! their behaviour over many simulated campaigns: with no true effect, the 95% interval
//! excludes zero in about 5% of them; with a strong effect and enough customers, nearly
//! always.

use super::*;

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance
}

#[test]
fn two_proportions_by_hand() {
    // 60 of 200 against 40 of 200: 0.30 − 0.20 = 0.10; unpooled se √(.3·.7/200 + .2·.8/200)
    // = 0.0430116; pooled 0.25, se₀ = √(.25·.75·(2/200)) = 0.0433013, z = 2.309401.
    let c = proportions(Proportion { n: 200, k: 60 }, Proportion { n: 200, k: 40 }).unwrap();
    assert!(close(c.diff, 0.10, 1e-12));
    assert!(close(c.relative.unwrap(), 0.5, 1e-12));
    assert!(
        close(
            c.low,
            0.10 - 1.959_963_984_540_054 * 0.043_011_626_335_213_13,
            1e-9
        ),
        "{c:?}"
    );
    assert!(close(
        c.high,
        0.10 + 1.959_963_984_540_054 * 0.043_011_626_335_213_13,
        1e-9
    ));
    // scipy: 2 * (1 - norm.cdf(0.1 / sqrt(0.25 * 0.75 * 0.01))) = 0.020921335337793945
    assert!(close(c.p_value, 0.020_921_335_337_793_945, 1e-9), "{c:?}");
    assert!(c.significant());
}

#[test]
fn welch_by_hand() {
    // [1..5] (mean 3, var 2.5) against [2, 4, 6] (mean 4, var 4): scipy's ttest_ind
    // (equal_var=False): t = −0.7385489, df = 3.5328467, p = 0.5062142, 95% CI
    // (−4.9637255, 2.9637255).
    let t = Sample::of([1.0, 2.0, 3.0, 4.0, 5.0]);
    let c = Sample::of([2.0, 4.0, 6.0]);
    assert_eq!((t.n, t.mean, t.variance), (5, 3.0, 2.5));
    assert_eq!((c.n, c.mean, c.variance), (3, 4.0, 4.0));
    let w = welch(t, c).unwrap();
    assert!(close(w.diff, -1.0, 1e-12));
    assert!(close(w.p_value, 0.506_214_171_652_848_1, 1e-6), "{w:?}");
    assert!(close(w.low, -4.963_725_522_186_273, 1e-6), "{w:?}");
    assert!(close(w.high, 2.963_725_522_186_273, 1e-6), "{w:?}");
    assert!(!w.significant());
}

#[test]
fn empty_arms_and_degenerate_ones_claim_nothing() {
    let none = Proportion { n: 0, k: 0 };
    let some = Proportion { n: 50, k: 5 };
    assert_eq!(proportions(none, some), None);
    assert_eq!(proportions(some, none), None);
    // Nobody converted in either arm: no difference, no evidence, no relative figure.
    let zero = proportions(Proportion { n: 50, k: 0 }, Proportion { n: 40, k: 0 }).unwrap();
    assert_eq!((zero.diff, zero.p_value, zero.relative), (0.0, 1.0, None));
    assert!(!zero.significant());
    // A control with no conversions: an absolute uplift, no relative one.
    let from_zero = proportions(some, Proportion { n: 40, k: 0 }).unwrap();
    assert_eq!(from_zero.relative, None);
    assert_eq!(welch(Sample::of([1.0]), Sample::of([1.0, 2.0])), None);
    let flat = welch(Sample::of([2.0, 2.0]), Sample::of([2.0, 2.0, 2.0])).unwrap();
    assert_eq!((flat.diff, flat.p_value), (0.0, 1.0));
}

/// A small deterministic generator (SplitMix64), so the simulations are the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn converted(&mut self, n: u64, rate: f64) -> Proportion {
        Proportion {
            n,
            k: (0..n).filter(|_| self.next() < rate).count() as u64,
        }
    }

    /// Revenue: most spend nothing, buyers spend an exponential amount around `mean`.
    fn revenue(&mut self, n: u64, buy: f64, mean: f64) -> Sample {
        Sample::of((0..n).map(|_| {
            if self.next() < buy {
                -mean * (1.0 - self.next()).ln()
            } else {
                0.0
            }
        }))
    }
}

#[test]
fn with_no_effect_about_five_percent_of_intervals_exclude_zero() {
    let mut rng = Rng(20_261_207);
    let campaigns = 2_000;
    let (mut rates, mut means) = (0, 0);
    for _ in 0..campaigns {
        let (t, c) = (rng.converted(900, 0.12), rng.converted(100, 0.12));
        rates += usize::from(proportions(t, c).unwrap().significant());
        let (t, c) = (
            rng.revenue(900, 0.12, 3_000.0),
            rng.revenue(400, 0.12, 3_000.0),
        );
        means += usize::from(welch(t, c).unwrap().significant());
    }
    for (what, hits) in [("rates", rates), ("revenue", means)] {
        let share = hits as f64 / campaigns as f64;
        assert!((0.02..=0.09).contains(&share), "{what}: {share}");
    }
}

#[test]
fn a_strong_effect_with_enough_customers_is_found_nearly_always() {
    let mut rng = Rng(7);
    let campaigns = 300;
    let (mut rates, mut means) = (0, 0);
    for _ in 0..campaigns {
        // 12% → 18% buy, 5,000 treated and 2,000 held out (a 4.5-sigma difference).
        let (t, c) = (rng.converted(5_000, 0.18), rng.converted(2_000, 0.12));
        rates += usize::from(proportions(t, c).unwrap().significant());
        let (t, c) = (
            rng.revenue(5_000, 0.18, 3_000.0),
            rng.revenue(2_000, 0.12, 3_000.0),
        );
        means += usize::from(welch(t, c).unwrap().low > 0.0);
    }
    assert!(
        rates as f64 / campaigns as f64 > 0.97,
        "rates: {rates}/{campaigns}"
    );
    assert!(
        means as f64 / campaigns as f64 > 0.95,
        "revenue: {means}/{campaigns}"
    );
}
