from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM"

    def ready(self):
        from django.db.models.signals import post_migrate

        from crm import two_factor  # noqa: F401  (connects its user_logged_in receiver)
        from crm.fts import after_migrate

        # A migration that remakes a table on SQLite drops the search index's triggers.
        post_migrate.connect(after_migrate, sender=self, dispatch_uid="crm_fts_install")
