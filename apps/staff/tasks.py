"""Celery tasks of the staff app: the invitation email of a new staff member."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from apps.accounts.models import User
from apps.accounts.services import account_password_setup_url
from apps.tenants.selectors import current_gym, gym_base_url
from fitflow.celery import app

from .models import StaffRole


@app.task(acks_late=True, autoretry_for=(OSError,), retry_backoff=10, max_retries=5)
def staff_invite_email_task(user_id: int) -> str:
    """Email the staff invitation to the user (id) in the current gym's schema (the
    `_schema_name` header): their role, and the link to choose a password (made now)
    or the gym's login page. Returns "sent", or "no_role" when the role was removed
    before it went out. SMTP errors (OSError) are retried."""
    gym = current_gym()
    staff_role = StaffRole.objects.filter(user_id=user_id, is_active=True).select_related("user").first()
    if staff_role is None:
        return "no_role"
    user: User = staff_role.user
    base_url = gym_base_url(gym=gym)
    context = {
        "gym_name": gym.name,
        "role": staff_role.get_role_display(),
        "email": user.email,
        "first_name": user.first_name,
        "set_password_url": account_password_setup_url(user=user, base_url=base_url),
        "login_url": base_url + reverse("account_login", urlconf=settings.ROOT_URLCONF),
    }
    subject = " ".join(render_to_string("staff/invite_email.subject.txt", context).split())
    send_mail(subject, render_to_string("staff/invite_email.txt", context), None, [user.email])
    return "sent"
