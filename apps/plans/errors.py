"""Errors raised by plan services."""


class PlanError(Exception):
    """A plan rule was broken (e.g. `plan_in_use`, `invalid_plan`). `field` names the input."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
