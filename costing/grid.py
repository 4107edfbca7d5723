"""Grid carbon intensity by region (g CO₂e per kWh of electricity consumed), for the carbon estimate.

Approximate annual averages for 2023, rounded to the nearest 5 g, from Ember's yearly electricity data
(https://ember-energy.org/data/yearly-electricity-data/, lifecycle emissions of generation). They are a
starting point: enter your supplier's figure for anything that matters.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

SOURCE = _("Ember, yearly electricity data (2023 averages, rounded)")
SOURCE_URL = "https://ember-energy.org/data/yearly-electricity-data/"


@dataclass(frozen=True)
class GridRegion:
    code: str
    name: str | Promise
    g_co2_per_kwh: float


REGIONS: tuple[GridRegion, ...] = (
    GridRegion("world", _("World average"), 480),
    GridRegion("eu", _("European Union"), 245),
    GridRegion("us", _("United States"), 370),
    GridRegion("cn", _("China"), 580),
    GridRegion("in", _("India"), 710),
    GridRegion("de", _("Germany"), 380),
    GridRegion("fr", _("France"), 55),
    GridRegion("gb", _("United Kingdom"), 240),
    GridRegion("pl", _("Poland"), 660),
    GridRegion("se", _("Sweden"), 40),
    GridRegion("no", _("Norway"), 30),
)
BY_CODE = {region.code: region for region in REGIONS}
