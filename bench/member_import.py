#!/usr/bin/env python
"""How fast a gym imports members from CSV: `python bench/member_import.py`.

What it does:

1. Generates a realistic CSV of `--rows` (default 10,000) members with Faker
   (Zulu and British names, as Faker has no en_ZA; unique emails; local and international mobile numbers;
   dates of birth and join dates mostly dd/mm/yyyy, some ISO; tags; a few notes,
   addresses and emergency contacts), as a gym's previous software would export it.
2. Provisions a throwaway gym (country ZA) in its own database and times, with
   `time.perf_counter`, `--runs` (default 3) runs of each phase:
   - preview: `apps.members.imports.member_import_preview` (read, clean, one query);
   - commit: `member_import_commit` into an empty gym (the members table is
     truncated, untimed, before each run);
   - re-upload: `member_import_commit` of the same file again, which must create
     nothing (every row "already imported").
3. Prints the median of each phase, PASS/FAIL against the target from issue 3 —
   "a 10,000-row file imports in under 20 s", checked as preview + commit, the two
   steps a person waits for — and, last, one line of JSON.

Database: default `postgres://postgres@127.0.0.1:5432/fitflow_bench`, overridden by
`BENCH_DATABASE_URL`; dropped and recreated at start (as `bench/provision.py` does;
it refuses a database whose name lacks "bench"). `DATABASE_URL` and
`DJANGO_SETTINGS_MODULE=fitflow.settings.local` are set for this process and its
`manage.py migrate_gyms`, so dev and test data are never touched.

Options: `--rows N`, `--runs N`, `--seed N`, `--keep` (reuse the database), `--csv PATH`
(also write the generated file there).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.provision import DEFAULT_DATABASE_URL, SETTINGS_MODULE, database_migrate, database_recreate, log  # noqa: E402

TARGET_S = 20.0
GYM_SLUG = "bench-import"
HEADERS = [
    "Member ID",
    "First Name",
    "Last Name",
    "Email",
    "Mobile",
    "Home Phone",
    "DOB",
    "Gender",
    "Member Since",
    "Address",
    "City",
    "Postal Code",
    "Emergency Contact",
    "Emergency Phone",
    "Tags",
    "Notes",
    "Membership",
]
MOBILE_PREFIXES = [
    "060",
    "061",
    "062",
    "063",
    "071",
    "072",
    "073",
    "074",
    "076",
    "078",
    "079",
    "081",
    "082",
    "083",
    "084",
]
TAGS = ["morning", "evening", "student", "senior", "pt", "yoga", "crossfit", "corporate", "family", "referral"]
PLANS = ["Monthly Unlimited", "Annual", "Off-Peak", "Student", "10-Class Pack", "Drop-in"]


def generate_csv(rows: int, seed: int) -> bytes:
    """A member export of `rows` rows, UTF-8, as bytes."""
    from faker import Faker

    fake = Faker(["zu_ZA", "en_GB"])
    Faker.seed(seed)
    rnd = random.Random(seed)  # noqa: S311 (test data, not secrets)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    for i in range(rows):
        first, last = fake.first_name(), fake.last_name()
        local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
        email = f"{local}{i}@{rnd.choice(['gmail.com', 'outlook.com', 'icloud.com', 'mweb.co.za', 'webmail.co.za'])}"
        mobile = f"{rnd.choice(MOBILE_PREFIXES)} {rnd.randint(100, 999)} {rnd.randint(0, 9999):04d}"
        if rnd.random() < 0.15:  # some numbers stored international
            mobile = "+27 " + mobile[1:]
        dob = fake.date_of_birth(minimum_age=14, maximum_age=80)
        joined = fake.date_between(start_date="-8y", end_date="today")
        iso = rnd.random() < 0.2
        writer.writerow(
            [
                100_000 + i,
                first,
                last,
                email if rnd.random() > 0.03 else "",  # a few without email
                mobile if rnd.random() > 0.05 else "",
                f"021 {rnd.randint(100, 999)} {rnd.randint(0, 9999):04d}" if rnd.random() < 0.1 else "",
                dob.isoformat() if iso else dob.strftime("%d/%m/%Y"),
                rnd.choice(["F", "M", "Female", "Male", "", "Other"]),
                joined.isoformat() if iso else joined.strftime("%d/%m/%Y"),
                fake.street_address() if rnd.random() < 0.6 else "",
                fake.city() if rnd.random() < 0.6 else "",
                fake.postcode() if rnd.random() < 0.6 else "",
                fake.name() if rnd.random() < 0.3 else "",
                f"08{rnd.randint(2, 4)} {rnd.randint(100, 999)} {rnd.randint(0, 9999):04d}"
                if rnd.random() < 0.3
                else "",
                ";".join(rnd.sample(TAGS, rnd.randint(0, 3))),
                fake.sentence() if rnd.random() < 0.1 else "",
                rnd.choice(PLANS),
            ]
        )
    return out.getvalue().encode("utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="members in the generated file (default 10,000)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each phase (default 3)")
    parser.add_argument("--seed", type=int, default=2026, help="Faker / random seed (default 2026)")
    parser.add_argument("--keep", action="store_true", help="reuse the bench database instead of recreating it")
    parser.add_argument("--csv", type=Path, help="also write the generated CSV to this path")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,000 rows, 1 run")
    opts = parser.parse_args()
    if opts.quick:
        opts.rows, opts.runs = 1_000, 1

    db_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    env = {**os.environ, "DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE}
    os.environ.update(DATABASE_URL=db_url, DJANGO_SETTINGS_MODULE=SETTINGS_MODULE)
    bench_started = time.perf_counter()
    log(
        f"database {urlsplit(db_url)._replace(netloc=urlsplit(db_url).hostname or '').geturl()}, "
        f"{opts.rows:,} rows, {opts.runs} runs, {os.cpu_count()} CPUs"
    )
    database_recreate(db_url, opts.keep)
    elapsed = database_migrate(env)
    log(f"migrated (public + template) {elapsed:.1f}s")

    import django

    django.setup()

    from django.db import connection
    from django_tenants.utils import tenant_context

    from apps.members.imports import member_import_commit, member_import_preview
    from apps.members.models import Member
    from apps.tenants.models import Gym
    from apps.tenants.services import gym_provision, public_gym_ensure

    public_gym_ensure(domains=["localhost"])
    for old in Gym.objects.filter(slug=GYM_SLUG):  # a --keep run's leftover
        old.delete(force_drop=True)
    gym = gym_provision(
        name="Bench Import Gym", slug=GYM_SLUG, timezone="Africa/Johannesburg", currency="ZAR", country="ZA"
    )
    region = str(gym.country)

    started = time.perf_counter()
    data = generate_csv(opts.rows, opts.seed)
    log(f"generated {opts.rows:,} rows ({len(data) / 1e6:.1f} MB) in {time.perf_counter() - started:.1f}s")
    if opts.csv:
        opts.csv.write_bytes(data)
        log(f"wrote {opts.csv}")

    def truncate() -> None:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE members_member CASCADE")

    previews: list[float] = []
    commits: list[float] = []
    reuploads: list[float] = []
    with tenant_context(gym):
        truncate()
        for run in range(1, opts.runs + 1):
            started = time.perf_counter()
            preview = member_import_preview(data=data, region=region)
            previews.append(time.perf_counter() - started)
            if preview.errors:
                for issue in preview.errors[:10]:
                    print(f"  row {issue.row} {issue.column}: {issue.message}", file=sys.stderr)
                sys.exit(f"bench: the generated file has {len(preview.errors)} errors")
            log(f"run {run}: preview {previews[-1]:.3f}s ({preview.valid_count:,} valid)")
        for run in range(1, opts.runs + 1):
            truncate()
            started = time.perf_counter()
            result = member_import_commit(data=data, region=region)
            commits.append(time.perf_counter() - started)
            created = Member.objects.count()
            if result.created_count != opts.rows or created != opts.rows:
                sys.exit(f"bench: commit created {result.created_count} ({created} in the gym), expected {opts.rows}")
            started = time.perf_counter()
            again = member_import_commit(data=data, region=region)
            reuploads.append(time.perf_counter() - started)
            if again.created_count or Member.objects.count() != opts.rows:
                sys.exit(f"bench: the re-upload created {again.created_count} members")
            log(f"run {run}: commit {commits[-1]:.3f}s, re-upload {reuploads[-1]:.3f}s (0 created)")
        truncate()
    gym.delete(force_drop=True)

    preview_m = statistics.median(previews)
    commit_m = statistics.median(commits)
    reupload_m = statistics.median(reuploads)
    total_m = preview_m + commit_m
    ok = total_m < TARGET_S

    rows = [
        (f"preview, {opts.rows:,} rows", preview_m, previews),
        (f"commit into an empty gym, {opts.rows:,} rows", commit_m, commits),
        ("re-upload of the same file (0 created)", reupload_m, reuploads),
    ]
    width = max(len(r[0]) for r in rows) + 2
    print()
    print(f"{'phase':<{width}}{'median':>10}   runs")
    print("-" * (width + 40))
    for name, med, runs in rows:
        print(f"{name:<{width}}{med:>8.3f} s   {', '.join(f'{t:.3f}' for t in runs)}")
    print()
    print(
        f"{'PASS' if ok else 'FAIL'}  {opts.rows:,} rows import in under {TARGET_S:g} s (preview + commit)   {total_m:.3f} s"
    )
    print(f"info  rows per second (commit)                          {opts.rows / commit_m:,.0f}")
    print(f"info  bench wall time                                   {time.perf_counter() - bench_started:.0f} s")
    print()
    from bench.results import result as result_line

    result_line(
        "member_import",
        "preview_plus_commit",
        total_m,
        "s",
        target=TARGET_S,
        op="<",
        label=f"import {opts.rows:,} rows: preview + commit, median of {opts.runs}",
    )
    result_line("member_import", "preview", preview_m, "s", label=f"preview, {opts.rows:,} rows")
    result_line("member_import", "commit", commit_m, "s", label=f"commit into an empty gym, {opts.rows:,} rows")
    result_line("member_import", "reupload", reupload_m, "s", label="re-upload of the same file (0 created)")
    summary = {
        "rows": opts.rows,
        "runs": opts.runs,
        "cpus": os.cpu_count(),
        "csv_bytes": len(data),
        "preview_median_s": round(preview_m, 4),
        "commit_median_s": round(commit_m, 4),
        "reupload_median_s": round(reupload_m, 4),
        "preview_plus_commit_s": round(total_m, 4),
        "target_s": TARGET_S,
        "pass": ok,
    }
    print(json.dumps(summary, separators=(",", ":")))


if __name__ == "__main__":
    main()
