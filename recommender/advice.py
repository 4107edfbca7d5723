"""Plain-language comparisons between ranked candidates: a trade-off line each, and cheaper or smaller alternatives
close to the leader."""
from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext as _

from benchsite.formats import localize_digits

if TYPE_CHECKING:
    from recommender.selectors import Candidate

ADVICE_POINTS = 3.0  # advice names alternatives at most this many points below the leader (or tied with it)
ADVICE_GAIN = 1.2  # … that need at most 1/1.2 of its cost or memory


def advice(ranked: list[Candidate], *, within_points: float = ADVICE_POINTS) -> list[str]:
    """Cheaper or smaller models that give up little quality against the leader: within `within_points`, or tied."""
    if len(ranked) < 2:
        return []
    leader, tips = ranked[0], []
    close = [c for c in ranked[1:] if c.tied_with_leader or leader.score - c.score <= within_points]
    for axis, noun in (("usd_per_1m", _("cost per 1M tokens")), ("memory_gb", _("memory"))):
        mine = leader.figures.value(axis)
        options = [c for c in close if c.figures.value(axis) is not None and mine is not None
                   and c.figures.value(axis) * ADVICE_GAIN <= mine]
        if not options:
            continue
        best = min(options, key=lambda c: c.figures.value(axis))
        same_family = best.model.family and best.model.family == leader.model.family
        build = " " + _("(a %(build)s build of the same family)") % {
            "build": best.model.quantization or best.model.dtype or _("different")} if same_family else ""
        tie = _(", statistically tied") if best.tied_with_leader else ""
        tips.append(_("%(model)s%(build)s is %(points)s points below %(leader)s%(tie)s, at %(times)s× less %(noun)s.")
                    % {"model": best.model.name, "build": build, "points": _decimal(leader.score - best.score),
                       "leader": leader.model.name, "tie": tie, "times": _times(mine / best.figures.value(axis)),
                       "noun": noun})
    return tips


def tradeoff_line(candidate: Candidate, ranked: list[Candidate]) -> str:
    """"3.1 points below X, 2.4× cheaper per 1M tokens": against the leader, or the leader against the runner-up."""
    if len(ranked) < 2:
        return _("the only model that meets every limit")
    other = ranked[1] if candidate is ranked[0] else ranked[0]
    gap = candidate.score - other.score
    above = _("%(points)s points above %(model)s") if gap >= 0 else _("%(points)s points below %(model)s")
    parts = [above % {"points": _decimal(abs(gap)), "model": other.model.name}]
    for axis, smaller, larger in (("usd_per_1m", _("cheaper per 1M tokens"), _("dearer per 1M tokens")),
                                  ("memory_gb", _("less memory"), _("the memory"))):
        mine, theirs = candidate.figures.value(axis), other.figures.value(axis)
        if mine and theirs and not 1 / 1.05 < theirs / mine < 1.05:  # within 5% is no trade-off to mention
            parts.append(_relative(theirs / mine, smaller, larger))
    return ", ".join(parts)


def _relative(ratio: float, smaller: str, larger: str) -> str:
    """"2.4× cheaper" when the other costs `ratio` (> 1) times this one's, "2.4× dearer" when 1/ratio does."""
    return f"{_times(ratio)}× {smaller}" if ratio >= 1 else f"{_times(1 / ratio)}× {larger}"


def _times(ratio: float) -> str:
    return f"{ratio:.0f}" if ratio >= 10 else _decimal(ratio)


def _decimal(value: float) -> str:
    return localize_digits(f"{value:.1f}")
