from django.urls import path

from leaderboard import views

app_name = "leaderboard"
urlpatterns = [
    path("", views.leaderboard, name="index"),
    path("models/", views.model_list, name="model_list"),
    path("models/<slug:slug>/", views.model_detail, name="model_detail"),
    path("models/<slug:slug>/performance/", views.model_performance, name="model_performance"),
    path("performance/", views.performance_grid, name="performance"),
    path("assets/plotly.min.js", views.plotly_js, name="plotly_js"),
    path("runs/", views.run_list, name="run_list"),
    path("runs/live/", views.live_runs, name="live_runs"),
    path("runs/<int:run_id>/", views.run_detail, name="run_detail"),
    path("runs/<int:run_id>/cancel/", views.run_cancel, name="run_cancel"),
    path("workers/", views.worker_list, name="worker_list"),
    path("compare/", views.compare_models, name="compare"),
    path("compare/items/", views.compare_items, name="compare_items"),
]
