from django.apps import AppConfig


class MembershipsConfig(AppConfig):
    name = "apps.memberships"
    label = "memberships"
