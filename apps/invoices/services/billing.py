"""The billing run of one gym: invoice every membership period that has come due, collect
it, retry failed charges (dunning) and mark hand-paid invoices overdue.

`billing_run(today=)` runs in the gym's schema (`apps.invoices.tasks.billing_run_task`,
queued by the hourly dispatcher at the gym's `billing_hour`). Every step is idempotent,
so a run may be repeated, crash halfway or run in two workers at once:
- one membership period is invoiced in one transaction under the membership's row lock,
  and (membership, period start) is unique: exactly one invoice per period;
- the membership's `next_billing_date` moves on in that same transaction, so the period
  is never selected again;
- charges follow the protocol in `payments`: at most one successful charge per attempt
  key, and a new attempt is only started when no earlier one is pending.
"""

from __future__ import annotations

import calendar
import datetime
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import pgbulk
from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from apps.memberships.models import Membership
from apps.memberships.services import billing_period_delta
from apps.notifications.services import notifications_record
from apps.tenants.selectors import current_gym
from fitflow.db.base import search_path_cached

from ..models import Invoice, InvoiceLine, Payment, StripeCustomer
from .documents import InvoiceInput, IssueOptions, LineInput, invoices_create
from .payments import invoice_notification, invoices_charge, invoices_mark_overdue

logger = logging.getLogger(__name__)

MStatus = Membership.Status
# A pending charge older than this is sent again with its own idempotency key: the
# worker that started it died or Stripe did not answer.
PENDING_RETRY_AFTER = datetime.timedelta(minutes=10)
# Memberships invoiced, and invoices charged, per transaction. 200 keeps a batch's locks
# and its transaction short (well under a second) while a statement serves 200 rows.
CHUNK_SIZE = 200


def next_billing_date_after(membership: Membership, day: datetime.date) -> datetime.date:
    """The billing date one period after `day`, keeping the anchor day of the month
    (`Membership.billing_anchor_day`, or `day`'s own): monthly from 31 January bills
    28 February, then 31 March (Stripe's `billing_cycle_anchor` behaves the same:
    https://docs.stripe.com/billing/subscriptions/billing-cycle). Weekly periods are
    7-day steps."""
    step = billing_period_delta(billing_period=membership.billing_period, interval=membership.billing_interval)
    after = day + step
    anchor = membership.billing_anchor_day or day.day
    if isinstance(step, relativedelta) and (step.months or step.years) and after.day != anchor:
        last = calendar.monthrange(after.year, after.month)[1]
        after = after.replace(day=min(anchor, last))
    return after


@dataclass
class BillingRunResult:
    """Counts of one gym's billing run: invoices created, charges succeeded / failed /
    left unknown (Stripe did not answer), invoices left open for payment by hand,
    retries tried, memberships put past due for overdue invoices."""

    invoiced: int = 0
    charged: int = 0
    failed: int = 0
    unknown: int = 0
    open_for_manual: int = 0
    retried: int = 0
    overdue: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        """The counts, for logs and task results."""
        return {k: v for k, v in self.__dict__.items() if k != "errors"} | {"errors": len(self.errors)}


def memberships_due(*, today: datetime.date) -> list[int]:
    """Ids of the memberships with a period to invoice on `today` (gym-local): active,
    recurring, `next_billing_date` on or before today, not cancelled at period end.
    Frozen and past-due memberships are not billed (a freeze moves the date on; a
    past-due one is in dunning)."""
    return list(
        Membership.objects.filter(
            status=MStatus.ACTIVE,
            next_billing_date__lte=today,
            cancel_at_period_end=False,
        )
        .exclude(billing_period="")
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def membership_invoice_period(*, membership_id: int, today: datetime.date) -> Invoice | None:
    """Invoice one membership's due period (see `memberships_invoice_periods`). Returns
    the new invoice, or None when there was nothing to invoice."""
    made = memberships_invoice_periods(membership_ids=[membership_id], today=today)
    return made[0] if made else None


def memberships_invoice_periods(*, membership_ids: Sequence[int], today: datetime.date) -> list[Invoice]:
    """Invoice, for each of the memberships (ids) still due on `today`, its period that
    starts on its `next_billing_date`, and move that date on by one period; all in one
    transaction under the memberships' row locks (taken in id order). Returns the new
    invoices; a membership no longer due, or whose period another worker invoiced
    first, gets none (its date still moves on).

    An invoice is collected from the saved card when the gym has Stripe and the member
    a card (`auto_collect`; charged afterwards by `invoices_charge`); otherwise it is
    left open, due after `Gym.invoice_due_days`, and the member is told
    (`invoice_issued`). The billing run passes batches of `CHUNK_SIZE`: a handful of
    statements per batch instead of a dozen per membership. Errors (a membership the
    rules refuse, e.g. a negative price) roll the whole batch back."""
    gym = current_gym()
    with transaction.atomic():
        locked = list(
            Membership.objects.select_for_update(of=("self",))
            .select_related("plan", "member")
            .filter(
                pk__in=membership_ids, status=MStatus.ACTIVE, next_billing_date__lte=today, cancel_at_period_end=False
            )
            .exclude(billing_period="")
            .order_by("pk")
        )
        if not locked:
            return []
        # Another worker may have invoiced a period and then crashed before moving the date.
        invoiced = set(
            Invoice.objects.filter(
                membership_id__in=[m.pk for m in locked], period_start__in={m.next_billing_date for m in locked}
            ).values_list("membership_id", "period_start")
        )
        with_card: set[int] = set()
        if gym.stripe_connected:
            with_card = set(
                StripeCustomer.objects.filter(member_id__in=[m.member_id for m in locked])
                .exclude(payment_method_id="")
                .values_list("member_id", flat=True)
            )
        specs, now = [], timezone.now()
        for m in locked:
            start = m.next_billing_date
            assert start is not None  # filtered on next_billing_date <= today
            after = next_billing_date_after(m, start)
            m.next_billing_date, m.billing_anchor_day = after, m.billing_anchor_day or start.day
            m.updated_at = now
            if (m.pk, start) in invoiced:
                continue
            end = after - datetime.timedelta(days=1)
            specs.append(
                InvoiceInput(
                    member=m.member,
                    membership=m,
                    period=(start, end),
                    lines=[
                        LineInput(
                            description=f"{m.plan.name}: {start:%d %b %Y} to {end:%d %b %Y}",
                            unit_price=m.price,
                            kind=InvoiceLine.Kind.PLAN_PERIOD,
                            period_start=start,
                            period_end=end,
                        )
                    ],
                    options=IssueOptions(
                        tax_rate=m.plan.tax_rate,
                        tax_inclusive=m.plan.price_includes_tax,
                        auto_collect=m.member_id in with_card,
                    ),
                )
            )
        # The memberships' row locks make this the only writer of their periods' invoices.
        invoices = invoices_create(specs, today=today)
        pgbulk.update(Membership, locked, ["next_billing_date", "billing_anchor_day", "updated_at"])
        notifications_record([invoice_notification(i, "invoice_issued") for i in invoices if not i.auto_collect])
    return invoices


def invoices_to_collect(*, today: datetime.date) -> list[int]:
    """Ids of open card-collected invoices with a charge to try now: never tried, a
    dunning retry due on or before `today`, or a charge left pending for longer than
    `PENDING_RETRY_AFTER` (its worker died or Stripe did not answer)."""
    stale = timezone.now() - PENDING_RETRY_AFTER
    pending = Payment.objects.filter(
        invoice=OuterRef("pk"), status=Payment.Status.PENDING, attempt__isnull=False, created_at__lt=stale
    )
    fresh_pending = Payment.objects.filter(
        invoice=OuterRef("pk"), status=Payment.Status.PENDING, attempt__isnull=False, created_at__gte=stale
    )
    open_auto = Invoice.objects.filter(status=Invoice.Status.OPEN, auto_collect=True).exclude(Exists(fresh_pending))
    never = open_auto.filter(attempt_count=0)
    retry = open_auto.filter(next_payment_attempt__lte=today)
    stuck = open_auto.filter(Exists(pending))
    ids = set(never.values_list("pk", flat=True)) | set(retry.values_list("pk", flat=True))
    ids |= set(stuck.values_list("pk", flat=True))
    return sorted(ids)


def billing_run(*, today: datetime.date | None = None) -> BillingRunResult:
    """Run billing for the current gym on `today` (gym-local; default today in the
    active timezone): invoice due periods, charge saved cards, retry failed charges
    whose day has come, finish charges left pending, and mark overdue hand-paid
    invoices. Safe to run any number of times. Returns the counts."""
    with search_path_cached():  # one gym's schema throughout: SET search_path once, not per statement
        return _billing_run(today=today or timezone.localdate())


def _billing_run(*, today: datetime.date) -> BillingRunResult:
    result = BillingRunResult()
    due = memberships_due(today=today)
    for chunk in (due[i : i + CHUNK_SIZE] for i in range(0, len(due), CHUNK_SIZE)):
        for invoice in _invoice_chunk(chunk, today=today, result=result):
            result.invoiced += 1
            if not invoice.auto_collect and invoice.status == Invoice.Status.OPEN:
                result.open_for_manual += 1
    to_collect = invoices_to_collect(today=today)
    tried_before = set(Invoice.objects.filter(pk__in=to_collect, attempt_count__gt=0).values_list("pk", flat=True))
    for chunk in (to_collect[i : i + CHUNK_SIZE] for i in range(0, len(to_collect), CHUNK_SIZE)):
        for invoice_id, outcome in invoices_charge(invoice_ids=chunk, today=today).items():
            result.retried += int(invoice_id in tried_before and outcome.status != "skipped")
            if outcome.status == Payment.Status.SUCCEEDED:
                result.charged += 1
            elif outcome.status == Payment.Status.FAILED:
                result.failed += 1
            elif outcome.status == "unknown":
                result.unknown += 1
    result.overdue = invoices_mark_overdue(today=today)
    return result


def _invoice_chunk(chunk: Sequence[int], *, today: datetime.date, result: BillingRunResult) -> list[Invoice]:
    """Invoice a batch of memberships; if the batch fails, invoice its memberships one
    by one, so one bad membership never stops the others (its error is logged and
    counted)."""
    try:
        return memberships_invoice_periods(membership_ids=chunk, today=today)
    except Exception:  # retried one by one below, where each error is logged
        if len(chunk) == 1:
            logger.exception("billing membership %s failed", chunk[0])
            result.errors.append(f"membership {chunk[0]}")
            return []
    return [
        invoice for membership_id in chunk for invoice in _invoice_chunk([membership_id], today=today, result=result)
    ]
