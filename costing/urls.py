from django.urls import path

from costing import views

app_name = "costing"
urlpatterns = [path("costs/", views.cost_page, name="costs")]
