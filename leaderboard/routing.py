"""WebSocket URLs (the ASGI counterpart of urls.py), mounted in benchsite.asgi."""
from django.urls import path

from leaderboard import consumers

websocket_urlpatterns = [
    path("ws/runs/live/", consumers.LiveRunsConsumer.as_asgi()),
    path("ws/runs/<int:run_id>/", consumers.RunProgressConsumer.as_asgi()),
]
