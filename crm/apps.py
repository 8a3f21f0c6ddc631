from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM"

    def ready(self):
        from crm import two_factor  # noqa: F401  (connects its user_logged_in receiver)
