"""The fake Stripe server fixture for every invoices test (apps/invoices/tests/fake_stripe.py)."""

from apps.invoices.tests.fake_stripe import fake_stripe  # noqa: F401
