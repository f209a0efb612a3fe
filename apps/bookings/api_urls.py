"""`/api/v1/` routes of the bookings app: bookings, their QR codes, the member's
calendar feed and credits."""

from django.urls import path

from . import apis

urlpatterns = [
    path("bookings/", apis.BookingListApi.as_view(), name="booking-list"),
    path("bookings/<int:pk>/", apis.BookingDetailApi.as_view(), name="booking-detail"),
    path("bookings/<int:pk>/qr.png", apis.BookingQrApi.as_view(), name="booking-qr"),
    path("bookings/feed-url/", apis.BookingFeedUrlApi.as_view(), name="booking-feed-url"),
    path("bookings/feed/<str:token>.ics", apis.BookingFeedApi.as_view(), name="booking-feed"),
    path("credits/", apis.CreditsApi.as_view(), name="credits"),
]
