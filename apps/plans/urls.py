"""Dashboard pages of the plans app (`/plans/`)."""

from django.urls import path

from . import views

app_name = "plans"

urlpatterns = [
    path("", views.plan_list_view, name="list"),
    path("new/", views.plan_create_view, name="create"),
    path("<int:plan_id>/edit/", views.plan_edit_view, name="edit"),
    path("<int:plan_id>/archive/", views.plan_archive_view, name="archive"),
    path("<int:plan_id>/restore/", views.plan_restore_view, name="restore"),
    path("<int:plan_id>/delete/", views.plan_delete_view, name="delete"),
]
