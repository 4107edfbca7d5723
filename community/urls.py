from django.urls import path

from community import views

app_name = "community"
urlpatterns = [
    path("profile/", views.profile, name="profile"),
    path("profile/token/", views.token_create, name="token_create"),
    path("profile/token/revoke/", views.token_revoke, name="token_revoke"),
]
