"""Errors raised by the staff app."""


class GymAccessDenied(Exception):
    """The user holds no role at this gym, or a lower one than the action needs.

    `code` is `not_authenticated`, `no_gym_access` or `role_too_low`.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class StaffError(Exception):
    """A staff change that breaks a rule (e.g. removing the last owner)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
