#!/usr/bin/env python
"""Recurring billing at scale through real Celery workers: `python bench/billing_run.py`
(issue 6; `make bench BENCH=billing_run`).

Setup (its own database and Redis queues, see below): `--gyms` (20) gyms provisioned
with `gym_provision` (a clone of the template schema), each with a Stripe Connect
account (`stripe_account_id`, `stripe_charges_enabled`), a monthly plan (450.00, 15% VAT
included) and `--members` (1000) members on it, every membership active and due on the
bench's billing day (`next_billing_date` = that day). Members have a saved card: a
customer on the gym's account with a saved copy of Stripe's test card `pm_card_visa`,
or, for `--declined` (3%) of them, of `pm_card_chargeDeclined`; `--no-card` (5%) have
none (their invoices stay open for payment by hand). Rows go in with bulk_create.

Stripe: the fake Stripe API (`apps/invoices/tests/fake_stripe.py`, a real HTTP server)
in its own process with `--latency-ms` (30) added to every answer. The bench starts it
through this script's `fake-stripe` mode, which registers the gyms' accounts, customers
and saved cards with the fake's own test controls (`FakeStripe.saved_card`) before it
serves, so setup costs no HTTP round trips. Workers reach it through STRIPE_API_BASE.

The run: `--workers` (4) Celery worker processes (`celery -A fitflow worker -Q celery`,
prefork, prefetch 1; `--pool threads` runs one process with `--workers` threads) are
started and pinged; then `apps.invoices.tasks.billing_run_task` is queued for every gym
(`headers={"_schema_name": schema}`, `today` = the billing day), and the bench waits for
every result. Timed from the first task queued to the last result. Printed:
memberships billed per second, total time, invoices created, charges succeeded and
failed, invoices left open for payment by hand, and the `documents` queue backlog
(the PDF and email tasks each issued invoice queues on commit; no worker consumes that
queue here: they are not part of billing). Then the same tasks run a second time, which
must create 0 invoices and charge nothing ("second run: 0 new invoices").

Checks (printed PASS/FAIL): the whole billing run under `TARGET_S` (120 s, the issue's
target on this 2-core machine); one invoice per membership; the second run created no
invoice; no card was charged twice: the fake's PaymentIntents (from its
`payment_intent.*` events, listed per account through `GET /v1/events`) match the
Payment rows one to one, and no invoice has more than one succeeded payment or more
than one PaymentIntent.

`--profile`: afterwards, one more gym of `--profile-members` (200) is billed in this
process (the same `billing_run` the task calls) with every SQL statement counted and
timed, and the Stripe calls timed, to show where a membership's time goes.

Database: default `postgres://postgres@127.0.0.1:5432/fitflow_bench_billing`, overridden
by `BENCH_DATABASE_URL`; dropped and recreated at start (`--keep` reuses it; the script
refuses to drop a database whose name lacks "bench") and dropped at the end unless
`--keep`. Redis: `BENCH_REDIS_URL`, else REDIS_URL with database 9, else
redis://127.0.0.1:6379/9; the bench empties its queues (`celery`, `documents`) before
and after. `DJANGO_SETTINGS_MODULE=fitflow.settings.local`, `DJANGO_DEBUG=0` and a bench
cache prefix are set for this process and the workers, so dev and test data are never
touched.

Options: `--gyms N`, `--members N`, `--workers N`, `--pool prefork|threads`,
`--latency-ms MS`, `--declined SHARE`, `--no-card SHARE`, `--profile` (`--cprofile N`
prints cProfile's top N functions of the profiled run's main thread), `--keep`,
`--quick` (5 gyms x 200 members, 2 workers). Prints the figures, PASS/FAIL per check
and, last, one line of JSON.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import json
import os
import pstats
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/fitflow_bench_billing"
SETTINGS_MODULE = "fitflow.settings.local"
GYM_PREFIX = "bench-bill-"
PRICE = "450.00"
TARGET_S = 120.0
QUEUES = ("celery", "documents")
CARD_OK, CARD_DECLINED = "pm_card_visa", "pm_card_chargeDeclined"
SECRET_KEY = "sk_test_fake"


# --- the fake Stripe process ------------------------------------------------------------------------------


def fake_stripe_main(argv: list[str]) -> None:
    """`billing_run.py fake-stripe --latency-ms N`: read {"account": ["pm_card_visa", ...]}
    (one card per member) as JSON on stdin, register each account and a customer with a
    saved copy of each card (`FakeStripe.saved_card`), print one JSON line
    {"url": ..., "cards": {"account": [[customer id, payment method id], ...]}}, then
    serve until SIGTERM."""
    parser = argparse.ArgumentParser(prog="billing_run.py fake-stripe")
    parser.add_argument("--latency-ms", type=float, default=30)
    args = parser.parse_args(argv)
    from apps.invoices.tests.fake_stripe import FakeStripe

    wanted: dict[str, list[str]] = json.loads(sys.stdin.readline())
    fake = FakeStripe(latency_ms=args.latency_ms, record_requests=False)
    cards = {}
    for account, kinds in wanted.items():
        fake.add_account(account, country="GB")
        cards[account] = [fake.saved_card(account=account, card=kind) for kind in kinds]
    fake.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print(json.dumps({"url": fake.url, "cards": cards}), flush=True)
    done.wait()
    fake.stop()


class FakeStripeProcess:
    """The fake Stripe server in a subprocess (see `fake_stripe_main`)."""

    def __init__(self, cards: dict[str, list[str]], latency_ms: float, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "fake-stripe", f"--latency-ms={latency_ms}"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cards) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the fake Stripe server did not start")
        answer = json.loads(line)
        self.url: str = answer["url"]
        self.cards: dict[str, list[list[str]]] = answer["cards"]

    def get(self, path: str, account: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 (the local fake's http URL)
            f"{self.url}{path}?{urllib.parse.urlencode(params)}",
            headers={"Authorization": f"Bearer {SECRET_KEY}", "Stripe-Account": account},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (the local fake)
            return dict(json.loads(response.read()))

    def payment_intents(self, account: str) -> list[dict[str, Any]]:
        """The PaymentIntents created on `account`, from their `payment_intent.succeeded`
        and `payment_intent.payment_failed` events (one each per PaymentIntent: an
        idempotent replay creates nothing and records no event)."""
        found, after = [], ""
        while True:
            params = [
                ("limit", "100"),
                ("types[0]", "payment_intent.succeeded"),
                ("types[1]", "payment_intent.payment_failed"),
            ]
            if after:
                params.append(("starting_after", after))
            page = self.get("/v1/events", account, params)
            found += [{"type": e["type"], **e["data"]["object"]} for e in page["data"]]
            if not page["has_more"] or not page["data"]:
                return found
            after = page["data"][-1]["id"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# --- setup ---------------------------------------------------------------------------------------------


def gyms_seed(opts: argparse.Namespace, day: datetime.date, *, prefix: str = GYM_PREFIX) -> list[Any]:
    """`opts.gyms` gyms with a monthly plan and `opts.members` members due on `day`.
    Returns the gyms; card kinds per member are decided in `cards_plan`."""
    from django.db import connection
    from django_tenants.utils import tenant_context

    from apps.members.models import Member
    from apps.memberships.models import Membership
    from apps.plans.models import Plan
    from apps.tenants.models import Gym
    from apps.tenants.services import gym_provision, public_gym_ensure

    public_gym_ensure(domains=["localhost"])
    gyms = []
    for g in range(opts.gyms):
        gym = gym_provision(
            name=f"Bench Billing {g}",
            slug=f"{prefix}{g}",
            timezone="Europe/London",
            currency="GBP",
            country="GB",
            status=Gym.Status.ACTIVE,
        )
        Gym.objects.filter(pk=gym.pk).update(
            stripe_account_id=f"acct_benchbilling{g:04d}", stripe_charges_enabled=True, legal_name=gym.name
        )
        gym.refresh_from_db()
        with tenant_context(gym):
            plan = Plan.objects.create(
                name="Monthly",
                kind=Plan.Kind.RECURRING,
                price=PRICE,
                billing_period="monthly",
                tax_rate="15.00",
                price_includes_tax=True,
            )
            members = Member.objects.bulk_create(
                (
                    Member(first_name=f"Member{i}", last_name=f"Gym{g}", email=f"m{i}@gym{g}.bench.example")
                    for i in range(opts.members)
                ),
                batch_size=1000,
            )
            Membership.objects.bulk_create(
                (
                    Membership(
                        member=m,
                        plan=plan,
                        status=Membership.Status.ACTIVE,
                        start_date=day - datetime.timedelta(days=30),
                        next_billing_date=day,
                        price=plan.price,
                        billing_period="monthly",
                        billing_interval=1,
                    )
                    for m in members
                ),
                batch_size=1000,
            )
        gyms.append(gym)
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    return gyms


def cards_plan(opts: argparse.Namespace, gyms: list[Any]) -> dict[str, list[str | None]]:
    """Per gym account, one entry per member (in id order): the test card saved, or None."""
    rng = random.Random(2026)  # noqa: S311 (bench data)
    plan: dict[str, list[str | None]] = {}
    for gym in gyms:
        kinds: list[str | None] = []
        for _ in range(opts.members):
            roll = rng.random()
            kinds.append(
                None if roll < opts.no_card else CARD_DECLINED if roll < opts.no_card + opts.declined else CARD_OK
            )
        plan[gym.stripe_account_id] = kinds
    return plan


def customers_write(gyms: list[Any], plan: dict[str, list[str | None]], cards: dict[str, list[list[str]]]) -> None:
    """The StripeCustomer rows: each member with a card gets its customer and saved card."""
    from django.db import connection
    from django_tenants.utils import tenant_context

    from apps.invoices.models import StripeCustomer
    from apps.members.models import Member

    for gym in gyms:
        with tenant_context(gym):
            member_ids = list(Member.objects.order_by("pk").values_list("pk", flat=True))
            saved = iter(cards[gym.stripe_account_id])
            rows = []
            for member_id, kind in zip(member_ids, plan[gym.stripe_account_id], strict=True):
                if kind is None:
                    continue
                customer, pm = next(saved)
                rows.append(
                    StripeCustomer(
                        member_id=member_id,
                        customer_id=customer,
                        payment_method_id=pm,
                        card_brand="visa",
                        card_last4="0002" if kind == CARD_DECLINED else "4242",
                        card_exp_month=12,
                        card_exp_year=2030,
                    )
                )
            StripeCustomer.objects.bulk_create(rows, batch_size=1000)
            with connection.cursor() as cursor:
                for table in ("members_member", "memberships_membership", "invoices_stripecustomer"):
                    cursor.execute(f"ANALYZE {table}")
    connection.set_schema_to_public()  # type: ignore[attr-defined]


# --- the run -----------------------------------------------------------------------------------------------


def queue_length(redis_url: str, name: str) -> int:
    import redis

    return int(redis.Redis.from_url(redis_url).llen(name))


def billing_round(gyms: list[Any], day: datetime.date, timeout: float) -> tuple[float, list[dict[str, int]]]:
    """Queue `billing_run_task` for every gym and wait for all of them. Returns (seconds
    from the first task queued to the last result, the tasks' results)."""
    from apps.invoices.tasks import billing_run_task

    started = time.perf_counter()
    pending = [
        billing_run_task.apply_async(
            args=[gym.pk], kwargs={"today": day.isoformat()}, headers={"_schema_name": gym.schema_name}
        )
        for gym in gyms
    ]
    results = [r.get(timeout=timeout) for r in pending]
    wall = time.perf_counter() - started
    for r in pending:
        r.forget()  # no result keys left behind in Redis
    return wall, results


# --- what the database says --------------------------------------------------------------------------


def db_state(gyms: list[Any]) -> dict[str, Any]:
    """Invoices and payments across the gyms: counts, per-invoice duplicates, PaymentIntent ids."""
    from django.db import connection
    from django.db.models import Count
    from django_tenants.utils import tenant_context

    from apps.invoices.models import Invoice, Payment
    from apps.memberships.models import Membership

    state: dict[str, Any] = Counter()
    intents: dict[str, set[str]] = {}
    for gym in gyms:
        with tenant_context(gym):
            state["invoices"] += Invoice.objects.count()
            state["invoices_open"] += Invoice.objects.filter(status="open").count()
            state["invoices_paid"] += Invoice.objects.filter(status="paid").count()
            state["memberships_with_two_invoices"] += (
                Invoice.objects.values("membership_id").annotate(n=Count("id")).filter(n__gt=1).count()
            )
            state["invoices_with_two_successes"] += (
                Payment.objects.filter(status="succeeded")
                .values("invoice_id")
                .annotate(n=Count("id"))
                .filter(n__gt=1)
                .count()
            )
            by_status = Counter(Payment.objects.filter(method="stripe").values_list("status", flat=True))
            state["payments_succeeded"] += by_status["succeeded"]
            state["payments_failed"] += by_status["failed"]
            state["payments_pending"] += by_status["pending"]
            state["past_due"] += Membership.objects.filter(status="past_due").count()
            intents[gym.stripe_account_id] = {
                pi for pi in Payment.objects.values_list("stripe_payment_intent_id", flat=True) if pi is not None
            }
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    return {**state, "intents": intents}


def stripe_state(fake: FakeStripeProcess, gyms: list[Any]) -> dict[str, Any]:
    """The fake's PaymentIntents per account: how many, succeeded / failed, per invoice."""
    out: dict[str, Any] = {"intents": {}, "succeeded": 0, "failed": 0, "invoices_with_two_intents": 0}
    for gym in gyms:
        pis = fake.payment_intents(gym.stripe_account_id)
        out["intents"][gym.stripe_account_id] = {pi["id"] for pi in pis}
        out["succeeded"] += sum(1 for pi in pis if pi["type"] == "payment_intent.succeeded")
        out["failed"] += sum(1 for pi in pis if pi["type"] == "payment_intent.payment_failed")
        per_invoice = Counter(pi["metadata"].get("invoice_id") for pi in pis)
        out["invoices_with_two_intents"] += sum(1 for n in per_invoice.values() if n > 1)
    return out


# --- profile ---------------------------------------------------------------------------------------------


def profile_one_gym(opts: argparse.Namespace, day: datetime.date, fake: FakeStripeProcess) -> dict[str, Any]:
    """Bill one more gym in this process with every statement and Stripe call timed."""
    from django.db import connection
    from django.utils import timezone
    from django_tenants.utils import tenant_context

    from apps.invoices import stripe_api
    from apps.invoices.services import billing_run
    from apps.tenants.dispatch import gym_tzinfo

    one = argparse.Namespace(**{**vars(opts), "gyms": 1, "members": opts.profile_members})
    (gym,) = gyms_seed(one, day, prefix=f"{GYM_PREFIX}profile-")
    plan = cards_plan(one, [gym])
    # The profile gym's customers are made on the running fake through the gateway.
    cards: dict[str, list[list[str]]] = {gym.stripe_account_id: []}
    with tenant_context(gym):
        for kind in plan[gym.stripe_account_id]:
            if kind is None:
                continue
            customer = stripe_api.customer_create(
                account=gym.stripe_account_id, email="m@bench.example", name="M", metadata={}, idempotency_key=""
            )
            cards[gym.stripe_account_id].append([customer, kind])
    customers_write([gym], plan, cards)

    kinds: Counter[str] = Counter()
    seconds: dict[str, float] = {"sql": 0.0, "stripe": 0.0}

    def counted(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        verb = sql.lstrip().split(None, 1)[0].upper()
        kind = "SET search_path" if sql.startswith("SET search_path") else verb
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            kinds[kind] += 1
            seconds["sql"] += time.perf_counter() - t0

    real_charge = stripe_api.payment_intent_charge

    def timed_charge(**kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return real_charge(**kwargs)
        finally:
            seconds["stripe"] += time.perf_counter() - t0
            kinds["stripe charges"] += 1

    stripe_api.payment_intent_charge = timed_charge  # type: ignore[assignment]
    try:
        with tenant_context(gym), timezone.override(gym_tzinfo(gym)), connection.execute_wrapper(counted):
            profiler = cProfile.Profile() if opts.cprofile else None
            t0, c0 = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            result = billing_run(today=day)
            if profiler:
                profiler.disable()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        stripe_api.payment_intent_charge = real_charge  # type: ignore[assignment]
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    if profiler:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(opts.cprofile)
    n = max(result.invoiced, 1)
    return {
        "members": opts.profile_members,
        "invoiced": result.invoiced,
        "wall_s": wall,
        "cpu_s": cpu,
        "ms_per_membership": wall / n * 1000,
        "sql_s": seconds["sql"],
        "stripe_s": seconds["stripe"],
        "statements_per_membership": {k: round(v / n, 2) for k, v in kinds.most_common()},
        "statements_total_per_membership": round(sum(v for k, v in kinds.items() if k != "stripe charges") / n, 1),
    }


# --- main --------------------------------------------------------------------------------------------------


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "fake-stripe":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
        fake_stripe_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    celery_bench_arguments(parser, per_gym="members", per_gym_default=1000, profiled="billing")
    parser.add_argument("--latency-ms", type=float, default=30, help="the fake Stripe's latency per answer (30)")
    parser.add_argument("--declined", type=float, default=0.03, help="share of members whose card declines (0.03)")
    parser.add_argument("--no-card", type=float, default=0.05, help="share of members with no saved card (0.05)")
    opts = parser.parse_args()
    opts.profile_members = opts.profile_members or 200
    if opts.quick:
        opts.gyms, opts.members, opts.workers = 5, 200, 2

    db_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = bench_redis_url(9)
    bench_env = celery_bench_env(db_url=db_url, redis_url=redis_url, settings_module=SETTINGS_MODULE, name="billing")
    bench_env["STRIPE_SECRET_KEY"] = SECRET_KEY
    os.environ.update(bench_env)
    env = {**os.environ, **bench_env}
    safe_url = urlsplit(db_url)._replace(netloc=urlsplit(db_url).hostname or "").geturl()
    log(
        f"database {safe_url}, redis {redis_url}; {opts.gyms} gyms x {opts.members} members, "
        f"{opts.workers} {'threads' if opts.pool == 'threads' else 'worker processes'}, Stripe latency "
        f"{opts.latency_ms:.0f} ms, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )

    app = celery_bench_start(db_url, keep=opts.keep, env=env)

    day = datetime.date.today()
    if opts.keep and (dropped := gyms_drop(GYM_PREFIX)):
        log(f"--keep: dropped the {dropped} bench gyms of the last run")
    started = time.perf_counter()
    gyms = gyms_seed(opts, day)
    log(f"seeded {len(gyms)} gyms x {opts.members} due memberships in {time.perf_counter() - started:.1f}s")
    plan = cards_plan(opts, gyms)
    started = time.perf_counter()
    wanted = {account: [k for k in kinds if k] for account, kinds in plan.items()}
    fake = FakeStripeProcess(wanted, opts.latency_ms, env)
    customers_write(gyms, plan, fake.cards)
    cards = Counter(k for kinds in plan.values() for k in kinds)
    log(
        f"fake Stripe at {fake.url}: {cards[CARD_OK]} saved visa cards, {cards[CARD_DECLINED]} that decline, "
        f"{cards[None]} members without a card ({time.perf_counter() - started:.1f}s)"
    )
    env["STRIPE_API_BASE"] = fake.url
    os.environ["STRIPE_API_BASE"] = fake.url
    from django.conf import settings

    settings.STRIPE_API_BASE = fake.url

    queues_clear(redis_url, list(QUEUES))
    log_path = Path(tempfile.gettempdir()) / f"bench_billing_worker_{os.getpid()}.log"
    workers = Workers(opts.workers, opts.pool, env, log_path, name="billing", queues=list(QUEUES))
    report: dict[str, Any] = {}
    try:
        ready = workers.wait(app)
        log(f"Celery worker up in {ready:.1f}s ({opts.pool}, {opts.workers}); queueing {len(gyms)} billing runs")
        total = opts.gyms * opts.members
        wall, results = billing_round(gyms, day, timeout=1800)
        sums: Counter[str] = Counter()
        for r in results:
            sums.update(r)
        backlog = queue_length(redis_url, "documents")
        log(f"first run done in {wall:.1f}s: {dict(sums)}")
        wall2, results2 = billing_round(gyms, day, timeout=600)
        sums2: Counter[str] = Counter()
        for r in results2:
            sums2.update(r)
        log(f"second run done in {wall2:.1f}s: {dict(sums2)}")
        db = db_state(gyms)
        stripe = stripe_state(fake, gyms)
        per_gym = [r.get("invoiced", 0) for r in results]
        report = {
            "wall_s": wall,
            "billed_per_s": sums["invoiced"] / wall if wall else 0.0,
            "results": dict(sums),
            "second": dict(sums2),
            "second_wall_s": wall2,
            "documents_backlog": backlog,
            "per_gym_invoiced_median": statistics.median(per_gym) if per_gym else 0,
            "db": {k: v for k, v in db.items() if k != "intents"},
            "stripe": {k: v for k, v in stripe.items() if k != "intents"},
            "intents_match": all(db["intents"][a] == stripe["intents"][a] for a in stripe["intents"]),
            "worker_problems": workers.problems(),
        }
        if opts.profile:
            report["profile"] = profile_one_gym(opts, day, fake)
    finally:
        workers.stop()
        fake.stop()
        queues_clear(redis_url, list(QUEUES))
        if not opts.keep:
            from django.db import connections

            connections.close_all()
            database_drop(db_url)

    res, db_, st = report["results"], report["db"], report["stripe"]
    print()
    print(f"billing run: {opts.gyms} gyms x {opts.members} due memberships = {total} memberships")
    print(f"  workers                        {opts.workers} ({opts.pool}), Stripe latency {opts.latency_ms:.0f} ms")
    print(f"  total time                     {report['wall_s']:.1f} s")
    print(f"  memberships billed per second  {report['billed_per_s']:.0f}")
    print(f"  invoices created               {res.get('invoiced', 0)} (database: {db_['invoices']})")
    print(
        f"  charges succeeded / failed     {res.get('charged', 0)} / {res.get('failed', 0)} "
        f"(unknown {res.get('unknown', 0)}; database: {db_['payments_succeeded']} / {db_['payments_failed']}, "
        f"{db_['payments_pending']} pending)"
    )
    print(f"  left open for payment by hand  {res.get('open_for_manual', 0)}")
    print(f"  past-due memberships           {db_['past_due']}")
    print(f"  documents queue backlog        {report['documents_backlog']} PDF/email tasks (not part of billing)")
    print(
        f"  task errors                    {res.get('errors', 0)}; worker log problems: {len(report['worker_problems'])}"
    )
    print(
        f"second run: {report['second'].get('invoiced', 0)} new invoices, "
        f"{report['second'].get('charged', 0) + report['second'].get('failed', 0)} charges, "
        f"in {report['second_wall_s']:.1f} s"
    )
    print(
        f"fake Stripe: {st['succeeded']} PaymentIntents succeeded, {st['failed']} failed; "
        f"invoices with two PaymentIntents: {st['invoices_with_two_intents']}"
    )
    checks = {
        "under_target": report["wall_s"] < TARGET_S,
        "one_invoice_per_membership": db_["invoices"] == total and db_["memberships_with_two_invoices"] == 0,
        "second_run_no_new_invoices": report["second"].get("invoiced", 0) == 0
        and report["second"].get("charged", 0) == 0,
        "no_double_charge": st["invoices_with_two_intents"] == 0
        and db_["invoices_with_two_successes"] == 0
        and report["intents_match"]
        and st["succeeded"] == db_["payments_succeeded"],
        "no_task_errors": res.get("errors", 0) == 0 and not report["worker_problems"],
    }
    assert report["second"].get("invoiced", 0) == 0, "the second run created invoices"
    print("second run: 0 new invoices")
    print()
    for name, ok in checks.items():
        print(f"{name:<32}{'PASS' if ok else 'FAIL'}")
    if "profile" in report:
        p = report["profile"]
        print()
        print(
            f"profile ({p['invoiced']} memberships billed in this process): {p['ms_per_membership']:.1f} ms each "
            f"(wall {p['wall_s']:.1f} s, CPU {p['cpu_s']:.1f} s); SQL {p['sql_s']:.1f} s, Stripe HTTP "
            f"{p['stripe_s']:.1f} s; {p['statements_total_per_membership']} statements per membership:"
        )
        for kind, n in p["statements_per_membership"].items():
            print(f"  {kind:<20}{n:>7}")
    for problem in report["worker_problems"]:
        print(f"worker log: {problem}")
    overall = all(checks.values())
    print(f"overall: {'PASS' if overall else 'FAIL'}")
    from bench.results import checks as check_lines
    from bench.results import result as result_line

    result_line(
        "billing_run",
        "wall",
        report["wall_s"],
        "s",
        target=TARGET_S,
        op="<",
        label=f"billing run, {opts.gyms} gyms x {opts.members} memberships, {opts.workers} workers",
    )
    result_line(
        "billing_run",
        "per_s",
        total / report["wall_s"] if report["wall_s"] else None,
        "memberships/s",
        label="memberships billed per second",
    )
    check_lines("billing_run", {k: v for k, v in checks.items() if k != "under_target"})
    result_line("billing_run", "overall", None, passed=overall, label="every check")
    print(
        json.dumps(
            {
                "bench": "billing_run",
                "gyms": opts.gyms,
                "members": opts.members,
                "workers": opts.workers,
                "pool": opts.pool,
                "latency_ms": opts.latency_ms,
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
