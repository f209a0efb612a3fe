"""Invoice documents and billing pages format money and dates in the gym's country, as
the member's emails do (`document_locale`)."""

from __future__ import annotations

import datetime
from decimal import Decimal

from apps.invoices.pdf import Formatter, document_locale
from apps.tenants.models import Gym


def test_the_gyms_country_is_the_territory_of_the_language() -> None:
    south_africa = Gym(name="Harbour Yoga", country="ZA", currency="ZAR")
    fmt = Formatter(currency="ZAR", locale=document_locale(gym=south_africa))
    assert str(fmt.locale) == "en_ZA"
    assert fmt.money(Decimal("180.00")).replace("\xa0", " ") == "R180,00"
    assert fmt.date(datetime.date(2026, 11, 22)) == "22 Nov 2026"


def test_without_a_country_the_language_alone() -> None:
    assert str(document_locale(gym=Gym(name="Nowhere", country=""))) == "en"
    assert str(document_locale()) == "en"
