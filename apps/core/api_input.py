"""Strict JSON input for the API's request bodies.

DRF's fields coerce: a CharField takes `123`, an IntegerField `"12"`, a BooleanField
`"yes"` or `1`, a DecimalField `12.5`. The OpenAPI schema promises one JSON type per
field (a string for text, dates and money, an integer for ids and counts, a boolean
for flags), and a client that sends another type has a bug it should hear about, not
a value silently converted (`12.5` as money is a float on its way in). So every body
serializer of the API derives from `StrictJsonSerializer`, which answers
400 `validation_error` with the usual per-field messages for a value of the wrong JSON
type, before the fields' own checks. Query parameters are always strings and keep
DRF's parsing.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.relations import ManyRelatedField, PrimaryKeyRelatedField

EARLIEST = datetime.date(1900, 1, 1)
LATEST = datetime.date(2999, 12, 31)
CALENDAR_HELP = "From 1900 to 2999."


def within_calendar(value: datetime.date) -> None:
    """DRF validator of a date or date-time input: from 1900 to 2999. Python's dates end
    in 9999, and a day or a billing period added to one near the end overflows (a 500
    the fuzzer found in the schedule, check-in and freeze inputs)."""
    day = value.date() if isinstance(value, datetime.datetime) else value
    if not EARLIEST <= day <= LATEST:
        raise serializers.ValidationError(f"Give a date from {EARLIEST.year} to {LATEST.year}.")


STRING_FIELDS = (
    serializers.CharField,
    serializers.DateField,
    serializers.DateTimeField,
    serializers.TimeField,
    serializers.DurationField,
    serializers.UUIDField,
    serializers.DecimalField,  # money and rates are strings ("45.00"), as in the responses
)
MESSAGES = {
    "string": "Not a valid string.",
    "integer": "A valid integer is required.",
    "number": "A valid number is required.",
    "boolean": "Must be a valid boolean.",
    "array": "Expected a list of items.",
    "object": "Expected a dictionary of items.",
}


def _json_type(field: serializers.Field) -> str | None:
    """The JSON type `field` takes in a body, or None when any goes (unknown fields)."""
    if isinstance(field, serializers.BooleanField):
        return "boolean"
    if isinstance(field, serializers.ChoiceField):
        keys = list(field.choices)
        return "string" if all(isinstance(k, str) for k in keys) else None
    if isinstance(field, (serializers.IntegerField, PrimaryKeyRelatedField)):
        return "integer"
    if isinstance(field, serializers.FloatField):
        return "number"
    if isinstance(field, STRING_FIELDS):
        return "string"
    if isinstance(field, (serializers.ListField, serializers.ListSerializer, ManyRelatedField)):
        return "array"
    if isinstance(field, (serializers.DictField, serializers.Serializer)):
        return "object"
    return None


def _is(value: Any, json_type: str) -> bool:
    if json_type == "string":
        return isinstance(value, str)
    if json_type == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if json_type == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if json_type == "boolean":
        return isinstance(value, bool)
    if json_type == "array":
        return isinstance(value, list)
    return isinstance(value, dict)


def json_type_errors(field: serializers.Field, value: Any) -> list[str] | dict[int, list[str]]:
    """The messages for `value` not being the JSON type of `field` (for a list field, by
    the index of each wrong item); empty when it is. `null` is left to the field."""
    if value is None:
        return []
    json_type = _json_type(field)
    if json_type is None:
        return []
    if not _is(value, json_type):
        return [MESSAGES[json_type]]
    if json_type == "array" and isinstance(field, serializers.ListField):
        items = {i: json_type_errors(field.child, item) for i, item in enumerate(value)}
        return {i: errors for i, errors in items.items() if errors}  # type: ignore[misc]
    return []


class StrictJsonSerializer(serializers.Serializer):
    """A body serializer whose fields take only their own JSON type (module docstring).
    Nested serializers check their own fields when they derive from it too."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            errors: dict[str, Any] = {}
            for field in self.fields.values():
                if field.read_only or field.field_name not in data:
                    continue
                problems = json_type_errors(field, data[field.field_name])
                if problems:
                    errors[str(field.field_name)] = problems
            if errors:
                # the other fields' errors too (missing, too long...), the type errors first
                try:
                    super().to_internal_value(data)
                except serializers.ValidationError as exc:
                    if isinstance(exc.detail, dict):
                        errors = {**exc.detail, **errors}
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
