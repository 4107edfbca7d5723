"""The community's API resources (registered under /api/v1/ by leaderboard.api.urls)."""
