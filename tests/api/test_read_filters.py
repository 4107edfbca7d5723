"""The list filters' edge cases that used to reach the database raw."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.leaderboard.factories import RunFactory

pytestmark = pytest.mark.django_db


def test_a_date_time_with_any_valid_offset_filters_in_utc():
    RunFactory()
    client = APIClient()
    # +21:29 is a valid ISO offset that PostgreSQL refuses (it was a 500); in UTC it is an ordinary date-time.
    far = client.get("/api/v1/runs/", {"created_before": "3709-03-16T14:13:37+21:29"})
    assert far.status_code == 200 and far.json()["count"] == 1
    assert client.get("/api/v1/runs/", {"created_after": "3709-03-16T14:13:37+21:29"}).json()["count"] == 0
    # Pushed past year 9999 by its offset: a 400 that names the field, not an overflow.
    past_the_calendar = client.get("/api/v1/runs/", {"created_after": "9999-12-31T23:00:00-05:00"})
    assert past_the_calendar.status_code == 400 and "created_after" in past_the_calendar.json()
