"""`gym_base_url`: the request's scheme and port, or FITFLOW_URL_PORT outside a request
(links in emails sent by Celery under `make run`)."""

from __future__ import annotations

from django.test import RequestFactory

from apps.conftest import host_of
from apps.tenants.models import Gym
from apps.tenants.selectors import gym_base_url


def test_outside_a_request_the_configured_port_is_used(gym_a: Gym, settings) -> None:
    settings.FITFLOW_URL_PORT = ""
    assert gym_base_url(gym=gym_a) == f"http://{host_of(gym_a)}"
    settings.FITFLOW_URL_PORT = "8000"
    assert gym_base_url(gym=gym_a) == f"http://{host_of(gym_a)}:8000"


def test_a_request_gives_its_own_port(gym_a: Gym, settings) -> None:
    settings.FITFLOW_URL_PORT = "8000"
    request = RequestFactory().get("/", HTTP_HOST=f"{host_of(gym_a)}:9123")
    assert gym_base_url(gym=gym_a, request=request) == f"http://{host_of(gym_a)}:9123"
    assert gym_base_url(gym=gym_a, request=RequestFactory().get("/", HTTP_HOST=host_of(gym_a))) == (
        f"http://{host_of(gym_a)}"
    )
