from django.urls import path, re_path

from leaderboard import views

app_name = "leaderboard"
urlpatterns = [
    path("", views.leaderboard, name="index"),
    path("models/", views.model_list, name="model_list"),
    path("models/<slug:slug>/", views.model_detail, name="model_detail"),
    path("models/<slug:slug>/watch/", views.model_watch, name="model_watch"),
    path("models/<slug:slug>/vs-base/", views.model_vs_base, name="model_vs_base"),
    path("models/<slug:slug>/performance/", views.model_performance, name="model_performance"),
    path("performance/", views.performance_grid, name="performance"),
    path("assets/plotly.min.js", views.plotly_js, name="plotly_js"),
    path("runs/", views.run_list, name="run_list"),
    path("runs/live/", views.live_runs, name="live_runs"),
    path("runs/<int:run_id>/", views.run_detail, name="run_detail"),
    path("runs/<int:run_id>/cancel/", views.run_cancel, name="run_cancel"),
    path("runs/<int:run_id>/manifest.json", views.run_manifest, name="run_manifest"),
    path("keys/", views.signing_keys, name="keys"),
    path("keys/ed25519.pem", views.signing_key_pem, name="key_pem"),
    path("workers/", views.worker_list, name="worker_list"),
    path("compare/", views.compare_models, name="compare"),
    path("compare/items/", views.compare_items, name="compare_items"),
    re_path(r"^compare/download\.(?P<fmt>csv|json)$", views.compare_download, name="compare_download"),
    re_path(r"^leaderboard\.(?P<fmt>csv|json)$", views.leaderboard_download, name="leaderboard_download"),
    re_path(r"^runs/(?P<run_id>[0-9]+)/samples\.(?P<fmt>csv|json)$", views.run_samples_download,
            name="run_samples_download"),
    path("runs/<int:run_id>/results.json", views.run_harness_results, name="run_harness_results"),
]
