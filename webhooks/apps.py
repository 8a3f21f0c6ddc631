from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Outbound webhooks (Standard Webhooks): it listens to the events the apps below publish
    through core.events and delivers them from the worker. Nothing below imports it."""

    name = "webhooks"
    verbose_name = "Outbound webhooks"
