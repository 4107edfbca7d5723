"""Grid carbon intensity by region (g CO₂e per kWh of electricity consumed), for the carbon estimate.

Approximate annual averages for 2023, rounded to the nearest 5 g, from Ember's yearly electricity data
(https://ember-energy.org/data/yearly-electricity-data/, lifecycle emissions of generation). They are a
starting point: enter your supplier's figure for anything that matters.
"""
from __future__ import annotations

from dataclasses import dataclass

SOURCE = "Ember, yearly electricity data (2023 averages, rounded)"
SOURCE_URL = "https://ember-energy.org/data/yearly-electricity-data/"


@dataclass(frozen=True)
class GridRegion:
    code: str
    name: str
    g_co2_per_kwh: float


REGIONS: tuple[GridRegion, ...] = (
    GridRegion("world", "World average", 480),
    GridRegion("eu", "European Union", 245),
    GridRegion("us", "United States", 370),
    GridRegion("cn", "China", 580),
    GridRegion("in", "India", 710),
    GridRegion("de", "Germany", 380),
    GridRegion("fr", "France", 55),
    GridRegion("gb", "United Kingdom", 240),
    GridRegion("pl", "Poland", 660),
    GridRegion("se", "Sweden", 40),
    GridRegion("no", "Norway", 30),
)
BY_CODE = {region.code: region for region in REGIONS}
