"""Errors raised by the platform's Stripe services. Each carries a stable `code`."""


class BillingError(Exception):
    """A platform billing rule was broken. `code` is stable; `message` is for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class WebhookHandoffFailed(BillingError):
    """A Connect event was recorded but could not be handed to its gym's task queue
    (the broker did not take it). The event stays unprocessed, so answering Stripe with
    an error makes it deliver again, and the next delivery queues it."""

    def __init__(self, event_id: str, reason: str):
        super().__init__("queue_unavailable", f"Event {event_id} could not be queued for its gym: {reason}")
        self.event_id = event_id
