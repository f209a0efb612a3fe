#!/usr/bin/env python
"""How fast the members list answers with 10,000 members: `python bench/members.py`.

What it measures (against its own database, see "Database" below):

1. A gym ("bench-gym", host `bench-gym.localhost`) with `--members` (10,000) members,
   made by `apps.members.demo.demo_members_seed`: Faker names, emails, phones and
   addresses, the six usual plans, and memberships for most members in every status
   (active, frozen, past due, cancelled, expired; the rest have none). Rows are
   bulk-created; `VACUUM ANALYZE` runs afterwards, as autovacuum would on a live gym.
2. Requests through Django's test `Client` on the gym host, in this process, so the
   figure is Django + PostgreSQL without a network or WSGI server in between:
   - `GET /api/v1/members/`: the first page (50), a search `?q=`, a status filter and
     a current-plan filter, with a receptionist's bearer token;
   - `GET /members/`: the dashboard page, plain, with `?q=`, with a status filter and
     as the HTMX partial a search-as-you-type sends, logged in with `force_login`.
     (Skipped, and said so, if the page is not there.)
   Each is requested `--requests` times (50) after 3 untimed warm-ups; each sample is
   `time.perf_counter` around `client.get`. The search term is the first four letters
   of the last name of the member in the middle of the name order, so it matches a
   realistic handful of members.
   Target (issue 3): median < 100 ms for every request. p95 is printed beside it.

Database: default `postgres://postgres@127.0.0.1:5432/fitflow_bench`, overridden by
`BENCH_DATABASE_URL`. Dropped and recreated at start (`--keep` reuses the database and
the seeded gym); the script refuses to drop a database whose name lacks "bench".
`DATABASE_URL`, `DJANGO_SETTINGS_MODULE=fitflow.settings.local`, `DJANGO_DEBUG=0` (no
query logging, as in production), a high API throttle and a bench cache prefix are set
for this process and its subprocesses, so dev and test data are never touched.

Options: `--members N` (10000), `--requests N` (50), `--quick` (1,000 members, 20
requests), `--keep`. Prints a table of medians and p95s, PASS/FAIL per request and,
last, one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.provision import DEFAULT_DATABASE_URL, database_migrate, database_recreate, log  # noqa: E402

SETTINGS_MODULE = "fitflow.settings.local"
GYM_SLUG = "bench-gym"
STAFF_EMAIL = "desk@bench-gym.example"
TARGET_MS = 100.0
WARMUP = 3


def percentile_95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20, method="inclusive")[-1] if len(xs) >= 5 else max(xs)


def gym_seed(members: int) -> tuple[Any, Any]:
    """The bench gym with `members` members (created once; reused with --keep), and a
    receptionist there. Returns (gym, user)."""
    from django.db import connection
    from django_tenants.utils import tenant_context

    from apps.accounts.models import User
    from apps.members.demo import demo_members_seed
    from apps.members.models import Member
    from apps.staff.roles import Role
    from apps.staff.services import staff_role_assign
    from apps.tenants.models import Gym
    from apps.tenants.services import gym_provision, public_gym_ensure

    public_gym_ensure(domains=["localhost"])
    gym = Gym.objects.filter(slug=GYM_SLUG).first()
    if gym is None:
        gym = gym_provision(
            name="Bench Gym",
            slug=GYM_SLUG,
            timezone="Africa/Johannesburg",
            currency="ZAR",
            country="ZA",
            status=Gym.Status.ACTIVE,
        )
    user = User.objects.filter(email=STAFF_EMAIL).first() or User.objects.create_user(STAFF_EMAIL, "bench-password")
    with tenant_context(gym):
        have = Member.objects.count()
        if have == 0:
            started = time.perf_counter()
            demo_members_seed(count=members, seed=2026)
            log(f"seeded {members} members with plans and memberships in {time.perf_counter() - started:.1f}s")
            started = time.perf_counter()
            with connection.cursor() as cursor:
                for table in ("members_member", "memberships_membership", "plans_plan", "memberships_freeze"):
                    cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(table)}")
            log(f"VACUUM ANALYZE {time.perf_counter() - started:.1f}s")
        else:
            log(f"--keep: reusing {have} members")
        if not user.pk or not _has_role(user):
            staff_role_assign(user=user, role=Role.RECEPTIONIST)
    return gym, user


def _has_role(user: Any) -> bool:
    from apps.staff.models import StaffRole

    return StaffRole.objects.filter(user=user).exists()


def data_summary(gym: Any) -> dict[str, Any]:
    from django.db.models import Count
    from django_tenants.utils import tenant_context

    from apps.members.models import Member
    from apps.memberships.models import Membership
    from apps.plans.models import Plan

    with tenant_context(gym):
        statuses = dict(
            Membership.objects.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n")
        )
        middle = Member.objects.order_by("last_name", "first_name", "id")[Member.objects.count() // 2]
        busiest_plan = Plan.objects.annotate(n=Count("memberships")).order_by("-n").values_list("pk", "name").first()
        return {
            "members": Member.objects.count(),
            "memberships": sum(statuses.values()),
            "membership_statuses": statuses,
            "plans": Plan.objects.count(),
            "search": middle.last_name[:4].lower(),
            "plan_id": busiest_plan[0] if busiest_plan else None,
            "plan_name": busiest_plan[1] if busiest_plan else "",
        }


def time_requests(client: Any, url: str, params: dict[str, Any], n: int, **headers: str) -> dict[str, Any]:
    """`n` timed GETs after WARMUP untimed ones; also one request's query count and rows."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(WARMUP):
        response = client.get(url, params, **headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} {params} -> {response.status_code}: {response.content[:300]!r}")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params, **headers)
    sql = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith("SET search_path")]
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(url, params, **headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    rows = None
    if response.get("Content-Type", "").startswith("application/json"):
        rows = response.json().get("count")
    return {
        "median_ms": statistics.median(samples),
        "p95_ms": percentile_95(samples),
        "n": n,
        "queries": len(sql),
        "count": rows,
        "bytes": len(response.content),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=10_000, help="members in the bench gym (default 10000)")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per measurement (default 50)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,000 members, 20 requests")
    parser.add_argument("--keep", action="store_true", help="reuse the bench database and its gym")
    opts = parser.parse_args()
    if opts.quick:
        opts.members, opts.requests = 1_000, 20

    db_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    bench_env = {
        "DATABASE_URL": db_url,
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "DJANGO_DEBUG": "0",
        "API_THROTTLE_USER": "1000000/min",
        "CACHE_KEY_PREFIX": "fitflow-bench",
    }
    os.environ.update(bench_env)
    env = {**os.environ, **bench_env}
    safe_url = urlsplit(db_url)._replace(netloc=urlsplit(db_url).hostname or "").geturl()
    log(f"database {safe_url}, {opts.members} members, {opts.requests} requests each, {os.cpu_count()} CPUs")

    database_recreate(db_url, opts.keep)
    elapsed = database_migrate(env)
    log(f"migrated (public + template) {elapsed:.1f}s")

    import warnings

    import django

    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)  # whitenoise, no collectstatic
    django.setup()

    from django.test import Client
    from django_tenants.utils import tenant_context

    from apps.accounts.tokens import gym_refresh_token_for

    gym, user = gym_seed(opts.members)
    data = data_summary(gym)
    log(
        f"gym {GYM_SLUG}: {data['members']} members, {data['memberships']} memberships "
        f"{data['membership_statuses']}, {data['plans']} plans; search q={data['search']!r}"
    )
    host = gym.domains.get(is_primary=True).domain
    with tenant_context(gym):
        access = str(gym_refresh_token_for(user=user).access_token)
    api = Client(HTTP_HOST=host)
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {access}"}

    results: dict[str, dict[str, Any]] = {}
    api_cases = [
        ("API /api/v1/members/ (first page)", {}),
        (f"API /api/v1/members/?q={data['search']}", {"q": data["search"]}),
        ("API /api/v1/members/?status=inactive", {"status": "inactive"}),
        (f"API /api/v1/members/?plan={data['plan_id']} ({data['plan_name']})", {"plan": data["plan_id"]}),
    ]
    for name, params in api_cases:
        results[name] = time_requests(api, "/api/v1/members/", params, opts.requests, **bearer)
        log(f"{name}: median {results[name]['median_ms']:.1f} ms")

    page = Client(HTTP_HOST=host)
    page.force_login(user)
    probe = page.get("/members/")
    page_note = ""
    if probe.status_code == 200:
        page_cases = [
            ("page /members/", {}, {}),
            (f"page /members/?q={data['search']}", {"q": data["search"]}, {}),
            ("page /members/?status=inactive", {"status": "inactive"}, {}),
            (f"page /members/?q={data['search']} (HTMX partial)", {"q": data["search"]}, {"HTTP_HX_REQUEST": "true"}),
        ]
        for name, params, headers in page_cases:
            results[name] = time_requests(page, "/members/", params, opts.requests, **headers)
            log(f"{name}: median {results[name]['median_ms']:.1f} ms")
    else:
        page_note = f"the dashboard page /members/ answered {probe.status_code}; timed the API only"
        log(page_note)

    # --- report -----------------------------------------------------------------------------
    width = max(len(name) for name in results) + 2
    print()
    print(f"{'request':<{width}}{'n':>5}{'median':>11}{'p95':>11}{'queries':>9}{'rows':>7}  result")
    print("-" * (width + 56))
    all_pass = True
    for name, r in results.items():
        ok = r["median_ms"] < TARGET_MS
        all_pass &= ok
        rows = "" if r["count"] is None else str(r["count"])
        print(
            f"{name:<{width}}{r['n']:>5}{r['median_ms']:>8.1f} ms{r['p95_ms']:>8.1f} ms{r['queries']:>9}{rows:>7}  "
            f"{'PASS' if ok else 'FAIL'} (median < {TARGET_MS:.0f} ms)"
        )
    if page_note:
        print(f"note: {page_note}")
    print()
    print(f"overall: {'PASS' if all_pass else 'FAIL'}")
    from bench.results import result as result_line
    from bench.results import slug

    for name, r in results.items():
        result_line(
            "members",
            slug(name),
            r["median_ms"],
            "ms",
            target=TARGET_MS,
            op="<",
            label=f"{name}: median of {r['n']} (p95 {r['p95_ms']:.1f} ms, {r['queries']} queries), {data['members']:,} members",
        )
    result_line("members", "overall", None, passed=all_pass, label="every request's median under target")
    print(
        json.dumps(
            {
                "bench": "members",
                "members": data["members"],
                "memberships": data["memberships"],
                "requests_per_case": opts.requests,
                "target_median_ms": TARGET_MS,
                "results": {
                    name: {k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()}
                    for name, r in results.items()
                },
                "page_timed": not page_note,
                "pass": all_pass,
            }
        )
    )


if __name__ == "__main__":
    main()
