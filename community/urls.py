from django.urls import path

from community import views

app_name = "community"
urlpatterns = [
    path("accounts/profile/", views.profile, name="profile"),
    path("accounts/profile/token/", views.token_create, name="token_create"),
    path("accounts/profile/token/revoke/", views.token_revoke, name="token_revoke"),
    path("submissions/", views.submission_list, name="submission_list"),
    path("submissions/new/", views.submission_new, name="submission_new"),
    path("submissions/<int:submission_id>/", views.submission_detail, name="submission_detail"),
    path("moderation/", views.moderation, name="moderation"),
    path("moderation/submissions/<int:submission_id>/", views.submission_moderate, name="submission_moderate"),
    path("moderation/flags/<int:flag_id>/", views.flag_moderate, name="flag_moderate"),
    path("moderation/reviews/<int:review_id>/", views.review_moderate, name="review_moderate"),
    path("models/<slug:slug>/flag/", views.model_flag_new, name="model_flag_new"),
    path("moderation/benchmarks/<int:submission_id>/", views.benchmark_moderate, name="benchmark_moderate"),
    path("benchmarks/", views.benchmark_list, name="benchmark_list"),
    path("benchmarks/new/", views.benchmark_new, name="benchmark_new"),
    path("benchmarks/<slug:slug>/reviews/", views.benchmark_reviews, name="benchmark_reviews"),
]
