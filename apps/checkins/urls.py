"""Dashboard pages of the front desk (`/check-in/`)."""

from django.urls import URLPattern, path

from . import views

app_name = "checkins"

urlpatterns: list[URLPattern] = [
    path("", views.desk_view, name="desk"),
    path("occupancy/", views.occupancy_view, name="occupancy"),
    path("scan/", views.scan_view, name="scan"),
    path("members/<int:member_id>/", views.member_check_in_view, name="member-check-in"),
    path("members/<int:member_id>/override/", views.member_override_view, name="member-override"),
    path("<int:check_in_id>/check-out/", views.check_out_view, name="check-out"),
    path("members/<int:member_id>/card/", views.member_card_view, name="member-card"),
    path("members/<int:member_id>/card/issue/", views.member_card_issue_view, name="card-issue"),
    path("cards/<int:card_id>/revoke/", views.member_card_revoke_view, name="card-revoke"),
]
