"""The filter thresholds a run used, the values its documents had, and what moving each limit would change.

A threshold is only meaningful next to the values it cuts: the report draws, per filter value, the documents that
passed the stage, those this check dropped and those another check of the same stage dropped, with the limit as a
line; and counts what a limit moved by ±10% would do. The limits come from the run's own spec (run.json), with the
stage's defaults for what the YAML left out, so they are the ones the run used.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from curate.report_data import StageValues
from curate.stages.filter_metrics import THRESHOLDS, Threshold, limit_of

STEP = 0.10  # the what-if move of a limit, as a share of its value


@dataclass
class Panel:
    """One filter value of one stage: the values of the documents that reached the stage, their outcome there,
    and the limits it is compared with."""

    stage: str
    metric: str
    label: str
    values: np.ndarray
    reasons: np.ndarray  # per value: the reason the stage dropped the document with, None when it passed
    limits: list[tuple[Threshold, float]]

    @property
    def passed(self) -> np.ndarray:
        return np.array([r is None for r in self.reasons], dtype=bool)

    @property
    def this_check(self) -> np.ndarray:
        """Dropped by one of this value's checks (not by another check of the same stage)."""
        names = {t.reason for t, _ in self.limits}
        return np.array([r in names for r in self.reasons], dtype=bool)


def stage_params(spec: dict) -> dict[str, tuple[str, dict]]:
    """stage name → (kind, parameters with defaults) for the stages of a run's spec (names as curate.config gives
    them: the kind, then kind_2, kind_3 for repeats). Only stages with thresholds are resolved."""
    from curate.config import STAGES

    out: dict[str, tuple[str, dict]] = {}
    seen: dict[str, int] = {}
    for entry in spec.get("stages") or []:
        kind, params = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
        seen[kind] = seen.get(kind, 0) + 1
        name = kind if seen[kind] == 1 else f"{kind}_{seen[kind]}"
        if kind in THRESHOLDS and kind in STAGES:
            defaults = {k: d for k, (_, d) in STAGES[kind].parameters().items() if d is not inspect.Parameter.empty}
            out[name] = (kind, {**defaults, **(params or {})})
    return out


def panels(spec: dict, values: dict[str, StageValues]) -> list[Panel]:
    """One panel per filter value measured in the run, in pipeline and THRESHOLDS order."""
    result = []
    for stage, (kind, params) in stage_params(spec).items():
        found = values.get(stage)
        if found is None:
            continue
        by_metric: dict[str, list[Threshold]] = {}
        for threshold in THRESHOLDS[kind]:
            by_metric.setdefault(threshold.metric, []).append(threshold)
        for metric, checks in by_metric.items():
            if not found.metrics.get(metric):
                continue
            limits = [(t, limit) for t in checks if (limit := limit_of(t, params)) is not None]
            result.append(
                Panel(
                    stage=stage,
                    metric=metric,
                    label=checks[0].label,
                    values=np.asarray(found.metrics[metric], dtype=float),
                    reasons=np.array(found.outcomes[metric], dtype=object),
                    limits=limits,
                )
            )
    return result


def what_if(panel: Panel) -> list[dict]:
    """Per limit: documents this check drops now, how many passed documents a limit STEP stricter would drop too,
    and how many of this check's drops a limit STEP looser would let through this check (other checks may still
    drop them)."""
    rows = []
    for threshold, limit in panel.limits:
        own = (panel.reasons == threshold.reason) & _fails(panel.values, threshold, limit)
        stricter = limit * (1 + STEP) if threshold.drop == "below" else limit * (1 - STEP)
        looser = limit * (1 - STEP) if threshold.drop == "below" else limit * (1 + STEP)
        rows.append(
            {
                "stage": panel.stage,
                "reason": threshold.reason,
                "param": threshold.param + (f" (n={threshold.n})" if threshold.n is not None else ""),
                "limit": limit,
                "drop": threshold.drop,
                "reached": int(panel.values.size),
                "dropped_here": int(own.sum()),
                "stricter": stricter,
                "more_dropped": int((panel.passed & _fails(panel.values, threshold, stricter)).sum()),
                "looser": looser,
                "fewer_dropped": int((own & ~_fails(panel.values, threshold, looser)).sum()),
            }
        )
    return rows


def _fails(values: np.ndarray, threshold: Threshold, limit: float) -> np.ndarray:
    return values < limit if threshold.drop == "below" else values > limit
