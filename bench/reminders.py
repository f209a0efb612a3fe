#!/usr/bin/env python
"""Class reminders at scale through real Celery workers: `python bench/reminders.py`
(issue 7; `make bench BENCH=reminders`).

Target (issue 7): class reminders for 20 gyms x 2,000 bookings dispatched through real
Celery workers with the console backends at >= 200 messages per second on this machine.

Setup (its own database and Redis queue, see below): `--gyms` (20) gyms provisioned
with `gym_provision` (a clone of the template schema), each with `--bookings` (2000)
members (email address and mobile number), one confirmed booking each, spread over
sessions of 20 that all start within the next two hours (the default reminder lead,
120 minutes), and a `MessagingSettings` row. Members choose their reminders channel:
`--sms` (10%) SMS, `--push` (10%) push (with one registered device each), the rest
email (the default: no preference row). Rows go in with bulk_create.

The gyms' timezones are real IANA zones where it is daytime (09:00-19:00) when the
bench starts: during quiet hours (21:00-08:00 gym time) SMS and push reminders are held
back until 08:00 (or suppressed once the class has started), which is the send
pipeline's rule, not throughput.

Backends: `NOTIFICATIONS_SMS_BACKEND` / `NOTIFICATIONS_PUSH_BACKEND` are the console
backends (`apps.notifications.backends.console`: a made-up provider id and one log
line per message). `EMAIL_BACKEND` is `bench.reminders.MimeOnlyEmailBackend`: it builds
each message's MIME bytes, as Django's SMTP backend does before it writes them to the
socket, and drops them. Chosen over `locmem`, which keeps every message in the
worker's memory (40,000 of them), and over `dummy`, which skips building the message
and so would leave the email's own cost out of the figure. No network time is
measured: this is FitFlow's own cost per message.

The run: `--workers` (4) Celery worker processes (`celery -A fitflow worker -Q celery`,
prefork, prefetch 1; `--pool threads` runs one process with `--workers` threads) are
started and pinged; then `apps.notifications.tasks.notifications_schedule_task` is
queued for every gym (`headers={"_schema_name": schema}`), as beat's
`notifications_schedule_dispatch_task` does without the jitter. Each records the
gym's due reminders (`apps.notifications.schedules`, one INSERT per 1,000) and each
batch queues `notifications_send_task`, which sends them. The bench polls the
gyms' notifications (one UNION query) until every one is final (sent, failed or
suppressed). Timed from the first task queued to the moment the last was seen final
(polled every 0.2 s). Printed: messages per second (sent / time), the total time,
the time to record, totals by status and by channel. Then the tasks are queued a
second time, which must record nothing new ("second dispatch: 0 new").

Checks (PASS/FAIL): at least `TARGET_PER_S` (200) messages per second; one reminder
per booking; every notification sent (none failed or suppressed, none left
pending); the channels match the members' choices; the second dispatch recorded 0
new; no task errors and no tracebacks in the workers' log.

Database: default `postgres://postgres@127.0.0.1:5432/fitflow_bench_reminders`,
overridden by `BENCH_DATABASE_URL`; dropped and recreated at start (`--keep` reuses it
and drops only the last run's gyms; the script refuses to drop a database whose name
lacks "bench") and dropped at the end unless `--keep`. Redis: `BENCH_REDIS_URL`, else
REDIS_URL with database 11, else redis://127.0.0.1:6379/11; the bench empties its
queue (`celery`) before and after. `DJANGO_SETTINGS_MODULE=fitflow.settings.local`,
`DJANGO_DEBUG=0` and a bench cache prefix are set for this process and the workers.

`--profile`: afterwards, one more gym of `--profile-bookings` (500) has its reminders
recorded and sent in this process (`services.notifications_send`, what the send task
calls) with every SQL statement counted (per table) and timed and rendering and email
building timed, to show where a message's time goes (the console backends' log lines
are switched off there); `--cprofile N` adds cProfile's top N functions.

Options: `--gyms N`, `--bookings N`, `--workers N`, `--pool prefork|threads`,
`--sms SHARE`, `--push SHARE`, `--timeout S`, `--profile`, `--profile-bookings N`,
`--cprofile N`, `--keep`, `--quick` (5 gyms x 200 bookings, 2 workers).
Prints the figures, PASS/FAIL per check and, last, one line of JSON.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import json
import logging
import os
import pstats
import random
import re
import sys
import tempfile
import time
import zoneinfo
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from django.core.mail.backends.base import BaseEmailBackend  # noqa: E402
from django.core.mail.message import EmailMessage  # noqa: E402

from bench.harness import (  # noqa: E402
    Workers,
    bench_redis_url,
    celery_bench_arguments,
    celery_bench_env,
    celery_bench_start,
    database_drop,
    gyms_drop,
    queues_clear,
)
from bench.provision import log  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/fitflow_bench_reminders"
SETTINGS_MODULE = "fitflow.settings.local"
GYM_PREFIX = "bench-rem-"
TARGET_PER_S = 200.0
QUEUES = ("celery",)
SESSION_SIZE = 20
FINAL = ("sent", "failed", "suppressed")
TABLE_RE = re.compile(r'(?:FROM|UPDATE|INTO)\s+"?(\w+)"?')
# Real zones one to two hours apart; the gyms get those where it is daytime now.
ZONES = (
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "Atlantic/Cape_Verde",
    "Europe/London",
    "Africa/Lagos",
    "Africa/Johannesburg",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Dhaka",
    "Asia/Bangkok",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Brisbane",
    "Pacific/Noumea",
    "Pacific/Tarawa",
    "Pacific/Kiritimati",
)


class MimeOnlyEmailBackend(BaseEmailBackend):
    """Django email backend for this bench: builds each message's MIME bytes (what
    `django.core.mail.backends.smtp.EmailBackend` does before sending) and drops
    them. Returns how many messages it took."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        for message in email_messages:
            message.message().as_bytes()
        return len(email_messages)


def daytime_zones(now: datetime.datetime) -> list[str]:
    """The zones of `ZONES` where `now` is between 09:00 and 19:00 (at least a few at
    any hour: they are one to two hours apart around the world)."""
    return [z for z in ZONES if 9 <= now.astimezone(zoneinfo.ZoneInfo(z)).hour < 19]


# --- setup ---------------------------------------------------------------------------------------------


def gyms_seed(
    opts: argparse.Namespace, start: datetime.datetime, *, prefix: str = GYM_PREFIX
) -> tuple[list[Any], Counter[str]]:
    """`opts.gyms` gyms, each with `opts.bookings` members booked (confirmed) on
    sessions of `SESSION_SIZE` starting between 20 and 110 minutes after `start`.
    Returns the gyms and how many members chose each reminders channel."""
    from django.db import connection
    from django_tenants.utils import tenant_context

    from apps.bookings.models import Booking
    from apps.classes.models import ClassSession, GymClass
    from apps.members.models import Member
    from apps.notifications.models import Channel, Device, MessagingSettings, NotificationPreference
    from apps.tenants.models import Gym
    from apps.tenants.services import gym_provision, public_gym_ensure

    public_gym_ensure(domains=["localhost"])
    zones = daytime_zones(start)
    rng = random.Random(2026)  # noqa: S311 (bench data)
    chosen: Counter[str] = Counter()
    gyms = []
    for g in range(opts.gyms):
        gym = gym_provision(
            name=f"Bench Reminders {prefix.removeprefix(GYM_PREFIX)}{g}",
            slug=f"{prefix}{g}",
            timezone=zones[g % len(zones)],
            currency="GBP",
            country="GB",
            status=Gym.Status.ACTIVE,
        )
        with tenant_context(gym):
            MessagingSettings.objects.create(
                sender_name=gym.name,
                sms_from="FitFlow",
                class_reminder_minutes=120,
            )
            classes = GymClass.objects.bulk_create(
                GymClass(name=name, capacity=SESSION_SIZE, location=f"Studio {i + 1}")
                for i, name in enumerate(["Spin", "Vinyasa Flow", "HIIT", "Pilates", "Boxfit"])
            )
            n_sessions = -(-opts.bookings // SESSION_SIZE)
            sessions = ClassSession.objects.bulk_create(
                (
                    ClassSession(
                        gym_class=classes[s % len(classes)],
                        starts_at=(at := start + datetime.timedelta(minutes=20 + 90 * s // max(n_sessions, 1))),
                        ends_at=at + datetime.timedelta(minutes=45),
                    )
                    for s in range(n_sessions)
                ),
                batch_size=1000,
            )
            members = Member.objects.bulk_create(
                (
                    Member(
                        first_name=f"Member{i}",
                        last_name=f"Gym{g}",
                        email=f"m{i}@gym{g}.bench.example",
                        phone=f"+4477{g:03d}{i:05d}",
                    )
                    for i in range(opts.bookings)
                ),
                batch_size=1000,
            )
            Booking.objects.bulk_create(
                (
                    Booking(member=m, session=sessions[i // SESSION_SIZE], status=Booking.Status.CONFIRMED)
                    for i, m in enumerate(members)
                ),
                batch_size=1000,
            )
            preferences, devices = [], []
            for m in members:
                roll = rng.random()
                channel = Channel.SMS if roll < opts.sms else Channel.PUSH if roll < opts.sms + opts.push else ""
                chosen[channel or Channel.EMAIL] += 1
                if channel:
                    preferences.append(NotificationPreference(member=m, reminders=channel))
                if channel == Channel.PUSH:
                    devices.append(Device(member=m, token=f"bench-{g}-{m.pk}", platform=Device.Platform.ANDROID))
            NotificationPreference.objects.bulk_create(preferences, batch_size=1000)
            Device.objects.bulk_create(devices, batch_size=1000)
            with connection.cursor() as cursor:
                for table in ("members_member", "classes_classsession", "bookings_booking"):
                    cursor.execute(f"ANALYZE {table}")
        gyms.append(gym)
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    return gyms, chosen


# --- the run ---------------------------------------------------------------------------------------------


def notification_counts(gyms: list[Any]) -> dict[tuple[str, str], int]:
    """(status, channel) -> notifications across the gyms, in one UNION ALL query."""
    from django.db import connection

    parts = [
        f'SELECT status, channel, count(*) FROM "{gym.schema_name}".notifications_notification GROUP BY 1, 2'  # noqa: S608 (our own schema names)
        for gym in gyms
    ]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts))
        rows = cursor.fetchall()
    counts: Counter[tuple[str, str]] = Counter()
    for status, channel, n in rows:
        counts[(status, channel)] += n
    return dict(counts)


def dispatch_round(gyms: list[Any], *, expected: int, timeout: float) -> dict[str, Any]:
    """Queue `notifications_schedule_task` for every gym; wait for the tasks' results
    and until `expected` notifications are final. Returns the times (s, from the first
    task queued), the tasks' summed results and the errors."""
    from apps.notifications.tasks import notifications_schedule_task

    started = time.perf_counter()
    pending = [
        notifications_schedule_task.apply_async(args=[gym.pk], headers={"_schema_name": gym.schema_name})
        for gym in gyms
    ]
    recorded: Counter[str] = Counter()
    errors: list[str] = []
    for result in pending:
        try:
            recorded.update(result.get(timeout=timeout))
        except Exception as exc:  # a task that raised: counted, printed, and the check fails
            errors.append(f"{type(exc).__name__}: {exc}")
        result.forget()
    recorded_s = time.perf_counter() - started
    deadline = time.monotonic() + timeout
    final = 0
    while True:
        counts = notification_counts(gyms)
        final = sum(n for (status, _), n in counts.items() if status in FINAL)
        total = sum(counts.values())
        if (final >= expected and final == total) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    wall = time.perf_counter() - started
    return {"wall_s": wall, "recorded_s": recorded_s, "recorded": dict(recorded), "errors": errors, "final": final}


# --- profile ---------------------------------------------------------------------------------------------


def profile_one_gym(opts: argparse.Namespace) -> dict[str, Any]:
    """Seed one more gym of `--profile-bookings` bookings and record its reminders (the
    send tasks this queues are cleared with the queue: the workers are stopped), then
    send them in this process (`services.notifications_send`, as the send task does).
    The first `WARM_UP` are sent untimed. Every SQL statement is counted (per table)
    and timed; rendering and email building are timed; `--cprofile N` prints
    cProfile's top N functions."""
    from django.db import connection
    from django.utils import timezone
    from django_tenants.utils import tenant_context

    from apps.notifications import emails, rendering, services
    from apps.notifications.models import Notification
    from apps.notifications.schedules import scheduled_notifications_record
    from apps.tenants.dispatch import gym_tzinfo

    one = argparse.Namespace(**{**vars(opts), "gyms": 1, "bookings": opts.profile_bookings})
    start = datetime.datetime.now(datetime.UTC)
    (gym,), _ = gyms_seed(one, start, prefix=f"{GYM_PREFIX}profile-")
    kinds: Counter[str] = Counter()
    seconds = {"sql": 0.0, "render": 0.0, "email_build": 0.0}

    def counted(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        verb = "SET search_path" if sql.startswith("SET search_path") else sql.lstrip().split(None, 1)[0].upper()
        if verb in ("SELECT", "UPDATE", "INSERT", "DELETE") and (table := TABLE_RE.search(sql)):
            verb = f"{verb} {table.group(1)}"
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            kinds[verb] += 1
            seconds["sql"] += time.perf_counter() - t0

    def timed(owner: Any, name: str, label: str) -> Any:
        real = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                seconds[label] += time.perf_counter() - t0

        setattr(owner, name, wrapper)
        return real

    def send(ids: list[int], *, profiler: cProfile.Profile | None) -> dict[str, Any]:
        kinds.clear()
        seconds.update(sql=0.0, render=0.0, email_build=0.0)
        with connection.execute_wrapper(counted):
            t0, c0 = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            counts = services.notifications_send(ids)
            if profiler:
                profiler.disable()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        n = max(len(ids), 1)
        return {
            "messages": len(ids),
            "counts": counts.as_dict(),
            "wall_s": wall,
            "cpu_s": cpu,
            "ms_per_message": wall / n * 1000,
            "cpu_ms_per_message": cpu / n * 1000,
            "sql_ms_per_message": seconds["sql"] / n * 1000,
            "render_ms_per_message": seconds["render"] / n * 1000,
            "email_build_ms_per_email": seconds["email_build"] / max(counts.sent, 1) * 1000,
            "statements_per_message": {k: round(v / n, 2) for k, v in kinds.most_common()},
        }

    # the console backends' log lines would bury the figures; their cost is left out
    logging.getLogger("apps.notifications.console").setLevel(logging.WARNING)
    profiler = cProfile.Profile() if opts.cprofile else None
    with tenant_context(gym), timezone.override(gym_tzinfo(gym)):
        scheduled_notifications_record(now=start)
        ids = list(Notification.objects.order_by("pk").values_list("pk", flat=True))
        warm, ids = ids[:WARM_UP], ids[WARM_UP:]
        services.notifications_send(warm)  # untimed: templates compiled, caches filled
        real_render = timed(rendering, "notification_render", "render")
        real_email = timed(emails, "notification_email", "email_build")
        try:
            profiled = send(ids, profiler=profiler)
        finally:
            rendering.notification_render, emails.notification_email = real_render, real_email
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    if profiler:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(opts.cprofile)
    return profiled


WARM_UP = 20


# --- main --------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    celery_bench_arguments(parser, per_gym="bookings", per_gym_default=2000, profiled="sending")
    parser.add_argument("--sms", type=float, default=0.10, help="share of members who want SMS reminders (0.10)")
    parser.add_argument("--push", type=float, default=0.10, help="share of members who want push reminders (0.10)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for a round (900)")
    opts = parser.parse_args()
    opts.profile_bookings = opts.profile_bookings or 500
    if opts.quick:
        opts.gyms, opts.bookings, opts.workers = 5, 200, 2

    db_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = bench_redis_url(11)
    bench_env = celery_bench_env(db_url=db_url, redis_url=redis_url, settings_module=SETTINGS_MODULE, name="reminders")
    bench_env |= {
        "NOTIFICATIONS_SMS_BACKEND": "apps.notifications.backends.console.ConsoleSmsBackend",
        "NOTIFICATIONS_PUSH_BACKEND": "apps.notifications.backends.console.ConsolePushBackend",
        "EMAIL_BACKEND": "bench.reminders.MimeOnlyEmailBackend",
    }
    os.environ.update(bench_env)
    env = {
        **os.environ,
        **bench_env,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    safe_url = urlsplit(db_url)._replace(netloc=urlsplit(db_url).hostname or "").geturl()
    log(
        f"database {safe_url}, redis {redis_url}; {opts.gyms} gyms x {opts.bookings} bookings, "
        f"{opts.workers} {'threads' if opts.pool == 'threads' else 'worker processes'}, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )

    app = celery_bench_start(db_url, keep=opts.keep, env=env)

    if opts.keep and (dropped := gyms_drop(GYM_PREFIX)):
        log(f"--keep: dropped the {dropped} bench gyms of the last run")
    started = time.perf_counter()
    start = datetime.datetime.now(datetime.UTC)
    gyms, chosen = gyms_seed(opts, start)
    total = opts.gyms * opts.bookings
    log(
        f"seeded {len(gyms)} gyms x {opts.bookings} bookings in {time.perf_counter() - started:.1f}s "
        f"(zones {sorted({g.timezone for g in gyms})}); reminders wanted by {dict(chosen)}"
    )

    queues_clear(redis_url, list(QUEUES))
    log_path = Path(tempfile.gettempdir()) / f"bench_reminders_worker_{os.getpid()}.log"
    workers = Workers(opts.workers, opts.pool, env, log_path, name="reminders", queues=list(QUEUES))
    report: dict[str, Any] = {}
    try:
        ready = workers.wait(app)
        log(f"Celery worker up in {ready:.1f}s ({opts.pool}, {opts.workers}); queueing {len(gyms)} schedule tasks")
        first = dispatch_round(gyms, expected=total, timeout=opts.timeout)
        counts = notification_counts(gyms)
        log(f"first dispatch done in {first['wall_s']:.1f}s (recorded in {first['recorded_s']:.1f}s): {counts}")
        second = dispatch_round(gyms, expected=total, timeout=120)
        log(f"second dispatch done in {second['wall_s']:.1f}s: {second['recorded']}")
        counts_after = notification_counts(gyms)
        by_status: Counter[str] = Counter()
        by_channel: Counter[str] = Counter()
        for (status, channel), n in counts_after.items():
            by_status[status] += n
            if status == "sent":
                by_channel[channel] += n
        report = {
            "wall_s": first["wall_s"],
            "recorded_s": first["recorded_s"],
            "messages_per_s": by_status["sent"] / first["wall_s"] if first["wall_s"] else 0.0,
            "recorded": first["recorded"],
            "by_status": dict(by_status),
            "sent_by_channel": dict(by_channel),
            "wanted_by_channel": dict(chosen),
            "second_new": sum(second["recorded"].values()),
            "second_wall_s": second["wall_s"],
            "task_errors": first["errors"] + second["errors"],
            "worker_problems": workers.problems(),
        }
    finally:
        workers.stop()
        if opts.profile and report:
            report["profile"] = profile_one_gym(opts)
        queues_clear(redis_url, list(QUEUES))
        if not opts.keep:
            from django.db import connections

            connections.close_all()
            database_drop(db_url)

    st, ch = report["by_status"], report["sent_by_channel"]
    print()
    print(f"class reminders: {opts.gyms} gyms x {opts.bookings} bookings = {total} bookings")
    print(f"  workers                      {opts.workers} ({opts.pool}); console SMS/push, MIME-only email")
    print(f"  total time                   {report['wall_s']:.1f} s (recorded in {report['recorded_s']:.1f} s)")
    print(f"  messages per second          {report['messages_per_s']:.0f}")
    print(f"  recorded                     {report['recorded'].get('class_reminder', 0)} class reminders")
    print("  by status                    " + ", ".join(f"{k} {v}" for k, v in sorted(st.items())))
    print("  sent by channel              " + ", ".join(f"{k} {v}" for k, v in sorted(ch.items())))
    print("  wanted by channel            " + ", ".join(f"{k} {v}" for k, v in sorted(chosen.items())))
    print(
        f"  task errors                  {len(report['task_errors'])}; worker log problems: {len(report['worker_problems'])}"
    )
    print(f"second dispatch: {report['second_new']} new, in {report['second_wall_s']:.1f} s")
    checks = {
        "at_least_200_per_s": report["messages_per_s"] >= TARGET_PER_S,
        "one_reminder_per_booking": report["recorded"].get("class_reminder", 0) == total and sum(st.values()) == total,
        "all_sent": st.get("sent", 0) == total,
        "channels_as_chosen": ch == dict(chosen),
        "second_dispatch_nothing_new": report["second_new"] == 0,
        "no_task_errors": not report["task_errors"] and not report["worker_problems"],
    }
    if "profile" in report:
        for p in [report["profile"]]:
            print(
                f"profile: {p['messages']} reminders sent in this process, {p['ms_per_message']:.1f} ms "
                f"each (CPU {p['cpu_ms_per_message']:.1f} ms); SQL {p['sql_ms_per_message']:.1f} ms, rendering "
                f"{p['render_ms_per_message']:.1f} ms, building an email {p['email_build_ms_per_email']:.1f} ms; "
                "statements per message:"
            )
            for kind, n in p["statements_per_message"].items():
                print(f"  {kind:<40}{n:>7}")
    print()
    for name, ok in checks.items():
        print(f"{name:<32}{'PASS' if ok else 'FAIL'}")
    for problem in report["task_errors"] + report["worker_problems"]:
        print(f"problem: {problem}")
    overall = all(checks.values())
    print(f"overall: {'PASS' if overall else 'FAIL'}")
    from bench.results import checks as check_lines
    from bench.results import result as result_line

    result_line(
        "reminders",
        "per_s",
        report["messages_per_s"],
        "messages/s",
        target=TARGET_PER_S,
        op=">=",
        label=f"class reminders sent per second, {opts.gyms} gyms x {opts.bookings} bookings, {opts.workers} workers",
    )
    result_line("reminders", "wall", report["wall_s"], "s", label=f"time to send {total:,} reminders")
    check_lines("reminders", {k: v for k, v in checks.items() if k != "at_least_200_per_s"})
    result_line("reminders", "overall", None, passed=overall, label="every check")
    print(
        json.dumps(
            {
                "bench": "reminders",
                "gyms": opts.gyms,
                "bookings": opts.bookings,
                "workers": opts.workers,
                "pool": opts.pool,
                "cpus": os.cpu_count(),
                "load": round(os.getloadavg()[0], 2),
                **{k: round(v, 2) if isinstance(v, float) else v for k, v in report.items()},
                "checks": checks,
                "pass": overall,
            },
            default=str,
        )
    )
    if not overall:
        sys.exit(1)


if __name__ == "__main__":
    main()
