"""Form pieces shared by the dashboard's list filters."""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms


class DateRangeForm(forms.Form):
    """A filter form with a from / to date pair (`date_range`, the two field names):
    an end before the start is a field error on the end date."""

    date_range: ClassVar[tuple[str, str]]

    def clean(self) -> dict[str, Any]:
        """Check the date pair; returns the cleaned data."""
        cleaned = super().clean() or {}
        start_field, end_field = self.date_range
        start, end = cleaned.get(start_field), cleaned.get(end_field)
        if start and end and start > end:
            self.add_error(end_field, "The end date is before the start date.")
        return cleaned
