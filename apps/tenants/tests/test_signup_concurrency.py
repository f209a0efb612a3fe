"""Simultaneous signups: both gyms are created, neither is a deadlock victim.

Each signup inserts its owner into public.accounts_user and then copies the template,
which adds foreign keys to accounts_user (a SHARE ROW EXCLUSIVE lock). Without
`provisioning_lock` two such transactions wait on each other. The signups run in
threads (their own connections, committed), so the test cleans up what they made.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from django.db import connections
from django_tenants.utils import schema_exists

from apps.accounts.models import User
from apps.tenants.models import Gym
from apps.tenants.services import gym_signup

pytestmark = pytest.mark.django_db


def _in_threads(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    barrier = threading.Barrier(len(jobs))
    outcomes: list[dict[str, Any]] = [{} for _ in jobs]

    def run(i: int) -> None:
        try:
            barrier.wait(10)
            outcomes[i]["value"] = gym_signup(**jobs[i])
        except BaseException as exc:  # reported by the assertions below
            outcomes[i]["error"] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def _cleanup(slugs: list[str], emails: list[str]) -> None:
    def work() -> None:
        try:
            for gym in Gym.objects.filter(slug__in=slugs):
                gym.domains.all().delete()
                gym.delete(force_drop=True)
            User.objects.filter(email__in=emails).delete()
        finally:
            connections.close_all()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(60)


def test_two_signups_at_once_both_succeed() -> None:
    tag = uuid.uuid4().hex[:6]
    jobs = [
        dict(
            name=f"Race {i}",
            slug=f"race-{tag}-{i}",
            owner_email=f"race-{tag}-{i}@example.test",
            owner_password="a-long-and-unusual-passphrase",
            timezone="UTC",
            currency="USD",
        )
        for i in range(3)
    ]
    try:
        outcomes = _in_threads(jobs)
        assert [o.get("error") for o in outcomes] == [None, None, None]
        for job in jobs:
            assert schema_exists("gym_" + job["slug"].replace("-", "_"))
    finally:
        _cleanup([j["slug"] for j in jobs], [j["owner_email"] for j in jobs])
