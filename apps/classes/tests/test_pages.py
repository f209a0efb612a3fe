"""The schedule pages: the weekly timetable, a session's edit and cancel pages, class
management and recurring schedules with their preview. Roles, bad input (400, nothing
changed), cross-gym isolation by id, and the timetable's query count with 500 sessions.
(The roster and the desk's booking actions are in `apps/bookings/tests/test_pages.py`.)"""

from __future__ import annotations

import datetime
import itertools
import re
import zoneinfo
from collections.abc import Callable

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.accounts.models import User
from apps.accounts.tests.factories import UserFactory
from apps.bookings.models import Booking
from apps.classes.models import ClassSchedule, ClassSession, GymClass
from apps.classes.tests.factories import ClassSessionFactory, GymClassFactory
from apps.conftest import host_of
from apps.members.tests.factories import MemberFactory
from apps.plans.tests.factories import PlanFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db

LONDON = zoneinfo.ZoneInfo("Europe/London")  # gym A's timezone
STAFF = [Role.OWNER, Role.MANAGER, Role.TRAINER, Role.RECEPTIONIST]
# Ids far beyond any sequence value the test gyms reach, so a gym B row with one of
# these ids has no namesake in gym A: a 404 can only come from the schema boundary.
FOREIGN_ID = itertools.count(910_000_001)
DASH = "\N{EN DASH}"  # between the start and end times
WEEK = datetime.date(2026, 3, 23)  # a Monday; the clocks go forward on Sunday 29 March


def local(day: datetime.date, hh: int, mm: int = 0) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, hh, mm, tzinfo=LONDON)


def future_session(gym_class: GymClass | None = None, *, days: int = 2, hour: int = 18, **fields) -> ClassSession:
    """A session `days` ahead at `hour`:00 gym time (inside the default booking window)."""
    day = datetime.datetime.now(LONDON).date() + datetime.timedelta(days=days)
    start = local(day, hour)
    gym_class = gym_class or GymClassFactory()
    return ClassSessionFactory(
        gym_class=gym_class,
        starts_at=start,
        ends_at=start + datetime.timedelta(minutes=gym_class.duration_minutes),
        **fields,
    )


@pytest.fixture
def login(gym_a: Gym, make_staff) -> Callable[..., Client]:
    """`login(role)` -> a client on gym A's host, logged in as a new user with `role`."""

    def make(role: Role = Role.OWNER, gym: Gym | None = None) -> Client:
        gym = gym or gym_a
        client = Client(HTTP_HOST=host_of(gym))
        client.force_login(make_staff(gym, role))
        return client

    return make


@pytest.fixture
def trainer(gym_a: Gym, make_staff) -> User:
    return make_staff(gym_a, Role.TRAINER, first_name="Tess", last_name="Trainer")


@pytest.fixture
def yoga(gym_a: Gym, trainer: User) -> GymClass:
    with tenant_context(gym_a):
        return GymClassFactory(
            name="Sunrise Yoga", colour="#7c3aed", capacity=2, default_instructor=trainer, type=GymClass.Type.YOGA
        )


@pytest.fixture
def session(gym_a: Gym, yoga: GymClass) -> ClassSession:
    with tenant_context(gym_a):
        return future_session(yoga)


# --- access -------------------------------------------------------------------------------


def _desk_pages(session_id: int) -> list[str]:
    return ["/schedule/", f"/schedule/sessions/{session_id}/"]


def _manager_pages(session_id: int, class_id: int) -> list[str]:
    return [
        "/schedule/classes/",
        "/schedule/classes/new/",
        f"/schedule/classes/{class_id}/edit/",
        f"/schedule/classes/{class_id}/schedule/",
        f"/schedule/sessions/{session_id}/edit/",
        f"/schedule/sessions/{session_id}/cancel/",
    ]


def test_anonymous_visitors_are_sent_to_login(client_a: Client, session: ClassSession) -> None:
    for url in [*_desk_pages(session.pk), *_manager_pages(session.pk, session.gym_class_id)]:
        response = client_a.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url


@pytest.mark.parametrize("role", STAFF)
def test_every_staff_role_opens_the_timetable_and_roster(login, session: ClassSession, role: Role) -> None:
    client = login(role)
    for url in _desk_pages(session.pk):
        assert client.get(url).status_code == 200, (role, url)


@pytest.mark.parametrize("role", [Role.TRAINER, Role.RECEPTIONIST])
def test_class_management_and_session_changes_are_for_managers(login, session: ClassSession, role: Role) -> None:
    client = login(role)
    for url in _manager_pages(session.pk, session.gym_class_id):
        assert client.get(url).status_code == 403, (role, url)
    assert client.post("/schedule/classes/new/", {"name": "X"}).status_code == 403
    assert client.post(f"/schedule/sessions/{session.pk}/cancel/", {"scope": "this", "reason": "x"}).status_code == 403
    session.refresh_from_db()
    assert session.status == ClassSession.Status.SCHEDULED
    for allowed in (Role.OWNER, Role.MANAGER):
        manager = login(allowed)
        for url in _manager_pages(session.pk, session.gym_class_id):
            assert manager.get(url).status_code == 200, (allowed, url)


def test_a_member_login_and_other_gyms_staff_are_refused(gym_a: Gym, gym_b: Gym, make_staff, session) -> None:
    member_user = UserFactory()
    with tenant_context(gym_a):
        MemberFactory(user=member_user)
    as_member = Client(HTTP_HOST=host_of(gym_a))
    as_member.force_login(member_user)
    outsider = Client(HTTP_HOST=host_of(gym_a))
    outsider.force_login(make_staff(gym_b, Role.OWNER))
    for client in (as_member, outsider):
        for url in [*_desk_pages(session.pk), *_manager_pages(session.pk, session.gym_class_id)]:
            assert client.get(url).status_code == 403, url


def test_the_sidebar_links_to_the_schedule(login) -> None:
    page = login(Role.RECEPTIONIST).get("/schedule/").content.decode()
    assert 'href="/schedule/" aria-current="page">Schedule</a>' in page
    assert "Schedule <span" not in page  # no longer a "soon" item


# --- the timetable ----------------------------------------------------------------------------


def _blocks(html: str) -> dict[int, str]:
    """Session id -> the text of its block."""
    out = {}
    for match in re.finditer(r'<a class="tt-session[^"]*" href="/schedule/sessions/(\d+)/"[^>]*>(.*?)</a>', html, re.S):
        out[int(match.group(1))] = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(2))).strip()
    return out


def _day_of(html: str, session_id: int) -> str:
    """The aria-label of the day column holding the session's block."""
    position = html.index(f'href="/schedule/sessions/{session_id}/"')
    return re.findall(r'<section class="tt-day[^"]*" aria-label="([^"]+)"', html[:position])[-1]


def test_the_week_shows_sessions_in_gym_time_with_counts_colours_and_instructors(
    login, gym_a: Gym, yoga: GymClass, trainer: User
) -> None:
    with tenant_context(gym_a):
        # 07:00 gym time on both sides of the clocks going forward (07:00 GMT, then 07:00 BST).
        before = ClassSessionFactory(
            gym_class=yoga,
            starts_at=local(WEEK + datetime.timedelta(days=5), 7),
            ends_at=local(WEEK + datetime.timedelta(days=5), 8),
        )
        after = ClassSessionFactory(
            gym_class=yoga,
            starts_at=local(WEEK + datetime.timedelta(days=7), 7),
            ends_at=local(WEEK + datetime.timedelta(days=7), 8),
        )
        # 00:30 on Monday 23 March local is 00:30 UTC; 23:30 on Sunday 29 March BST is 22:30 UTC.
        early = ClassSessionFactory(gym_class=yoga, starts_at=local(WEEK, 0, 30), ends_at=local(WEEK, 1, 30))
        late = ClassSessionFactory(
            gym_class=GymClassFactory(name="Night Spin", type=GymClass.Type.CYCLING, capacity=12),
            starts_at=local(WEEK + datetime.timedelta(days=6), 23, 30),
            ends_at=local(WEEK + datetime.timedelta(days=7), 0, 15),
            status=ClassSession.Status.CANCELLED,
        )
        members = MemberFactory.create_batch(3)
        Booking.objects.create(member=members[0], session=before, status=Booking.Status.CONFIRMED)
        Booking.objects.create(member=members[1], session=before, status=Booking.Status.CONFIRMED)
        Booking.objects.create(member=members[2], session=before, status=Booking.Status.WAITLISTED, waitlist_position=1)
    client = login(Role.RECEPTIONIST)

    response = client.get(f"/schedule/?week={WEEK + datetime.timedelta(days=3)}")  # any day picks its week

    html = response.content.decode()
    blocks = _blocks(html)
    assert set(blocks) == {before.pk, early.pk, late.pk}  # `after` is next week
    assert blocks[before.pk] == f"07:00{DASH}08:00 Sunrise Yoga Tess Trainer 2/2 Full +1 waiting"
    assert blocks[early.pk].startswith(f"00:30{DASH}01:30 Sunrise Yoga")
    assert "0/2" in blocks[early.pk]
    assert blocks[late.pk] == f"23:30{DASH}00:15 Night Spin Cancelled"
    assert _day_of(html, early.pk) == "Monday 23 March"
    assert _day_of(html, before.pk) == "Saturday 28 March"
    assert _day_of(html, late.pk) == "Sunday 29 March"
    assert "--c: #7c3aed" in html
    assert f"23 Mar {DASH} 29 Mar 2026" in html

    next_week = client.get("/schedule/?week=2026-03-30").content.decode()
    assert _blocks(next_week)[after.pk].startswith(f"07:00{DASH}08:00 Sunrise Yoga")  # 06:00 UTC, still 07:00 here


def test_filters_by_instructor_and_type_and_keeps_them_across_weeks(
    login, gym_a: Gym, yoga: GymClass, trainer: User, make_staff
) -> None:
    other = make_staff(gym_a, Role.TRAINER, first_name="Omar")
    with tenant_context(gym_a):
        spin = GymClassFactory(name="Spin", type=GymClass.Type.CYCLING)
        yoga_default = ClassSessionFactory(gym_class=yoga, starts_at=local(WEEK, 9), ends_at=local(WEEK, 10))
        yoga_by_other = ClassSessionFactory(
            gym_class=yoga, instructor=other, starts_at=local(WEEK, 11), ends_at=local(WEEK, 12)
        )
        spin_by_trainer = ClassSessionFactory(
            gym_class=spin, instructor=trainer, starts_at=local(WEEK, 13), ends_at=local(WEEK, 14)
        )
    client = login(Role.RECEPTIONIST)

    by_trainer = client.get(f"/schedule/?week={WEEK}&instructor={trainer.pk}").content.decode()
    assert set(_blocks(by_trainer)) == {yoga_default.pk, spin_by_trainer.pk}
    assert f'href="?week=2026-03-30&amp;instructor={trainer.pk}"' in by_trainer
    assert f'hx-get="?week=2026-03-16&amp;instructor={trainer.pk}"' in by_trainer

    by_type = client.get(f"/schedule/?week={WEEK}&type=cycling").content.decode()
    assert set(_blocks(by_type)) == {spin_by_trainer.pk}
    both = client.get(f"/schedule/?week={WEEK}&type=yoga&instructor={other.pk}").content.decode()
    assert set(_blocks(both)) == {yoga_by_other.pk}

    # Bad filter values are ignored rather than refused: it is a page of links.
    for query in ["week=not-a-date&type=nonsense&instructor=999999999", "week=9999-12-31", "week=0001-01-01"]:
        assert client.get(f"/schedule/?{query}").status_code == 200, query


def test_htmx_week_navigation_returns_only_the_week(login, gym_a: Gym, yoga: GymClass) -> None:
    with tenant_context(gym_a):
        s = ClassSessionFactory(gym_class=yoga, starts_at=local(WEEK, 9), ends_at=local(WEEK, 10))
    response = login(Role.RECEPTIONIST).get(f"/schedule/?week={WEEK}", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'class="sidebar"' not in html
    assert s.pk in _blocks(html)
    assert 'rel="next" href="?week=2026-03-30"' in html and 'hx-push-url="true"' in html
    assert response["Vary"].count("HX-Request") == 1


def test_the_timetable_runs_a_constant_number_of_queries_with_500_sessions(
    login, gym_a: Gym, trainer: User, django_assert_max_num_queries, django_assert_num_queries
) -> None:
    client = login(Role.RECEPTIONIST)
    with tenant_context(gym_a):
        classes = [
            GymClassFactory(name=f"Class {i}", default_instructor=trainer if i % 2 else None, capacity=5)
            for i in range(12)
        ]
        ClassSessionFactory(gym_class=classes[0], starts_at=local(WEEK, 6), ends_at=local(WEEK, 7))
    client.get(f"/schedule/?week={WEEK}")  # warm the session and role lookups' caches, if any

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        assert client.get(f"/schedule/?week={WEEK}").status_code == 200

    with tenant_context(gym_a):
        members = MemberFactory.create_batch(5)
        sessions = ClassSession.objects.bulk_create(
            [
                ClassSession(
                    gym_class=classes[i % 12],
                    instructor=trainer if i % 3 == 0 else None,
                    starts_at=local(WEEK + datetime.timedelta(days=i % 7), 6) + datetime.timedelta(minutes=2 * i),
                    ends_at=local(WEEK + datetime.timedelta(days=i % 7), 7) + datetime.timedelta(minutes=2 * i),
                )
                for i in range(499)
            ]
        )
        Booking.objects.bulk_create(
            [
                Booking(member=m, session=s, status=Booking.Status.CONFIRMED if j < 4 else Booking.Status.WAITLISTED)
                for s in sessions[::5]
                for j, m in enumerate(members)
            ]
        )
    with django_assert_num_queries(len(one.captured_queries)):
        response = client.get(f"/schedule/?week={WEEK}")
    assert len(_blocks(response.content.decode())) == 500
    # Filtered (the instructor is looked up once more) and as an htmx swap: still a handful.
    # django-tenants sets the search_path before each query, so each counts twice.
    with django_assert_max_num_queries(16):
        client.get(f"/schedule/?week={WEEK}&type=yoga&instructor={trainer.pk}", HTTP_HX_REQUEST="true")


# --- classes ------------------------------------------------------------------------------


def _class_post(**overrides) -> dict:
    data = {
        "name": "Power Pilates",
        "description": "Core and control.",
        "type": "pilates",
        "difficulty": "intermediate",
        "duration_minutes": "45",
        "capacity": "14",
        "credits_required": "2",
        "colour": "#DB2777",
        "default_instructor": "",
        "equipment_needed": "Mat, ring",
        "location": "Studio 2",
        "is_active": "on",
    }
    data.update(overrides)
    return data


def test_a_manager_creates_a_class_with_every_field_and_then_adds_its_schedule(
    login, gym_a: Gym, trainer: User
) -> None:
    with tenant_context(gym_a):
        pack = PlanFactory(name="10-class pack")
        PlanFactory(name="Monthly")
    client = login(Role.MANAGER)

    form = client.get("/schedule/classes/new/").content.decode()
    assert "Tess Trainer" in form and "10-class pack" in form

    response = client.post(
        "/schedule/classes/new/", _class_post(default_instructor=trainer.pk, allowed_plans=[pack.pk])
    )

    with tenant_context(gym_a):
        created = GymClass.objects.get(name="Power Pilates")
        assert response.status_code == 302
        assert response["Location"] == f"/schedule/classes/{created.pk}/schedule/"
        assert (created.type, created.difficulty, created.duration_minutes, created.capacity) == (
            "pilates",
            "intermediate",
            45,
            14,
        )
        assert (created.credits_required, created.colour, created.location) == (2, "#db2777", "Studio 2")
        assert created.default_instructor == trainer and created.is_active
        assert list(created.allowed_plans.all()) == [pack]
    listing = client.get("/schedule/classes/").content.decode()
    assert "Power Pilates" in listing and "10-class pack" in listing


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "name"),
        ({"capacity": "0"}, "capacity"),
        ({"duration_minutes": "2"}, "duration_minutes"),
        ({"colour": "red;background:url(x)"}, "colour"),
        ({"type": "zumba"}, "type"),
        ({"credits_required": "-1"}, "credits_required"),
    ],
)
def test_bad_class_input_is_400_with_the_field_marked_and_nothing_saved(login, gym_a: Gym, overrides, field) -> None:
    response = login(Role.OWNER).post("/schedule/classes/new/", _class_post(**overrides))
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert "Nothing was saved." in response.content.decode()
    with tenant_context(gym_a):
        assert not GymClass.objects.filter(name="Power Pilates").exists()


def test_a_receptionist_cannot_be_the_default_instructor(login, gym_a: Gym, make_staff) -> None:
    desk = make_staff(gym_a, Role.RECEPTIONIST)
    response = login(Role.OWNER).post("/schedule/classes/new/", _class_post(default_instructor=desk.pk))
    assert response.status_code == 400
    assert "default_instructor" in response.context["form"].errors


def test_editing_a_class_changes_it_and_clears_its_plans(login, gym_a: Gym, yoga: GymClass) -> None:
    with tenant_context(gym_a):
        plan = PlanFactory()
        yoga.allowed_plans.set([plan])
    client = login(Role.MANAGER)
    page = client.get(f"/schedule/classes/{yoga.pk}/edit/").content.decode()
    assert 'value="Sunrise Yoga"' in page and f'value="{plan.pk}"' in page and "checked" in page

    response = client.post(
        f"/schedule/classes/{yoga.pk}/edit/", _class_post(name="Sunset Yoga", type="yoga", is_active="")
    )

    assert response.status_code == 302
    with tenant_context(gym_a):
        yoga.refresh_from_db()
        assert yoga.name == "Sunset Yoga" and not yoga.is_active and yoga.default_instructor is None
        assert not yoga.allowed_plans.exists()


# --- recurring schedules ---------------------------------------------------------------------


def _rule(**overrides) -> dict:
    data = {
        "frequency": "weekly",
        "interval": "1",
        "weekdays": ["0", "3"],
        "start_date": "2026-12-07",
        "start_time": "07:00",
        "until": "",
        "count": "4",
        "instructor": "",
        "capacity_override": "",
    }
    data.update(overrides)
    return data


def test_the_preview_lists_local_dates_and_creates_nothing(login, gym_a: Gym, yoga: GymClass) -> None:
    client = login(Role.OWNER)
    url = f"/schedule/classes/{yoga.pk}/schedule/"

    response = client.post(url, _rule(action="preview"))

    html = response.content.decode()
    assert response.status_code == 200
    assert re.findall(r"<span>(\w{3} \d+ \w{3} \d{4})</span> <span class=\"nowrap\">(\d\d:\d\d)</span>", html) == [
        ("Mon 7 Dec 2026", "07:00"),
        ("Thu 10 Dec 2026", "07:00"),
        ("Mon 14 Dec 2026", "07:00"),
        ("Thu 17 Dec 2026", "07:00"),
    ]
    assert "Create 4 sessions" in html
    with tenant_context(gym_a):
        assert not ClassSession.objects.filter(gym_class=yoga).exists()
        assert not ClassSchedule.objects.exists()


def test_the_preview_keeps_07_00_across_the_clock_change(login, yoga: GymClass) -> None:
    response = login(Role.OWNER).post(
        f"/schedule/classes/{yoga.pk}/schedule/",
        _rule(frequency="daily", weekdays=[], start_date="2027-03-27", count="3"),
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert "<html" not in html  # htmx gets just the preview
    assert re.findall(r'<span class="nowrap">(\d\d:\d\d)</span>', html) == ["07:00", "07:00", "07:00"]
    assert "Sat 27 Mar 2027" in html and "Mon 29 Mar 2027" in html


def test_confirming_the_previewed_rule_creates_the_sessions(login, gym_a: Gym, yoga: GymClass, trainer) -> None:
    client = login(Role.OWNER)
    url = f"/schedule/classes/{yoga.pk}/schedule/"
    rule = _rule(instructor=str(trainer.pk), capacity_override="8")
    preview = client.post(url, {**rule, "action": "preview"})
    fingerprint = re.search(r'name="previewed" value="([0-9a-f]+)"', preview.content.decode()).group(1)

    response = client.post(url, {**rule, "previewed": fingerprint, "action": "create"})

    assert response.status_code == 302
    assert response["Location"] == "/schedule/?week=2026-12-07"
    with tenant_context(gym_a):
        sessions = list(ClassSession.objects.filter(gym_class=yoga).order_by("starts_at"))
        assert [s.starts_at.astimezone(LONDON).strftime("%a %d %H:%M") for s in sessions] == [
            "Mon 07 07:00",
            "Thu 10 07:00",
            "Mon 14 07:00",
            "Thu 17 07:00",
        ]
        assert {(s.instructor_id, s.capacity_override) for s in sessions} == {(trainer.pk, 8)}
    follow = client.get(response["Location"])
    assert "Created 4 sessions of Sunrise Yoga, the first on Mon 7 Dec 2026 at 07:00." in follow.content.decode()


def test_a_confirm_for_a_changed_rule_shows_the_new_dates_instead_of_creating(
    login, gym_a: Gym, yoga: GymClass
) -> None:
    client = login(Role.OWNER)
    url = f"/schedule/classes/{yoga.pk}/schedule/"
    preview = client.post(url, {**_rule(), "action": "preview"})
    fingerprint = re.search(r'name="previewed" value="([0-9a-f]+)"', preview.content.decode()).group(1)

    response = client.post(url, {**_rule(count="6"), "previewed": fingerprint, "action": "create"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "The rule changed after the preview" in html and "Create 6 sessions" in html
    with tenant_context(gym_a):
        assert not ClassSession.objects.filter(gym_class=yoga).exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"count": ""}, "until"),  # neither an end date nor a count
        ({"until": "2027-01-01"}, "count"),  # both
        ({"until": "2026-12-01", "count": ""}, "until"),  # before the start
        ({"count": "401"}, "count"),
        ({"interval": "0"}, "interval"),
        ({"weekdays": ["9"]}, "weekdays"),
        ({"start_time": "25:00"}, "start_time"),
        ({"frequency": "yearly"}, "frequency"),
        ({"start_date": "9999-12-30"}, "start_date"),
    ],
)
def test_bad_rules_are_400_and_create_nothing(login, gym_a: Gym, yoga: GymClass, overrides, field) -> None:
    response = login(Role.OWNER).post(
        f"/schedule/classes/{yoga.pk}/schedule/", {**_rule(**overrides), "action": "create", "previewed": "x"}
    )
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert "Nothing was created." in response.content.decode()
    with tenant_context(gym_a):
        assert not ClassSession.objects.filter(gym_class=yoga).exists()


def test_a_rule_of_more_than_400_dates_is_refused_by_the_service(login, gym_a: Gym, yoga: GymClass) -> None:
    response = login(Role.OWNER).post(
        f"/schedule/classes/{yoga.pk}/schedule/",
        _rule(frequency="daily", count="", until="2028-12-31", action="preview"),
    )
    assert response.status_code == 400
    assert "At most 400 sessions at once." in response.content.decode()


# --- editing and cancelling a session --------------------------------------------------------


def test_editing_this_session_only_moves_it_in_gym_time(login, gym_a: Gym, session: ClassSession) -> None:
    client = login(Role.MANAGER)
    page = client.get(f"/schedule/sessions/{session.pk}/edit/")
    assert 'value="18:00"' in page.content.decode()

    response = client.post(
        f"/schedule/sessions/{session.pk}/edit/",
        {"scope": "this", "start_time": "19:30", "duration_minutes": "60", "notes": "Bring a towel"},
    )

    assert response.status_code == 302 and response["Location"] == f"/schedule/sessions/{session.pk}/"
    with tenant_context(gym_a):
        session.refresh_from_db()
        assert session.starts_at.astimezone(LONDON).strftime("%H:%M") == "19:30"
        assert session.notes == "Bring a towel"


def test_editing_this_and_following_changes_the_rest_of_the_schedule(login, gym_a: Gym, yoga: GymClass) -> None:
    from apps.classes.services import schedule_create

    with tenant_context(gym_a):
        _, sessions = schedule_create(
            gym_class=yoga,
            frequency="weekly",
            interval=1,
            weekdays=[],
            start_date=datetime.datetime.now(LONDON).date() + datetime.timedelta(days=1),
            start_time=datetime.time(7),
            count=4,
        )
    response = login(Role.OWNER).post(
        f"/schedule/sessions/{sessions[1].pk}/edit/",
        {"scope": "following", "start_time": "08:15", "duration_minutes": "60", "capacity_override": "5"},
    )
    assert response.status_code == 302
    with tenant_context(gym_a):
        times = [
            (s.starts_at.astimezone(LONDON).strftime("%H:%M"), s.capacity_override)
            for s in ClassSession.objects.filter(pk__in=[s.pk for s in sessions]).order_by("starts_at")
        ]
    assert times == [("07:00", None), ("08:15", 5), ("08:15", 5), ("08:15", 5)]


def test_bad_session_edits_are_400(login, gym_a: Gym, session: ClassSession) -> None:
    client = login(Role.OWNER)
    response = client.post(
        f"/schedule/sessions/{session.pk}/edit/", {"scope": "sometimes", "start_time": "7pm", "duration_minutes": "0"}
    )
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"scope", "start_time", "duration_minutes"}
    with tenant_context(gym_a):
        past = future_session(days=-1)
    refused = client.post(
        f"/schedule/sessions/{past.pk}/edit/", {"scope": "this", "start_time": "06:00", "duration_minutes": "60"}
    )
    assert refused.status_code == 400
    assert "This session has already started." in refused.content.decode()
    with tenant_context(gym_a):
        before = past.starts_at
        past.refresh_from_db()
        assert past.starts_at == before


def test_cancelling_a_session_needs_a_reason_and_cancels_its_bookings(login, gym_a: Gym, session: ClassSession) -> None:
    with tenant_context(gym_a):
        booking = Booking.objects.create(member=MemberFactory(), session=session, status=Booking.Status.CONFIRMED)
    client = login(Role.MANAGER)

    no_reason = client.post(f"/schedule/sessions/{session.pk}/cancel/", {"scope": "this", "reason": ""})
    assert no_reason.status_code == 400 and "reason" in no_reason.context["form"].errors

    htmx_form = client.get(f"/schedule/sessions/{session.pk}/cancel/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in htmx_form and 'name="reason"' in htmx_form

    response = client.post(f"/schedule/sessions/{session.pk}/cancel/", {"scope": "this", "reason": "Instructor ill"})

    assert response.status_code == 302
    with tenant_context(gym_a):
        session.refresh_from_db()
        booking.refresh_from_db()
        assert session.status == ClassSession.Status.CANCELLED
        assert booking.status == Booking.Status.CANCELLED
    roster = client.get(f"/schedule/sessions/{session.pk}/").content.decode()
    assert "This session was cancelled." in roster and "Cancelled 1 session." in roster


# --- isolation --------------------------------------------------------------------------------


def test_gym_b_classes_and_sessions_are_404_from_gym_a(login, gym_b: Gym) -> None:
    with tenant_context(gym_b):
        foreign_class = GymClassFactory(id=next(FOREIGN_ID), name="Gym B Boxing")
        foreign = ClassSessionFactory(id=next(FOREIGN_ID), gym_class=foreign_class)
    client = login(Role.OWNER)
    by_id = [u for u in _manager_pages(foreign.pk, foreign_class.pk) if re.search(r"/\d+/", u)]
    for url in [*by_id, f"/schedule/sessions/{foreign.pk}/"]:
        assert client.get(url).status_code == 404, url
    assert client.post(f"/schedule/classes/{foreign_class.pk}/edit/", _class_post()).status_code == 404
    assert client.post(f"/schedule/sessions/{foreign.pk}/cancel/", {"scope": "this", "reason": "x"}).status_code == 404
    assert client.post(f"/schedule/sessions/{foreign.pk}/edit/", {"scope": "this"}).status_code == 404
    assert client.post(f"/schedule/classes/{foreign_class.pk}/schedule/", _rule(action="preview")).status_code == 404
    with tenant_context(gym_b):
        foreign.refresh_from_db()
        assert foreign.status == ClassSession.Status.SCHEDULED
    # Gym A's lists do not show gym B's rows either.
    assert "Gym B Boxing" not in client.get("/schedule/classes/").content.decode()
    week = foreign.starts_at.date().isoformat()
    assert foreign.pk not in _blocks(client.get(f"/schedule/?week={week}").content.decode())


def test_the_class_list_runs_a_constant_number_of_queries(
    login, gym_a: Gym, trainer: User, django_assert_num_queries
) -> None:
    client = login(Role.MANAGER)
    with tenant_context(gym_a):
        plans = [PlanFactory() for _ in range(3)]
        GymClassFactory(default_instructor=trainer).allowed_plans.set(plans[:1])
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        client.get("/schedule/classes/")
    with tenant_context(gym_a):
        for i in range(60):
            GymClassFactory(default_instructor=trainer if i % 2 else None, is_active=bool(i % 5)).allowed_plans.set(
                plans[: i % 4]
            )
    with django_assert_num_queries(len(one.captured_queries)):
        response = client.get("/schedule/classes/")
    assert response.content.decode().count('class="swatch"') == 61
