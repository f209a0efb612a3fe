import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("tenants", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="GymSubscriber",
            fields=[],
            options={
                "verbose_name": "gym (FitFlow subscriber)",
                "verbose_name_plural": "gyms (FitFlow subscribers)",
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("tenants.gym",),
        ),
        migrations.CreateModel(
            name="GymStripeState",
            fields=[
                (
                    "gym",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="stripe_state",
                        serialize=False,
                        to="tenants.gym",
                    ),
                ),
                ("subscription_id", models.CharField(blank=True, max_length=255)),
                ("subscription_status", models.CharField(blank=True, max_length=20)),
                ("billing_as_of", models.DateTimeField(blank=True, null=True)),
                ("account_as_of", models.DateTimeField(blank=True, null=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "verbose_name": "gym Stripe state",
            },
        ),
        migrations.CreateModel(
            name="StripeWebhookEvent",
            fields=[
                ("id", models.CharField(max_length=255, primary_key=True, serialize=False)),
                (
                    "endpoint",
                    models.CharField(choices=[("platform", "Platform"), ("connect", "Connect")], max_length=10),
                ),
                ("type", models.CharField(max_length=250)),
                (
                    "account",
                    models.CharField(blank=True, help_text="Connected account (acct_...), if any.", max_length=255),
                ),
                ("livemode", models.BooleanField(default=False)),
                ("created", models.DateTimeField(help_text="When Stripe created the event.")),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("received", "Received"),
                            ("routed", "Routed to the gym"),
                            ("applied", "Applied"),
                            ("stale", "Older than what is known (ignored)"),
                            ("ignored", "Not used by FitFlow"),
                            ("unknown_account", "No gym has this Stripe account"),
                            ("unknown_customer", "No gym is this Stripe customer"),
                        ],
                        default="received",
                        max_length=20,
                    ),
                ),
                ("deliveries", models.PositiveIntegerField(default=1)),
                ("received_at", models.DateTimeField(auto_now_add=True)),
                ("processed_at", models.DateTimeField(blank=True, null=True)),
                ("error", models.TextField(blank=True)),
                (
                    "gym",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="stripe_webhook_events",
                        to="tenants.gym",
                    ),
                ),
            ],
            options={
                "ordering": ["-created"],
                "indexes": [models.Index(fields=["account", "-created"], name="billing_webhook_account_idx")],
            },
        ),
    ]
