"""Statistics of repeated measurements: mean, sample SD, Student's t 95 % CI, paired differences.

Definitions (docs/metrics.md, "Sweep and comparison figures"): the SD is the
sample standard deviation (n - 1); the CI95 is the half-width of the 95 %
confidence interval of the mean, `t(0.975, n - 1) * sd / sqrt(n)`. With fewer
than two values the SD and the CI are undefined (None).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Summary:
    """Mean, sample SD and CI95 half-width of some values (None where undefined)."""

    n: int
    mean: Optional[float]
    sd: Optional[float]
    ci95: Optional[float]

    @property
    def cv_pct(self) -> Optional[float]:
        """Run-to-run noise: SD as a percentage of the mean."""
        if self.sd is None or not self.mean:
            return None
        return 100.0 * self.sd / abs(self.mean)


def t_quantile(df: int, level: float = 0.95) -> float:
    """The two-sided Student's t quantile for `level` with `df` degrees of freedom (scipy, imported on first use)."""
    from scipy.stats import t as student_t

    return float(student_t.ppf(0.5 + level / 2.0, df))


def summarize(values: Sequence[Optional[float]]) -> Summary:
    """Mean, sample SD (n - 1) and CI95 half-width of the values that are not None."""
    kept = [float(v) for v in values if v is not None]
    n = len(kept)
    if n == 0:
        return Summary(0, None, None, None)
    mean = math.fsum(kept) / n
    if n < 2:
        return Summary(1, mean, None, None)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in kept) / (n - 1))
    return Summary(n, mean, sd, t_quantile(n - 1) * sd / math.sqrt(n))


@dataclass(frozen=True)
class PairedDifference:
    """B - A over paired repetitions, absolute and relative to A's mean, with 95 % CIs."""

    n: int
    a: Summary
    b: Summary
    diff: Optional[float]
    diff_ci95: Optional[float]

    @property
    def diff_pct(self) -> Optional[float]:
        """The mean difference as a percentage of A's mean."""
        if self.diff is None or not self.a.mean:
            return None
        return 100.0 * self.diff / abs(self.a.mean)

    @property
    def diff_pct_ci95(self) -> Optional[float]:
        """The CI95 half-width of the difference, as a percentage of A's mean."""
        if self.diff_ci95 is None or not self.a.mean:
            return None
        return 100.0 * self.diff_ci95 / abs(self.a.mean)

    @property
    def significant(self) -> Optional[bool]:
        """True when the 95 % interval of the difference excludes zero; None when it is undefined."""
        if self.diff is None or self.diff_ci95 is None:
            return None
        return abs(self.diff) > self.diff_ci95


def paired_difference(a: Sequence[Optional[float]], b: Sequence[Optional[float]]) -> PairedDifference:
    """Pair A's and B's repetitions in order (pairs with a missing side are dropped) and summarize B - A."""
    pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
    diffs = summarize([y - x for x, y in pairs])
    return PairedDifference(
        n=len(pairs),
        a=summarize([x for x, _ in pairs]),
        b=summarize([y for _, y in pairs]),
        diff=diffs.mean,
        diff_ci95=diffs.ci95,
    )
