"""Inviting staff from the team page: the login is linked or created without a password,
the role is set, the invitation email carries a working set-password link on the gym's
host; roles offered by the inviter's rank; another gym's staff and members refused."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django_tenants.utils import tenant_context

from apps.accounts.models import User
from apps.accounts.tests.factories import UserFactory
from apps.conftest import host_of
from apps.staff.errors import StaffError
from apps.staff.models import StaffRole
from apps.staff.roles import Role
from apps.staff.services import staff_invite
from apps.staff.tasks import staff_invite_email_task
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db


def _send(gym: Gym, user: User) -> str:
    with tenant_context(gym):
        assert staff_invite_email_task.run(user.pk) == "sent"
    return str(mail.outbox[-1].body)


def test_a_new_receptionist_chooses_a_password_and_gets_the_desk(
    gym_a: Gym, django_capture_on_commit_callbacks
) -> None:
    with tenant_context(gym_a), django_capture_on_commit_callbacks(execute=False) as queued:
        staff_role = staff_invite(email="Desk@Example.com", role=Role.RECEPTIONIST, first_name="Lindiwe")
    assert len(queued) == 1  # the email goes out once the invitation commits
    user = User.objects.get(pk=staff_role.user_id)
    assert (user.email, user.first_name, user.has_usable_password()) == ("desk@example.com", "Lindiwe", False)
    body = _send(gym_a, user)
    assert mail.outbox[-1].to == ["desk@example.com"] and "Receptionist" in body
    link = re.search(r"http://\S+(/accounts/password/reset/key/\S+/)", body)
    assert link and f"http://{host_of(gym_a)}/" in body, body

    browser = Client(HTTP_HOST=host_of(gym_a))
    form = browser.get(link.group(1), follow=True)
    assert b"password1" in form.content
    browser.post(form.redirect_chain[-1][0], {"password1": "desk-pass-phrase-9", "password2": "desk-pass-phrase-9"})
    desk = Client(HTTP_HOST=host_of(gym_a))
    assert desk.login(email="desk@example.com", password="desk-pass-phrase-9")
    assert desk.get("/check-in/").status_code == 200
    assert desk.get("/settings/").status_code == 403  # a receptionist, not a manager


def test_an_existing_login_keeps_its_password_and_is_told_to_log_in(gym_a: Gym) -> None:
    user = UserFactory(email="coach@example.com")
    with tenant_context(gym_a):
        staff_invite(email="coach@example.com", role=Role.TRAINER)
        assert StaffRole.objects.get(user=user).role == Role.TRAINER
    body = _send(gym_a, user)
    assert "/accounts/password/reset/key/" not in body and f"http://{host_of(gym_a)}/accounts/login/" in body


def test_member_role_and_the_last_owner_are_refused(gym_a: Gym, make_staff) -> None:
    owner = make_staff(gym_a, Role.OWNER)
    with tenant_context(gym_a):
        with pytest.raises(StaffError) as member:
            staff_invite(email="someone@example.com", role=Role.MEMBER)
        assert member.value.code == "invalid_role"
        with pytest.raises(StaffError) as last_owner:
            staff_invite(email=owner.email, role=Role.RECEPTIONIST)
        assert last_owner.value.code == "last_owner"


def test_the_team_page_invites_by_the_inviters_rank(gym_a: Gym, gym_b: Gym, make_staff) -> None:
    manager = Client(HTTP_HOST=host_of(gym_a))
    manager.force_login(make_staff(gym_a, Role.MANAGER))
    page = manager.get("/team/")
    assert page.status_code == 200
    assert b'value="receptionist"' in page.content and b'value="owner"' not in page.content
    assert manager.post("/team/", {"email": "x@example.com", "role": "owner"}).status_code == 400
    done = manager.post("/team/", {"email": "frontdesk@example.com", "role": "receptionist"})
    assert done.status_code == 302 and done["Location"] == "/team/"
    with tenant_context(gym_a):
        assert StaffRole.objects.get(user__email="frontdesk@example.com").role == Role.RECEPTIONIST
    assert b"frontdesk@example.com" in manager.get("/team/").content

    receptionist = Client(HTTP_HOST=host_of(gym_a))
    receptionist.force_login(make_staff(gym_a, Role.RECEPTIONIST))
    assert receptionist.get("/team/").status_code == 403
    outsider = Client(HTTP_HOST=host_of(gym_a))
    outsider.force_login(make_staff(gym_b, Role.OWNER))
    assert outsider.post("/team/", {"email": "sneaky@example.com", "role": "manager"}).status_code == 403
    with tenant_context(gym_a):
        assert not StaffRole.objects.filter(user__email="sneaky@example.com").exists()
