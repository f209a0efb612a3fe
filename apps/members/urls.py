"""Dashboard pages of the members app (`/members/`)."""

from django.urls import path

from . import views

app_name = "members"

urlpatterns = [
    path("", views.member_list_view, name="list"),
    path("new/", views.member_create_view, name="create"),
    path("bulk-tag/", views.member_bulk_tag_view, name="bulk-tag"),
    path("export/", views.member_export_view, name="export"),
    path("import/", views.member_import_view, name="import"),
    path("<int:member_id>/", views.member_detail_view, name="detail"),
    path("<int:member_id>/edit/", views.member_edit_view, name="edit"),
    path("<int:member_id>/invite/", views.member_app_invite_view, name="app-invite"),
    path("<int:member_id>/data/", views.member_data_export_view, name="data-export"),
    path("<int:member_id>/erase/", views.member_erase_view, name="erase"),
]
