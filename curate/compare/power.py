"""What a comparison could have seen: the minimal detectable difference (MDD) of each pairwise test.

"No significant difference" alone reads like "no difference"; with three seeds of a noisy proxy it usually means "no
difference this run was able to see". The MDD says how large a true difference the run would have found:

    MDD = (t_{1 − α′/2, df} + t_{power, df}) × SE,      power = 0.80,  α′ = alpha / m

the usual power formula of a two-sided t-test (the normal approximation, with Student-t quantiles for few seeds),
evaluated at the observed standard error:
- Welch (`test: welch`): SE = √(s_a²/n_a + s_b²/n_b) and df from Welch–Satterthwaite,
  df = (s_a²/n_a + s_b²/n_b)² / ((s_a²/n_a)²/(n_a − 1) + (s_b²/n_b)²/(n_b − 1));
- paired (`test: paired`): SE = s_d / √n of the per-seed differences d, df = n − 1.

α′ = alpha / m is the per-comparison level the Holm family starts from (m = the number of tests in the family:
(eval sets + target) × pairs): Holm's first, strictest step compares the smallest p with alpha / m, so a difference of
the MDD is detected with 80% power even there; later steps are laxer, so the MDD is a conservative (upper) figure.
SE = 0 (every seed gives the same difference) → MDD = 0.0: any non-zero difference would have been detected. One seed
(no SE) → MDD = None.
"""

from __future__ import annotations

POWER = 0.80


def mdd(se: float | None, df: float | None, alpha_per_test: float, power: float = POWER) -> float | None:
    """The smallest true |difference| a two-sided t-test at level `alpha_per_test` detects with probability `power`,
    given the pair's standard error and degrees of freedom; 0.0 when se is 0, None without a standard error."""
    from scipy import stats

    if se is None:
        return None
    if se == 0.0:
        return 0.0
    if df is None or not df > 0:
        return None
    return float((stats.t.ppf(1 - alpha_per_test / 2, df) + stats.t.ppf(power, df)) * se)


MAX_SEEDS = 64  # `compare --plan --min-effect`: the most seeds per candidate a plan proposes


def mdd_for_seeds(sigma: float, n: int, alpha_per_test: float, power: float = POWER) -> float | None:
    """The MDD a Welch test of two candidates with n seeds each and seed σ `sigma` would have: SE = σ·√(2/n),
    df = 2n − 2 (Welch–Satterthwaite with equal variances and sizes). What `compare --plan` predicts before the runs
    exist, so it is the same formula the finished comparison reports. None below two seeds."""
    if n < 2:
        return None
    return mdd(sigma * (2.0 / n) ** 0.5, 2 * n - 2, alpha_per_test, power)


def seeds_for_effect(
    sigma: float, effect: float, alpha_per_test: float, power: float = POWER, max_n: int = MAX_SEEDS
) -> int | None:
    """The smallest seed count n (2 ≤ n ≤ max_n) whose MDD is at most `effect`; None when even max_n seeds are not
    enough. The MDD falls monotonically with n (SE shrinks, the t quantiles shrink), so the first n that fits is it."""
    for n in range(2, max_n + 1):
        value = mdd_for_seeds(sigma, n, alpha_per_test, power)
        if value is not None and value <= effect:
            return n
    return None
