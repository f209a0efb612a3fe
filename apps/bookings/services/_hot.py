"""The hot path of `booking_create` in hand-written SQL. Private to the package.

A booking of a busy session runs with the session's row locked, so every statement,
round trip and ORM compilation inside that lock is paid once per booking by everyone
queued behind it. Here the reads `booking_create` needs are sent as one batch of
statements on one cursor (one `SET search_path` from django-tenants, one round trip):

1. lock the session row (`FOR UPDATE OF s`) with its class and allowed plan ids;
2. lock the member's current memberships (`FOR UPDATE OF m`, primary-key order)
   with their plans and whether a freeze covers the session's gym-local date;
3. the clash/count reads over the session's bookings and the member's (what
   `session_state`'s aggregate reads; the overlap join only over the member's rows).

PostgreSQL runs the statements of one batch in order, each waiting for its locks
before the next starts, so the lock order is the package's: session, then
memberships. Statement 3 starts after the session lock is held, so (read committed:
a snapshot per statement) it sees every booking committed by earlier lock holders.

The write is one statement too: the booking INSERT and its notification's
`INSERT ... ON CONFLICT DO NOTHING` in one CTE.

Rows come back as model instances built with `Model.from_db` (field converters
applied, e.g. a plan's `access_hours` JSON), the same objects the ORM would return.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.db.models import Model

from apps.classes.models import ClassSession, GymClass
from apps.members.models import Member
from apps.memberships.models import CURRENT_STATUSES, Freeze, Membership
from apps.notifications.models import Notification
from apps.notifications.services import notifications_send_on_commit
from apps.plans.models import Plan

from ..models import Booking
from ._common import HOLDING_STATUSES, SPOT_STATUSES, Status


class _Loader:
    """Selects all concrete columns of `model` under `alias` and builds instances."""

    def __init__(self, model: type[Model], alias: str) -> None:
        self.model = model
        self.fields = list(model._meta.concrete_fields)
        self.names = [f.attname for f in self.fields]
        self.columns = ", ".join(f'{alias}."{f.column}"' for f in self.fields)
        self.converters = [(i, f.get_db_converters(connection)) for i, f in enumerate(self.fields)]
        self.converters = [(i, c) for i, c in self.converters if c]
        self.width = len(self.fields)

    def build(self, row: Sequence[Any]) -> Any:
        values = list(row[: self.width])
        for i, converters in self.converters:
            for convert in converters:
                values[i] = convert(values[i], None, connection)
        return self.model.from_db("default", self.names, values)


_loaders: dict[str, _Loader] = {}


def _loader(model: type[Model], alias: str) -> _Loader:
    key = f"{model._meta.label}:{alias}"
    if key not in _loaders:
        _loaders[key] = _Loader(model, alias)
    return _loaders[key]


def _in(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)  # model choice constants, never user input


def _lock_batch_sql() -> str:
    s, c = _loader(ClassSession, "s"), _loader(GymClass, "c")
    m, p = _loader(Membership, "m"), _loader(Plan, "p")
    allowed = GymClass.allowed_plans.through._meta.db_table
    return f"""
        SELECT {s.columns}, {c.columns},
               ARRAY(SELECT ap.plan_id FROM {allowed} ap WHERE ap.gymclass_id = s.gym_class_id)
        FROM {ClassSession._meta.db_table} s JOIN {GymClass._meta.db_table} c ON c.id = s.gym_class_id
        WHERE s.id = %(session)s
        FOR UPDATE OF s;
        SELECT {m.columns}, {p.columns},
               EXISTS(SELECT 1 FROM {Freeze._meta.db_table} f
                      WHERE f.membership_id = m.id AND f.ended_on IS NULL
                        AND f.start_date <= %(day)s AND f.end_date >= %(day)s)
        FROM {Membership._meta.db_table} m JOIN {Plan._meta.db_table} p ON p.id = m.plan_id
        WHERE m.member_id = %(member)s AND m.status IN ({_in(CURRENT_STATUSES)})
        ORDER BY m.id
        FOR UPDATE OF m;
        SELECT (SELECT count(*) FROM {Booking._meta.db_table} h
                WHERE h.member_id = %(member)s AND h.session_id = %(session)s
                  AND h.status IN ({_in(HOLDING_STATUSES)})),
               (SELECT count(*) FROM {Booking._meta.db_table} b
                JOIN {ClassSession._meta.db_table} o ON o.id = b.session_id
                WHERE b.member_id = %(member)s AND b.session_id <> %(session)s
                  AND b.status IN ({_in([Status.CONFIRMED, Status.ATTENDED])})
                  AND o.starts_at < t.ends_at AND o.ends_at > t.starts_at),
               k.taken, k.last
        FROM {ClassSession._meta.db_table} t,
             LATERAL (SELECT count(*) FILTER (WHERE status IN ({_in(SPOT_STATUSES)})) AS taken,
                             COALESCE(max(waitlist_position) FILTER (WHERE status = '{Status.WAITLISTED}'), 0) AS last
                      FROM {Booking._meta.db_table} WHERE session_id = %(session)s) k
        WHERE t.id = %(session)s;
    """  # noqa: S608 (model metadata and choice constants only)


_sql: dict[str, str] = {}


def lock_and_read(
    cursor: CursorWrapper, *, session_id: int, member_id: int, day: datetime.date
) -> tuple[ClassSession | None, list[Membership], tuple[int, int, int, int]]:
    """One round trip: the locked session (None when not in this gym) with its class and
    `allowed_plan_ids`; the member's locked current memberships with their plans and
    `frozen_then` (a freeze covers `day`); and (already booked here, confirmed
    overlapping elsewhere, spots taken, last waitlist position)."""
    if "lock" not in _sql:
        _sql["lock"] = _lock_batch_sql()
    cursor.execute(_sql["lock"], {"session": session_id, "member": member_id, "day": day})
    s, c = _loader(ClassSession, "s"), _loader(GymClass, "c")
    row = cursor.fetchone()
    session: ClassSession | None = None
    if row is not None:
        session = s.build(row)
        session.gym_class = c.build(row[s.width :])
        session.allowed_plan_ids = row[s.width + c.width]  # type: ignore[union-attr]
    cursor.nextset()
    m, p = _loader(Membership, "m"), _loader(Plan, "p")
    memberships = []
    for row in cursor.fetchall():
        membership = m.build(row)
        membership.plan = p.build(row[m.width :])
        membership.frozen_then = row[m.width + p.width]  # type: ignore[attr-defined]
        memberships.append(membership)
    cursor.nextset()
    counts = cursor.fetchone()  # no row when the session is not in this gym
    here, overlapping, taken, last = counts if counts is not None else (0, 0, 0, 0)
    return session, memberships, (here, overlapping, taken, last)


def _insert_sql() -> str:
    fields = [f for f in Booking._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(f'"{f.column}"' for f in fields)
    values = ", ".join(f"%({f.attname})s" for f in fields)
    return f"""
        WITH b AS (INSERT INTO {Booking._meta.db_table} ({columns}) VALUES ({values}) RETURNING id),
        n AS (
            INSERT INTO {Notification._meta.db_table} (member_id, kind, data, idempotency_key, created_at)
            SELECT %(n_member)s, %(n_kind)s, jsonb_build_object('booking_id', b.id) || %(n_data)s::jsonb,
                   %(n_key)s || b.id, %(n_created)s
            FROM b
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING id
        )
        SELECT b.id, (SELECT id FROM n) FROM b
    """  # noqa: S608 (model metadata only)


def booking_insert(cursor: CursorWrapper, booking: Booking, *, kind: str, data: dict[str, Any]) -> None:
    """INSERT `booking` (sets its pk) and record its `kind` notification (as
    `_common.notify`: key `<kind>:booking:<id>`, data with `booking_id` first) in one
    statement; the notification is queued for sending on commit. A unique violation is
    raised as the ORM's `IntegrityError` would be."""
    if "insert" not in _sql:
        _sql["insert"] = _insert_sql()
    params: dict[str, Any] = {}
    for f in Booking._meta.concrete_fields:
        if not f.primary_key:
            params[f.attname] = f.get_db_prep_save(f.pre_save(booking, True), connection)
    member: Member = booking.member
    params.update(
        n_member=member.pk,
        n_kind=kind,
        n_data=json.dumps(data, cls=DjangoJSONEncoder),
        n_key=f"{kind}:booking:",
        n_created=params["created_at"],
    )
    cursor.execute(_sql["insert"], params)
    booking.pk, notification_id = cursor.fetchone()
    if notification_id is not None:
        notifications_send_on_commit([notification_id])
    booking._state.adding = False
    booking._state.db = "default"
