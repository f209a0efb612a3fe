"""Dashboard pages of the bookings app (`/bookings/`): the desk's actions on a session
roster (the roster itself is `/schedule/sessions/<id>/`)."""

from django.urls import path

from . import views

app_name = "bookings"

urlpatterns = [
    path("sessions/<int:session_id>/book/", views.booking_create_view, name="create"),
    path("<int:booking_id>/cancel/", views.booking_cancel_view, name="cancel"),
    path("<int:booking_id>/attendance/", views.booking_attendance_view, name="attendance"),
]
