"""Errors raised by the notification preference, device and messaging-settings services
(`apps.notifications.preferences`). `code` is stable (the API returns it as
`error.code`); `message` is a sentence for the member or staff; `field` names the form
or API input it belongs to.

Codes:
- `transactional_required`: switching transactional messages off (receipts, failed
  payments and bookings must reach the member; `field`: transactional).
- `invalid_channel`: a channel that is not one of `Channel`'s values.
- `notification_not_found`: no such notification for this member (another member's
  id answers the same, as does an id from another gym).
- `device_not_found`: no such push token registered by this member.
- `invalid_device`: an empty or too long push token, or an unknown platform.
- `invalid_setting`: a messaging setting outside its bounds or of the wrong shape
  (reminder lead time, WhatsApp templates, the FCM service-account key, senders);
  `field` names it.
"""

from __future__ import annotations

from apps.core.errors import DomainError


class NotificationError(DomainError):
    """A notification preference, device or messaging-settings rule was broken.
    Nothing was changed when it is raised."""
