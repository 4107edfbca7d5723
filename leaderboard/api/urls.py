from django.urls import path

from leaderboard.api import views

app_name = "api"
urlpatterns = [
    path("compare/", views.CompareView.as_view(), name="compare"),
]
