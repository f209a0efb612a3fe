#!/usr/bin/env python
"""Booking throughput and latency on one hot class session: `python bench/booking_contention.py`.

What it measures, in one run (against its own database, see "Database" below):

Setup: a gym ("bench-book", host `bench-book.localhost`) with `--members` (500)
members, each with a login and an active unlimited membership, and one hot session
per phase (capacity `--capacity`, 100; starting tomorrow, inside the booking window;
the phases' sessions do not overlap in time, so no booking clashes with another).
Every member books the phase's session once with `join_waitlist`: the first
`--capacity` are confirmed, the rest join the waitlist. After each phase the bench
checks the outcome: exactly `capacity` confirmed and waitlist positions 1..n with no
gap or repeat.

(a) Service: `apps.bookings.services.booking_create` called from `--threads` (8)
    threads, each with its own database connection (Django opens one per thread),
    inside `tenant_context(gym)`. -> bookings/s (all bookings / wall time) and the
    p50/p99 of one call.
(b) API: `POST /api/v1/bookings/` `{"session", "join_waitlist": true}` with each
    member's bearer token, from `--clients` (50) concurrent client threads
    (http.client, one connection each) against a real server started as a
    subprocess: gunicorn (`fitflow.wsgi`, sync workers; the production HTTP server,
    README "Deployment") and uvicorn (`fitflow.asgi`), each with `--workers` (2)
    processes. After a warm-up (GET schedule/, so every worker has imported
    everything and holds a database connection), every request is timed from send to
    the end of the response. -> bookings/s, p50 and p99 latency, status codes.
(c) Raw SQL: the same transaction written by hand with psycopg from `--threads`
    threads, one connection each: lock the session row (`SELECT ... FOR UPDATE`),
    count its spots taken and last waitlist position, insert the booking, commit.
    -> bookings/s. This is the floor: no membership, clash, credit or notification
    work, no ORM.

Targets (issue 4): API p99 <= 150 ms with 50 concurrent clients on one hot session
(judged on the production server, gunicorn; the uvicorn figures are printed beside
it), and service throughput >= 30 % of the raw-SQL baseline.

Database: default `postgres://postgres@127.0.0.1:5432/fitflow_bench_booking`,
overridden by `BENCH_DATABASE_URL`; dropped and recreated at start (the script
refuses to drop a database whose name lacks "bench"). `DATABASE_URL`,
`DJANGO_SETTINGS_MODULE=fitflow.settings.local`, `DJANGO_DEBUG=0`, a high API
throttle, 4-hour access tokens and a bench cache prefix are set for this process and
the servers, so dev and test data are never touched.

Options: `--members N` (500), `--capacity N` (100), `--threads N` (8), `--clients N`
(50), `--workers N` (2), `--gunicorn-threads N` (1 = sync workers; above 1 the
gthread worker class with N threads per worker), `--servers gunicorn,uvicorn`, `--quick` (200 members,
capacity 50, gunicorn only). Prints a table, PASS/FAIL per target and, last, one line
of JSON.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.provision import database_migrate, database_recreate, log  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/fitflow_bench_booking"
SETTINGS_MODULE = "fitflow.settings.local"
GYM_SLUG = "bench-book"
P99_TARGET_MS = 150.0
RATIO_TARGET = 0.30
WARMUP_REQUESTS = 40


def percentile(xs: list[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation."""
    if not xs:
        return float("nan")
    ordered = sorted(xs)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(latencies_ms: list[float], wall_s: float, n: int) -> dict[str, float]:
    return {
        "bookings": n,
        "wall_s": wall_s,
        "per_s": n / wall_s if wall_s else float("nan"),
        "p50_ms": percentile(latencies_ms, 50),
        "p99_ms": percentile(latencies_ms, 99),
        "max_ms": max(latencies_ms) if latencies_ms else float("nan"),
    }


# --- setup ----------------------------------------------------------------------------------


def gym_seed(members: int) -> tuple[Any, Any, list[Any]]:
    """The bench gym, an unlimited plan and `members` members with logins and active
    memberships (bulk-created). Returns (gym, plan, members)."""
    from django.db import connection
    from django.utils import timezone
    from django_tenants.utils import tenant_context

    from apps.accounts.models import User
    from apps.members.models import Member
    from apps.memberships.models import Membership
    from apps.plans.models import Plan
    from apps.tenants.models import Gym
    from apps.tenants.services import gym_provision, public_gym_ensure

    public_gym_ensure(domains=["localhost"])
    gym = gym_provision(
        name="Bench Bookings", slug=GYM_SLUG, timezone="Europe/London", currency="GBP", status=Gym.Status.ACTIVE
    )
    users = User.objects.bulk_create(User(email=f"m{i}@bench-book.example", password="!") for i in range(members))
    today = timezone.localdate()
    with tenant_context(gym):
        plan = Plan.objects.create(name="Unlimited", price="500.00", billing_period="monthly", class_credits=None)
        people = Member.objects.bulk_create(
            Member(first_name=f"Member{i}", last_name="Bench", email=u.email, user=u) for i, u in enumerate(users)
        )
        Membership.objects.bulk_create(
            Membership(
                member=m,
                plan=plan,
                status=Membership.Status.ACTIVE,
                start_date=today - datetime.timedelta(days=10),
                next_billing_date=today + datetime.timedelta(days=20),
                price=plan.price,
                billing_period="monthly",
                billing_interval=1,
                class_credits=None,
            )
            for m in people
        )
        with connection.cursor() as cursor:
            for table in ("members_member", "memberships_membership"):
                cursor.execute(f"VACUUM ANALYZE {table}")
    return gym, plan, people


def hot_session(gym: Any, *, name: str, capacity: int, slot: int) -> Any:
    """A scheduled session tomorrow at 06:00 UTC + 2 h per `slot` (no two overlap)."""
    from django.utils import timezone
    from django_tenants.utils import tenant_context

    from apps.classes.models import ClassSession, GymClass

    starts = (timezone.now() + datetime.timedelta(days=1)).replace(hour=6, minute=0, second=0, microsecond=0)
    starts += datetime.timedelta(hours=2 * slot)
    with tenant_context(gym):
        gym_class = GymClass.objects.create(name=name, capacity=capacity, duration_minutes=60, credits_required=1)
        return ClassSession.objects.create(
            gym_class=gym_class, starts_at=starts, ends_at=starts + datetime.timedelta(hours=1)
        )


def outcome(gym: Any, session: Any, capacity: int, expected: int) -> dict[str, Any]:
    """What the phase left in the session. `rules_held`: spots taken = min(capacity,
    bookings made) and waitlist positions 1..n with no gap or repeat; `complete`: one
    booking per request."""
    from django_tenants.utils import tenant_context

    from apps.bookings.models import Booking

    with tenant_context(gym):
        rows = list(Booking.objects.filter(session_id=session.pk).values_list("status", "waitlist_position"))
    confirmed = sum(1 for s, _ in rows if s == "confirmed")
    positions = sorted(p or 0 for s, p in rows if s == "waitlisted")
    held = confirmed == min(capacity, len(rows)) and positions == list(range(1, len(positions) + 1))
    return {
        "rows": len(rows),
        "confirmed": confirmed,
        "waitlisted": len(positions),
        "rules_held": held,
        "complete": len(rows) == expected,
    }


# --- (a) the service ----------------------------------------------------------------------------


def run_service(gym: Any, session: Any, members: list[Any], threads: int) -> dict[str, Any]:
    from django.db import connection
    from django_tenants.utils import tenant_context

    from apps.bookings.errors import BookingError
    from apps.bookings.services import booking_create

    work: queue.Queue[Any] = queue.Queue()
    for m in members:
        work.put(m)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(threads + 1)

    def worker() -> None:
        with tenant_context(gym):
            connection.ensure_connection()
            ready.wait()
            mine = []
            while True:
                try:
                    member = work.get_nowait()
                except queue.Empty:
                    break
                started = time.perf_counter()
                try:
                    booking_create(member=member, session=session, join_waitlist=True)
                except BookingError as exc:
                    with lock:
                        errors.append(exc.code)
                mine.append((time.perf_counter() - started) * 1000)
        connection.close()
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    ready.wait()
    started = time.perf_counter()
    for t in pool:
        t.join()
    wall = time.perf_counter() - started
    return {**summary(latencies, wall, len(members)), "errors": len(errors)}


# --- (c) raw SQL --------------------------------------------------------------------------------

RAW_LOCK = """
SELECT COALESCE(s.capacity_override, c.capacity)
FROM classes_classsession s JOIN classes_gymclass c ON c.id = s.gym_class_id
WHERE s.id = %s FOR UPDATE OF s
"""
RAW_COUNT = """
SELECT count(*) FILTER (WHERE status IN ('confirmed', 'attended', 'no_show')),
       COALESCE(max(waitlist_position) FILTER (WHERE status = 'waitlisted'), 0)
FROM bookings_booking WHERE session_id = %s
"""
RAW_INSERT = """
INSERT INTO bookings_booking (member_id, session_id, membership_id, status, waitlist_position, credits_spent,
                              booked_by_id, created_at, confirmed_at, cancelled_at, cancel_reason,
                              attendance_marked_at)
VALUES (%s, %s, NULL, %s, %s, 0, NULL, now(), %s, NULL, '', NULL)
"""


def run_raw(db_url: str, schema: str, session_id: int, member_ids: list[int], threads: int) -> dict[str, Any]:
    import psycopg

    work: queue.Queue[int] = queue.Queue()
    for pk in member_ids:
        work.put(pk)
    latencies: list[float] = []
    lock = threading.Lock()
    ready = threading.Barrier(threads + 1)

    def worker() -> None:
        mine = []
        with psycopg.connect(db_url) as conn:
            conn.execute(f'SET search_path = "{schema}", public')
            conn.commit()
            ready.wait()
            while True:
                try:
                    member_id = work.get_nowait()
                except queue.Empty:
                    break
                started = time.perf_counter()
                with conn.transaction():
                    capacity = conn.execute(RAW_LOCK, [session_id]).fetchone()[0]  # type: ignore[index]
                    taken, last = conn.execute(RAW_COUNT, [session_id]).fetchone()  # type: ignore[misc]
                    if taken < capacity:
                        conn.execute(
                            RAW_INSERT, [member_id, session_id, "confirmed", None, datetime.datetime.now(datetime.UTC)]
                        )
                    else:
                        conn.execute(RAW_INSERT, [member_id, session_id, "waitlisted", last + 1, None])
                mine.append((time.perf_counter() - started) * 1000)
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    ready.wait()
    started = time.perf_counter()
    for t in pool:
        t.join()
    wall = time.perf_counter() - started
    return summary(latencies, wall, len(member_ids))


# --- (b) the API through a real server ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_start(kind: str, port: int, workers: int, env: dict[str, str], threads: int = 1) -> subprocess.Popen:
    if kind == "gunicorn":
        cmd = [
            str(Path(sys.executable).parent / "gunicorn"),
            "fitflow.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--timeout",
            "60",
            "--backlog",
            "256",
        ]
        if threads > 1:  # gthread workers: `threads` requests at once per process
            cmd += ["--worker-class", "gthread", "--threads", str(threads)]
    else:
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "fitflow.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--lifespan",
            "off",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
    return subprocess.Popen(cmd, cwd=ROOT, env=env)


def request(conn: http.client.HTTPConnection, method: str, path: str, host: str, token: str, body: Any = None) -> int:
    headers = {"Host": host, "Authorization": f"Bearer {token}", "Accept": "application/json"}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=payload, headers=headers)
    response = conn.getresponse()
    response.read()
    if response.will_close:
        conn.close()
    return response.status


def server_wait(port: int, host: str, token: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server exited at start")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            if request(conn, "GET", "/api/v1/me/", host, token) == 200:
                conn.close()
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer within {timeout:.0f} s")


def server_stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=20)


def run_api(
    kind: str,
    *,
    session_id: int,
    host: str,
    tokens: list[str],
    clients: int,
    workers: int,
    env: dict[str, str],
    threads: int = 1,
) -> dict[str, Any]:
    port = free_port()
    proc = server_start(kind, port, workers, env, threads)
    try:
        server_wait(port, host, tokens[0], proc)

        def warm(i: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            request(conn, "GET", "/api/v1/schedule/", host, tokens[i % len(tokens)])
            conn.close()

        warmers = [threading.Thread(target=warm, args=(i,)) for i in range(WARMUP_REQUESTS)]
        for t in warmers:
            t.start()
        for t in warmers:
            t.join()

        work: queue.Queue[str] = queue.Queue()
        for token in tokens:
            work.put(token)
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        lock = threading.Lock()
        ready = threading.Barrier(clients + 1)
        body = {"session": session_id, "join_waitlist": True}

        def client() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            mine: list[float] = []
            codes: list[int] = []
            ready.wait()
            while True:
                try:
                    token = work.get_nowait()
                except queue.Empty:
                    break
                started = time.perf_counter()
                try:
                    code = request(conn, "POST", "/api/v1/bookings/", host, token, body)
                except (OSError, http.client.HTTPException):
                    conn.close()
                    code = 0
                mine.append((time.perf_counter() - started) * 1000)
                codes.append(code)
            conn.close()
            with lock:
                latencies.extend(mine)
                for c in codes:
                    statuses[c] = statuses.get(c, 0) + 1

        pool = [threading.Thread(target=client) for _ in range(clients)]
        for t in pool:
            t.start()
        ready.wait()
        started = time.perf_counter()
        for t in pool:
            t.join()
        wall = time.perf_counter() - started
    finally:
        server_stop(proc)
    return {**summary(latencies, wall, len(tokens)), "statuses": {str(k): v for k, v in sorted(statuses.items())}}


# --- main ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=500, help="members, each booking once per phase (500)")
    parser.add_argument("--capacity", type=int, default=100, help="spots in each hot session (100)")
    parser.add_argument("--threads", type=int, default=8, help="threads for the service and raw-SQL phases (8)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent API clients (50)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (2)")
    parser.add_argument(
        "--gunicorn-threads",
        type=int,
        default=1,
        help="threads per gunicorn worker; above 1 uses the gthread worker class (1: sync workers)",
    )
    parser.add_argument("--servers", default="gunicorn,uvicorn", help="servers for the API phase, in order")
    parser.add_argument(
        "--sweep",
        default="1,10,25",
        help="also run the first server with these client counts, to show latency against concurrency ('' = none)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 200 members, capacity 50, gunicorn only")
    opts = parser.parse_args()
    if opts.quick:
        opts.members, opts.capacity, opts.servers, opts.sweep = 200, 50, "gunicorn", ""
    servers = [s.strip() for s in opts.servers.split(",") if s.strip()]
    sweep = [int(n) for n in opts.sweep.split(",") if n.strip()]
    for s in servers:
        if s not in ("gunicorn", "uvicorn"):
            sys.exit(f"bench: unknown server {s!r} (gunicorn or uvicorn)")

    db_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    bench_env = {
        "DATABASE_URL": db_url,
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "DJANGO_DEBUG": "0",
        "API_THROTTLE_USER": "1000000/min",
        "API_THROTTLE_ANON": "1000000/min",
        "JWT_ACCESS_MINUTES": "240",
        "CACHE_KEY_PREFIX": "fitflow-bench-booking",
    }
    os.environ.update(bench_env)
    env = {**os.environ, **bench_env}
    safe_url = urlsplit(db_url)._replace(netloc=urlsplit(db_url).hostname or "").geturl()
    log(
        f"database {safe_url}; {opts.members} members, capacity {opts.capacity}, {opts.threads} threads, "
        f"{opts.clients} API clients, {opts.workers} server workers ({opts.gunicorn_threads} gunicorn threads each), "
        f"{os.cpu_count()} CPUs"
    )

    database_recreate(db_url, keep=False)
    elapsed = database_migrate(env)
    log(f"migrated (public + template) {elapsed:.1f}s")

    import warnings

    import django

    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)  # whitenoise, no collectstatic
    django.setup()

    from django.db import connection
    from django_tenants.utils import tenant_context

    from apps.accounts.tokens import gym_refresh_token_for

    started = time.perf_counter()
    gym, _plan, members = gym_seed(opts.members)
    with tenant_context(gym):
        tokens = [str(gym_refresh_token_for(user=m.user).access_token) for m in members]
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    host = gym.domains.get(is_primary=True).domain
    log(
        f"seeded gym {GYM_SLUG} with {len(members)} members, logins, memberships and tokens in "
        f"{time.perf_counter() - started:.1f}s"
    )

    results: dict[str, dict[str, Any]] = {}
    slot = 0

    session = hot_session(gym, name="Hot: service", capacity=opts.capacity, slot=slot)
    results["service"] = run_service(gym, session, members, opts.threads)
    results["service"]["outcome"] = outcome(gym, session, opts.capacity, len(members))
    log(f"(a) service: {results['service']['per_s']:.0f} bookings/s, {results['service']['outcome']}")

    def api_phase(kind: str, clients: int, name: str) -> None:
        nonlocal slot
        slot += 1
        session = hot_session(gym, name=f"Hot: {name}", capacity=opts.capacity, slot=slot)
        connection.close()  # the server's connections are the ones that matter now
        # Django under ASGI runs sync views in a thread pool, and persistent connections
        # would pile up one per thread (Django's docs: disable them under ASGI).
        server_env = env if kind == "gunicorn" else {**env, "CONN_MAX_AGE": "0"}
        r = run_api(
            kind,
            session_id=session.pk,
            host=host,
            tokens=tokens,
            clients=clients,
            workers=opts.workers,
            env=server_env,
            threads=opts.gunicorn_threads if kind == "gunicorn" else 1,
        )
        r["clients"] = clients
        r["outcome"] = outcome(gym, session, opts.capacity, len(members))
        results[name] = r
        log(
            f"(b) API via {kind}, {clients} clients: {r['per_s']:.0f} bookings/s, p50 {r['p50_ms']:.1f} ms, "
            f"p99 {r['p99_ms']:.1f} ms, statuses {r['statuses']}, {r['outcome']}"
        )

    for kind in servers:
        api_phase(kind, opts.clients, f"api_{kind}")
    for clients in sweep:
        if servers and clients != opts.clients:
            api_phase(servers[0], clients, f"api_{servers[0]}_{clients}_clients")

    slot += 1
    session = hot_session(gym, name="Hot: raw SQL", capacity=opts.capacity, slot=slot)
    results["raw_sql"] = run_raw(db_url, gym.schema_name, session.pk, [m.pk for m in members], opts.threads)
    results["raw_sql"]["outcome"] = outcome(gym, session, opts.capacity, len(members))
    log(f"(c) raw SQL: {results['raw_sql']['per_s']:.0f} bookings/s, {results['raw_sql']['outcome']}")

    # --- report -----------------------------------------------------------------------------------
    print()
    print(f"{'phase':<26}{'bookings/s':>12}{'p50':>11}{'p99':>11}{'max':>11}  outcome")
    print("-" * 100)
    for name, r in results.items():
        o = r["outcome"]
        extra = f"  statuses {r['statuses']}" if "statuses" in r else ""
        print(
            f"{name:<26}{r['per_s']:>12.0f}{r['p50_ms']:>8.1f} ms{r['p99_ms']:>8.1f} ms{r['max_ms']:>8.1f} ms  "
            f"{o['confirmed']} confirmed, {o['waitlisted']} waitlisted, rules {'held' if o['rules_held'] else 'BROKEN'}"
            f"{extra}"
        )
    ratio = results["service"]["per_s"] / results["raw_sql"]["per_s"]
    judged = f"api_{servers[0]}" if servers else None
    checks: dict[str, bool] = {"service_vs_raw": ratio >= RATIO_TARGET}
    print()
    print(
        f"service / raw SQL = {ratio:.0%} (target >= {RATIO_TARGET:.0%}): "
        f"{'PASS' if checks['service_vs_raw'] else 'FAIL'}"
    )
    if judged:
        p99 = results[judged]["p99_ms"]
        checks["api_p99"] = p99 <= P99_TARGET_MS
        print(
            f"API p99 via {judged.removeprefix('api_')} with {opts.clients} clients = {p99:.1f} ms "
            f"(target <= {P99_TARGET_MS:.0f} ms): {'PASS' if checks['api_p99'] else 'FAIL'}"
        )
        for name, r in results.items():
            if name.startswith("api_") and name != judged:
                print(f"  for comparison, {name}: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms")
        per_s = results[judged]["per_s"]
        print(
            f"  Little's law: {opts.clients} clients / {per_s:.0f} bookings/s = {opts.clients / per_s * 1000:.0f} ms "
            f"mean latency; a p99 <= {P99_TARGET_MS:.0f} ms at {opts.clients} clients needs "
            f">= {opts.clients / P99_TARGET_MS * 1000:.0f} bookings/s on one session"
        )
    checks["rules_held"] = all(r["outcome"]["rules_held"] for r in results.values())
    checks["every_booking_made"] = all(r["outcome"]["complete"] for r in results.values())
    checks["api_all_201"] = all(set(r["statuses"]) == {"201"} for name, r in results.items() if name.startswith("api_"))
    print(f"capacity and waitlist rules held in every phase: {'PASS' if checks['rules_held'] else 'FAIL'}")
    print(f"one booking per request in every phase: {'PASS' if checks['every_booking_made'] else 'FAIL'}")
    print(f"every API request answered 201: {'PASS' if checks['api_all_201'] else 'FAIL'}")
    overall = all(checks.values())
    print(f"overall: {'PASS' if overall else 'FAIL'}")
    from bench.results import checks as check_lines
    from bench.results import result as result_line

    result_line(
        "booking_contention",
        "service_vs_raw",
        ratio * 100,
        "%",
        target=RATIO_TARGET * 100,
        op=">=",
        label=f"booking_create throughput as a share of raw SQL ({opts.threads} threads)",
    )
    if judged:
        result_line(
            "booking_contention",
            "api_p99",
            results[judged]["p99_ms"],
            "ms",
            target=P99_TARGET_MS,
            op="<=",
            label=f"POST /api/v1/bookings/ p99 via {judged.removeprefix('api_')}, {opts.clients} clients",
        )
        result_line(
            "booking_contention",
            "api_per_s",
            results[judged]["per_s"],
            "bookings/s",
            label=f"API bookings per second via {judged.removeprefix('api_')}",
        )
    labels = {
        "rules_held": "capacity and waitlist rules held in every phase",
        "every_booking_made": "one booking per request in every phase",
        "api_all_201": "every API request answered 201",
    }
    check_lines(
        "booking_contention", {k: v for k, v in checks.items() if k not in ("service_vs_raw", "api_p99")}, labels
    )
    result_line("booking_contention", "overall", None, passed=overall, label="every check")
    print(
        json.dumps(
            {
                "bench": "booking_contention",
                "members": opts.members,
                "capacity": opts.capacity,
                "threads": opts.threads,
                "clients": opts.clients,
                "server_workers": opts.workers,
                "gunicorn_threads": opts.gunicorn_threads,
                "cpus": os.cpu_count(),
                "results": {
                    name: {k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()}
                    for name, r in results.items()
                },
                "service_vs_raw": round(ratio, 3),
                "targets": {"service_vs_raw_min": RATIO_TARGET, "api_p99_max_ms": P99_TARGET_MS, "judged": judged},
                "checks": checks,
                "pass": overall,
            }
        )
    )


if __name__ == "__main__":
    main()
