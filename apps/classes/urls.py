"""Dashboard pages of the classes app (`/schedule/`)."""

from django.urls import path

from . import views

app_name = "classes"

urlpatterns = [
    path("", views.timetable_view, name="timetable"),
    path("sessions/<int:session_id>/", views.session_roster_view, name="session"),
    path("sessions/<int:session_id>/edit/", views.session_edit_view, name="session-edit"),
    path("sessions/<int:session_id>/cancel/", views.session_cancel_view, name="session-cancel"),
    path("classes/", views.class_list_view, name="classes"),
    path("classes/new/", views.class_create_view, name="class-create"),
    path("classes/<int:class_id>/edit/", views.class_edit_view, name="class-edit"),
    path("classes/<int:class_id>/schedule/", views.schedule_create_view, name="schedule-create"),
]
