"""`dispatch_countdown`: the jitter of beat's per-gym tasks, and its cap setting."""

from __future__ import annotations

from apps.tenants.dispatch import dispatch_countdown


def test_countdown_stays_within_the_dispatchers_jitter(settings) -> None:
    settings.DISPATCH_JITTER_MAX_SECONDS = None
    values = {dispatch_countdown(3) for _ in range(200)}
    assert values <= {0, 1, 2, 3} and len(values) > 1


def test_the_cap_setting_bounds_every_dispatcher(settings) -> None:
    settings.DISPATCH_JITTER_MAX_SECONDS = 0
    assert {dispatch_countdown(300) for _ in range(50)} == {0}
    settings.DISPATCH_JITTER_MAX_SECONDS = 2
    assert {dispatch_countdown(300) for _ in range(200)} <= {0, 1, 2}
