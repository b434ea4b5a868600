"""Seeds on demand: `seeds: {min: m, max: M}` trains m seeds per candidate, then adds one seed at a time to the
candidates whose verdicts on the target are still open, until every target pair is decided or M seeds are reached.

Looking at the data after every seed and stopping as soon as p < alpha inflates the false-positive rate (each look is
one more chance). The stopping rule keeps the stated alpha with an alpha-spending function (Lan & DeMets, 1983): look
k, at n_k seeds, has the information fraction t_k = n_k / M and may spend α_k = α(t_k) − α(t_{k−1}) of the total, with
the Pocock-type function α(t) = alpha · ln(1 + (e − 1) · t). The tests still open at look k form one Holm family at
level α_k (the compare's family: (eval sets + target) × pairs); a pair significant at any look stays decided. Over
all looks the family-wise error rate is at most Σ_k α_k = α(1) = alpha, by the union bound.

Why this form:
- Pocock-type rather than O'Brien–Fleming-type spending: the point of adding seeds on demand is to stop early when
  the effect is large, and the O'Brien–Fleming function spends almost nothing early (at alpha 0.05 and t = 0.3 it has
  spent 0.0004; Pocock's has spent 0.021).
- The union bound over looks rather than classical group-sequential boundaries: those come from the correlation of
  the looks' z-statistics (√(n_j / n_k)) with a known variance, which a t-test on 3 to 10 seeds does not have. The
  union bound holds for any test and any dependence between looks, at the price of being conservative (the real
  error rate is below alpha, and the MDD reported at the last look, computed at that look's level, is an upper bound).
- No futility stop: a pair with no real difference runs to M seeds, so its "no significant difference" comes with
  the smallest MDD this compare can reach.
Only the target's pairs decide whether a candidate gets another seed: it is what the user optimises. Pairs on the eval
sets are tested at every look in the same family and stay decided once significant. Candidates on identical data are
never open (their difference is 0 by construction). Every added run is an ordinary (candidate, seed) run of the
cache, so a rerun, or one with a larger max, reuses every run already trained.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from curate.compare.stats import fmt
from curate.compare.verdicts import analyse, pair_key

if TYPE_CHECKING:
    from curate.compare.spec import CompareSpec

METHOD = (
    "alpha spending (Lan–DeMets, Pocock-type α(t) = alpha · ln(1 + (e − 1) t), t = seeds / max); each look's open "
    "tests are one Holm family at the alpha that look spends; union bound over looks, no futility stop"
)


def spent(t: float, alpha: float) -> float:
    """The alpha spent once the information fraction is t (clipped to [0, 1]): Pocock-type α · ln(1 + (e − 1) t)."""
    return alpha * math.log(1 + (math.e - 1) * min(max(t, 0.0), 1.0))


def look_levels(first: int, last: int, alpha: float) -> list[dict]:
    """One look per seed count first..last: {look, seeds, fraction, spent, level}; the levels sum to alpha."""
    looks, before = [], 0.0
    for k, n in enumerate(range(first, last + 1), start=1):
        total = spent(n / last, alpha)
        looks.append({"look": k, "seeds": n, "fraction": n / last, "spent": total, "level": total - before})
        before = total
    return looks


def open_candidates(result: dict) -> list[str]:
    """Candidates with a target pair that is neither significant nor on identical data, in the compare file's order."""
    names = [c["name"] for c in result["spec"]["candidates"]]
    pending: set[str] = set()
    for pair in result["pairwise"]:
        if not pair["significant"] and not pair["identical"]:
            pending |= {pair["a"], pair["b"]}
    return [n for n in names if n in pending]


def _all_pairs(result: dict) -> list[dict]:
    return list(result["pairwise"]) + [p for e in result["eval_sets"].values() for p in e["pairwise"]]


def run_sequential(
    spec: CompareSpec,
    runs: dict[str, list[dict]],
    data: dict[str, dict],
    add_run: Callable[[str, int], dict],
    log: Callable[[str], None],
) -> dict:
    """Look after the first `len(spec.seeds)` seeds, then after each added seed, until no target pair is open or
    `spec.max_seeds` is reached. `runs` holds each candidate's first seeds and grows in place; add_run(name, seed)
    trains (or reuses) one run. Returns the last look's comparison with a `sequential` record of every look."""
    assert spec.max_seeds is not None
    decided: dict[tuple[str, frozenset[str]], dict] = {}
    looks: list[dict] = []
    growing: list[str] = []
    result: dict = {}
    for look in look_levels(len(spec.seeds), spec.max_seeds, spec.alpha):
        for name in growing:
            runs[name].append(add_run(name, look["seeds"] - 1))
        result = analyse(spec, runs, data, level=look["level"], decided=decided, look=look)
        newly = []
        for pair in _all_pairs(result):
            if pair["significant"] and pair_key(pair) not in decided:
                decided[pair_key(pair)] = pair
                newly.append(pair["verdict"])
        grown = list(growing) if look["look"] > 1 else [c.name for c in spec.candidates]
        growing = open_candidates(result)
        looks.append({**look, "trained": grown, "decided": newly, "open": growing})
        log(
            f"compare: look {look['look']} at {look['seeds']} seeds (alpha {fmt(look['level'])}): "
            f"{len(newly)} newly decided; {', '.join(growing) if growing else 'no candidate'} still open"
        )
        if not growing:
            break
    if looks and looks[-1]["open"] and looks[-1]["seeds"] == spec.max_seeds:
        log(f"compare: seeds.max ({spec.max_seeds}) reached with {', '.join(looks[-1]['open'])} still open")
    result["sequential"] = {
        "min": len(spec.seeds),
        "max": spec.max_seeds,
        "method": METHOD,
        "looks": looks,
        "stopped": "every target pair decided" if not looks[-1]["open"] else "seeds.max reached",
        "runs": {name: len(rs) for name, rs in runs.items()},
    }
    return result
