from django.urls import path

from recommender import views

app_name = "recommender"
urlpatterns = [path("recommend/", views.recommend_page, name="recommend")]
