"""Promotion gated by checks: a version becomes champion only when every check passes.

`run_checks` runs `forecasting.checks` checks in order on a version and stores each result as
soon as it is known (a later check, `SelfDriftCheck`, reads the earlier ones). `gated_promote`
promotes (`ModelRegistry.promote`) only if all pass, else keeps the champion, and appends the
decision and its reason to ``<registry>/promotions.jsonl``.

Domain code: no printing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import pandas as pd

from forecasting.artifacts import utc_now
from forecasting.checks import Check, CheckContext, CheckError, CheckResult, store_result
from forecasting.registry import ModelRegistry
from forecasting.series import FREQS

__all__ = ["DECISIONS_LOG", "PromotionDecision", "decisions", "gated_promote", "run_checks"]

DECISIONS_LOG: Final = "promotions.jsonl"


@dataclass(frozen=True)
class PromotionDecision:
    """What `gated_promote` did: promoted or not, the aliases afterwards, why, and every result."""

    version: str
    promoted: bool
    champion: str | None
    previous: str | None
    reason: str
    results: tuple[CheckResult, ...] = field(default=())


def run_checks(
    registry: ModelRegistry,
    version: str,
    checks: Sequence[Check],
    table: pd.DataFrame | None,
    *,
    freq: str = "W",
) -> list[CheckResult]:
    """Run ``checks`` in order on ``version`` and store each result as soon as it is known.

    Raises:
        RegistryError: no such version.
        CheckError: a check cannot run as asked.
        BacktestInputError: the table cannot be held out as asked.
    """
    if freq not in FREQS:
        raise CheckError(f"{freq!r} is not a frequency; allowed: {', '.join(FREQS)}")
    registry.info(version)  # an unknown version is refused before any check runs
    ctx = CheckContext(registry, version, table, freq)
    results: list[CheckResult] = []
    for check in checks:
        result = check.run(ctx)
        store_result(registry, result)  # stored before the next runs: SelfDriftCheck reads the hold-out's
        results.append(result)
    return results


def gated_promote(
    registry: ModelRegistry,
    version: str,
    checks: Sequence[Check],
    table: pd.DataFrame | None,
    *,
    freq: str = "W",
) -> PromotionDecision:
    """Run ``checks`` in order on ``version``, store each result, and promote only if all pass.

    Every check runs even after one fails, so the recorded reason names every failure. The
    decision (promoted or kept, the aliases, the reason) is appended to ``promotions.jsonl``.

    Raises:
        RegistryError: no such version.
        CheckError: a check cannot run as asked (nothing is promoted).
        BacktestInputError: the table cannot be held out as asked.
    """
    results = run_checks(registry, version, checks, table, freq=freq)
    failed = [r for r in results if not r.passed]
    before = registry.aliases()
    if failed:
        aliases = before
        reason = f"kept champion {before['champion'] or '(none)'}: " + "; ".join(
            f"{r.name}: {r.reason}" for r in failed
        )
    else:
        aliases = registry.promote(version)
        reason = f"promoted {version}: " + ("all checks passed" if results else "no checks were asked")
    decision = PromotionDecision(version, not failed, aliases["champion"], aliases["previous"], reason, tuple(results))
    _log_decision(registry, decision)
    return decision


def _log_decision(registry: ModelRegistry, decision: PromotionDecision) -> None:
    entry = {
        "version": decision.version,
        "promoted": decision.promoted,
        "champion": decision.champion,
        "previous": decision.previous,
        "reason": decision.reason,
        "checks": {r.name: r.passed for r in decision.results},
        "at": utc_now(),
    }
    registry.root.mkdir(parents=True, exist_ok=True)
    # One short line appended per decision: concurrent appends of a line do not interleave.
    with (registry.root / DECISIONS_LOG).open("a", encoding="utf-8") as log:
        log.write(json.dumps(entry, allow_nan=False) + "\n")


def decisions(registry: ModelRegistry) -> list[dict[str, Any]]:
    """The promotion decisions log, oldest first."""
    path = registry.root / DECISIONS_LOG
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
