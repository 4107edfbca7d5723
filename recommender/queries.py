"""From validated input (the API's JSON or the page's form) to a RecommendQuery, and the answer as JSON."""
from __future__ import annotations

from costing.selectors import hardware_find
from evaluations.models import RunStatus, Score, Suite
from evaluations.selectors import visible_runs
from leaderboard.selectors import suite_choices
from recommender.presets import use_case_weights
from recommender.selectors import Constraints, Recommendation, RecommendQuery


def recommend_query(*, data: dict, user,
                    suites: list[Suite] | None = None) -> tuple[RecommendQuery | None, dict[str, list[str]]]:
    """The query, or the fields that were wrong (a suite or hardware that does not exist for this viewer).

    `suites`: the leaderboard's suite choices when the caller has them already (the page shows them too).
    """
    errors: dict[str, list[str]] = {}
    suite = suite_for(data.get("suite"), user, suites)
    if suite is None:
        errors["suite"] = [f"no suite version {data['suite']!r}" if data.get("suite") else
                           "no suite version has results yet"]
    hardware = hardware_find(data.get("hardware")) if data.get("hardware") else None
    if data.get("hardware") and hardware is None:
        errors["hardware"] = [f"no hardware {data['hardware']!r} in the catalogue"]
    if errors:
        return None, errors
    limits = data.get("constraints") or {}
    constraints = Constraints(
        max_memory_gb=limits.get("max_memory_gb"), min_tokens_per_s=limits.get("min_tokens_per_s"),
        max_p95_latency_ms=limits.get("max_p95_latency_ms"), max_usd_per_1m=limits.get("max_usd_per_1m"),
        licenses=tuple(name.strip() for name in limits.get("licenses", ()) if name.strip()),
        min_category={category: value for category, value in (limits.get("min_category") or {}).items() if value},
    )
    weights = {**use_case_weights(data.get("use_case")), **(data.get("weights") or {})}
    return RecommendQuery(suite, weights, constraints, hardware, data.get("context_tokens", 4096),
                          data.get("seed", 0), data.get("resamples", 1000)), {}


def suite_for(suite_id, user, suites: list[Suite] | None = None) -> Suite | None:
    """The asked-for version, else the leaderboard's default. A version without public results exists only for a
    viewer with a finished run in it."""
    suites = suite_choices() if suites is None else suites
    if suite_id is None or suite_id == "":
        return suites[0] if suites else None
    asked = next((suite for suite in suites if str(suite.pk) == str(suite_id)), None)
    if asked is not None or user is None or not user.is_authenticated:
        return asked
    suite = Suite.objects.filter(pk=suite_id).first()
    if suite is None:
        return None
    seen = Score.objects.filter(is_primary=True, config_key__in=list(suite.entries.values()),
                                run__in=visible_runs(user).filter(status=RunStatus.FINISHED))
    return suite if seen.exists() else None


def recommendation_payload(recommendation: Recommendation) -> dict:
    query = recommendation.query
    return {
        "suite": query.suite.pk,
        "weights": query.weights,
        "hardware": query.hardware.slug if query.hardware else None,
        "seed": query.seed,
        "resamples": query.resamples,
        "candidates": [{
            "model": c.model.slug, "score": c.score, "ci_low": c.ci_low, "ci_high": c.ci_high, "p_top1": c.p_top1,
            "p_top3": c.p_top3, "tied_with_leader": c.tied_with_leader, "on_pareto_front": c.on_pareto_front,
            "p_pareto": c.p_pareto, "memory_gb": c.figures.memory_gb, "tokens_per_s": c.figures.tokens_per_s,
            "p95_latency_ms": c.figures.p95_latency_ms, "usd_per_1m": c.figures.usd_per_1m,
            "joules_per_token": c.figures.joules_per_token, "usd_per_1m_per_point": c.usd_per_point,
            "estimated": list(c.figures.estimated),
            "tradeoff": c.tradeoff,
        } for c in recommendation.candidates],
        "excluded": [{"model": e.model.slug, "reasons": e.reasons} for e in recommendation.excluded],
        "notes": recommendation.notes,
        "advice": recommendation.advice,
    }
