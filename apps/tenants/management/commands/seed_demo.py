"""`manage.py seed_demo`: the public tenant, a platform super-admin and the demo gym
with an owner and a receptionist. Safe to run again: it reuses what exists."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.accounts.models import User
from apps.checkins.demo import demo_checkins_seed
from apps.classes.demo import demo_timetable_seed
from apps.invoices.demo import demo_invoices_seed
from apps.members.demo import demo_members_seed
from apps.notifications.demo import demo_notifications_seed
from apps.staff.roles import Role
from apps.staff.services import staff_role_assign
from apps.tenants.dispatch import gym_tzinfo
from apps.tenants.models import Gym
from apps.tenants.services import gym_provision, public_gym_ensure

DEMO_PASSWORD = "fitflow-demo-2026"
SUPERADMIN_EMAIL = "admin@fitflow.localhost"
DEMO_USERS = [
    ("owner@demo.localhost", "Olivia", "Owner", Role.OWNER),
    ("desk@demo.localhost", "Dumi", "Desk", Role.RECEPTIONIST),
    ("thandi@demo.localhost", "Thandi", "Mokoena", Role.TRAINER),
    ("james@demo.localhost", "James", "Carter", Role.TRAINER),
    ("priya@demo.localhost", "Priya", "Naidoo", Role.TRAINER),
    ("marco@demo.localhost", "Marco", "Rossi", Role.MANAGER),
]


def _user(email: str, first: str = "", last: str = "", *, superuser: bool = False) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        create = User.objects.create_superuser if superuser else User.objects.create_user
        user = create(email=email, password=DEMO_PASSWORD, first_name=first, last_name=last)
    return user


class Command(BaseCommand):
    help = "Create (or reuse) the public tenant, the super-admin and the demo gym."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", default="8000", help="Port shown in the printed URLs.")

    def handle(self, *args: Any, **options: Any) -> None:
        base = settings.FITFLOW_BASE_DOMAIN
        public_gym_ensure(domains=[base, "127.0.0.1"])
        _user(SUPERADMIN_EMAIL, "Platform", "Admin", superuser=True)
        gym = Gym.objects.filter(slug="demo").first()
        if gym is None:
            gym = gym_provision(
                name="Demo Fitness Studio",
                slug="demo",
                timezone="Africa/Johannesburg",
                currency="ZAR",
                country="ZA",
                status=Gym.Status.ACTIVE,
            )
        # The gym's timezone, so "today" in the demo modules is the gym's date.
        with tenant_context(gym), timezone.override(gym_tzinfo(gym)):
            for email, first, last, role in DEMO_USERS:
                staff_role_assign(user=_user(email, first, last), role=role)
            created = demo_members_seed()
            instructors = [_user(email) for email, _, _, role in DEMO_USERS if role in (Role.TRAINER, Role.MANAGER)]
            sessions = demo_timetable_seed(instructors=instructors)
            # Six months of billing replayed day by day; memberships end as the members
            # demo left them (the check-ins read their past-due dates).
            invoices = demo_invoices_seed(gym=gym, desk=_user("desk@demo.localhost"))
            # After members, memberships and bookings: visits follow the memberships
            # and every attended class booking gets its check-in.
            check_ins = demo_checkins_seed(gym=gym, desk=_user("desk@demo.localhost"))
            # Last: what the seeds above recorded is history, delivered when recorded.
            notices = demo_notifications_seed()
        if created:
            self.stdout.write(f"Demo gym: {created} members, 6 plans and their memberships created.")
        if sessions:
            self.stdout.write(f"Demo gym: 6 classes and {sessions} class sessions with bookings created.")
        if invoices:
            self.stdout.write(f"Demo gym: {invoices} invoices over six months created, with their payments.")
        if check_ins:
            self.stdout.write(f"Demo gym: {check_ins} check-ins over six weeks created, some members in the gym now.")
        if notices:
            self.stdout.write(f"Demo gym: {notices} notifications in the log (old ones marked delivered, not sent).")
        port = options["port"]
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "FitFlow is running:",
                    f"  Public site and super-admin: http://{base}:{port}/  (admin: http://{base}:{port}/admin/)",
                    f"  Demo gym dashboard:          http://demo.{base}:{port}/",
                    f"  Front-desk check-in:         http://demo.{base}:{port}/check-in/",
                    f"  Demo gym API:                http://demo.{base}:{port}/api/docs/",
                    "Logins (password for all: " + DEMO_PASSWORD + "):",
                    f"  super-admin   {SUPERADMIN_EMAIL}",
                    *[f"  {role.value:<13} {email}" for email, _, _, role in DEMO_USERS],
                    "",
                ]
            )
        )
