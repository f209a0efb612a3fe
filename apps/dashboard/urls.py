from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.home_view, name="home"),
    path("settings/", views.settings_view, name="settings"),
    path("team/", views.team_view, name="team"),
]
