"""Member photos: uploaded on the profile form, stored under the gym's own folder,
served only on that gym's host."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django_tenants.utils import tenant_context
from PIL import Image

from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 80, 40)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_photo_upload_is_stored_per_gym_and_not_served_to_another(
    gym_a: Gym, make_staff, client_a: Client, client_b: Client, settings, tmp_path
) -> None:
    settings.MEDIA_ROOT = tmp_path
    with tenant_context(gym_a):
        member = MemberFactory(first_name="Lindiwe", joined_on="2026-01-05")
    client_a.force_login(make_staff(gym_a, Role.RECEPTIONIST))

    response = client_a.post(
        f"/members/{member.pk}/edit/",
        {
            "first_name": "Lindiwe",
            "last_name": member.last_name,
            "email": member.email,
            "source": "walk_in",
            "status": "active",
            "joined_on": "2026-01-05",
            "photo": SimpleUploadedFile("face.jpg", _jpeg(), content_type="image/jpeg"),
        },
    )

    assert response.status_code == 302, response.content
    with tenant_context(gym_a):
        photo = Member.objects.get(pk=member.pk).photo.name
    assert photo.startswith("gym_gym_a/members/photos/")
    assert client_a.get(f"/media/{photo}").status_code == 200
    assert client_b.get(f"/media/{photo}").status_code == 404


def test_a_non_image_is_refused_with_a_field_error(gym_a: Gym, make_staff, client_a: Client) -> None:
    client_a.force_login(make_staff(gym_a, Role.RECEPTIONIST))

    response = client_a.post(
        "/members/new/",
        {
            "first_name": "Sipho",
            "source": "walk_in",
            "status": "active",
            "joined_on": "2026-01-05",
            "photo": SimpleUploadedFile("face.jpg", b"not an image", content_type="image/jpeg"),
        },
    )

    assert response.status_code == 400
    assert "photo" in response.context["form"].errors
    with tenant_context(gym_a):
        assert not Member.objects.filter(first_name="Sipho").exists()
