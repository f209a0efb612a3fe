"""`/notifications/` routes on a gym's host: the notification log pages (`views`), the
one-click unsubscribe links in emails (`unsubscribe`, no login) and the Twilio inbound
webhook (`webhooks`, signature-checked). Each module keeps its own `urlpatterns`."""

from . import unsubscribe, views, webhooks

app_name = "notifications"

urlpatterns = [*views.urlpatterns, *unsubscribe.urlpatterns, *webhooks.urlpatterns]
