"""`/api/v1/` routes of the classes app: the timetable for the apps, and its public iCal feed."""

from django.urls import path

from . import apis

urlpatterns = [
    path("schedule/", apis.ScheduleApi.as_view(), name="schedule"),
    path("schedule.ics", apis.ScheduleFeedApi.as_view(), name="schedule-feed"),
]
