"""Dashboard pages of the memberships app (`/memberships/`): the lifecycle actions."""

from django.urls import path

from . import views

app_name = "memberships"

urlpatterns = [
    path("assign/<int:member_id>/", views.membership_assign_view, name="assign"),
    path("<int:membership_id>/freeze/", views.membership_freeze_view, name="freeze"),
    path("<int:membership_id>/unfreeze/", views.membership_unfreeze_view, name="unfreeze"),
    path("<int:membership_id>/cancel/", views.membership_cancel_view, name="cancel"),
    path("<int:membership_id>/change-plan/", views.membership_change_plan_view, name="change-plan"),
    path("<int:membership_id>/renew/", views.membership_renew_view, name="renew"),
]
