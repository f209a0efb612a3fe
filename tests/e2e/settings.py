"""Settings of the stack the end-to-end scenarios start: `make run`'s (`fitflow.settings.local`)
with what the scenario cannot set through the environment.

- `FITFLOW_URL_PORT` from the environment: links in emails the worker sends
  (`apps.tenants.selectors.gym_base_url`) need the web port.
- `DISPATCH_JITTER_MAX_SECONDS = 0`: beat's dispatchers queue each gym's task at once
  instead of after a random 0-300 s countdown (`apps.tenants.dispatch.dispatch_countdown`),
  so "the billing hour comes" is seen within seconds. Everything else (SMTP, Stripe,
  database, Redis, cache and channel prefixes, media) comes from the environment the
  stack fixture sets, as it would for `make run`.
"""

from fitflow.settings.local import *  # noqa: F403

DISPATCH_JITTER_MAX_SECONDS = 0
# The port of links in emails sent by the worker (the stack's web port, from the
# environment; `make run` would want 8000). Not declared in base.py yet.
FITFLOW_URL_PORT = env("FITFLOW_URL_PORT", default="")  # noqa: F405
