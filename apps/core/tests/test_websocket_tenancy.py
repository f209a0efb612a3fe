"""The websocket tenancy layer: the gym comes from the Host header, ORM calls run in
that gym's schema, and group names carry the schema."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.testing import WebsocketCommunicator
from django.db import connection

from apps.core.channels import GymWebsocketMiddleware, gym_database_sync_to_async, gym_group_name
from apps.staff.models import StaffRole
from apps.tenants.models import Gym

# Sync tests drive the async code with async_to_sync, so thread-sensitive DB calls run
# on the test's own thread and connection, inside its rolled-back transaction.
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keep_test_connection(monkeypatch) -> None:
    """channels closes "old" connections around each DB call; inside a test's
    transaction that would close the test's own connection."""
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)


def _staff_emails(gym: Gym) -> dict:
    return {"schema": connection.schema_name, "count": StaffRole.objects.count()}


class EchoGymConsumer(AsyncJsonWebsocketConsumer):
    """Tells the client which gym and schema it was connected to."""

    async def connect(self) -> None:
        await self.accept()
        gym = self.scope["tenant"]
        seen = await gym_database_sync_to_async(_staff_emails)(gym)
        await self.send_json({"gym": gym.slug, "group": gym_group_name(gym, "occupancy"), **seen})


def app():
    return GymWebsocketMiddleware(EchoGymConsumer.as_asgi())


async def _connect(host: str) -> tuple[bool, dict | None]:
    communicator = WebsocketCommunicator(app(), "/ws/test/", headers=[(b"host", host.encode())])
    connected, _ = await communicator.connect()
    data = await communicator.receive_json_from() if connected else None
    await communicator.disconnect()
    return connected, data


def connect(host: str) -> tuple[bool, dict | None]:
    return async_to_sync(_connect)(host)


def test_gym_is_resolved_from_host_and_orm_runs_in_its_schema(gym_a: Gym, gym_b: Gym, make_staff) -> None:
    from apps.staff.roles import Role

    make_staff(gym_b, Role.OWNER)
    ok_a, data_a = connect("gym-a.localhost:8000")
    ok_b, data_b = connect("gym-b.localhost")

    assert ok_a and data_a == {"gym": "gym-a", "group": "occupancy.gym_gym_a", "schema": "gym_gym_a", "count": 0}
    assert ok_b and data_b == {"gym": "gym-b", "group": "occupancy.gym_gym_b", "schema": "gym_gym_b", "count": 1}


@pytest.mark.parametrize("host", ["nowhere.localhost", "localhost"])
def test_unknown_and_public_hosts_are_refused(host: str) -> None:
    connected, _ = connect(host)
    assert not connected


def test_suspended_gym_is_refused(gym_a: Gym) -> None:
    Gym.objects.filter(pk=gym_a.pk).update(status=Gym.Status.SUSPENDED)
    connected, _ = connect("gym-a.localhost")
    assert not connected
