from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Outbound webhooks (Standard Webhooks): it listens to the events the apps below publish
    through core.events and delivers them from the worker. Nothing below imports it."""

    name = "webhooks"
    verbose_name = "Outbound webhooks"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from webhooks.models import WebhookEndpoint
        from webhooks.outbox import subscriptions_changed

        # Whatever saves or deletes an endpoint (page, API, admin), this process's view of who
        # listens is read again on the next event.
        for signal in (post_save, post_delete):
            signal.connect(
                lambda **kwargs: subscriptions_changed(),
                sender=WebhookEndpoint,
                weak=False,
                dispatch_uid=f"webhooks-subscriptions-{signal is post_save}",
            )
