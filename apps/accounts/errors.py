"""Errors of the accounts app."""


class HandoffInvalid(Exception):
    """A signup-to-dashboard login link is forged, expired, already used or for another gym."""
