"""The Django admin app, with our site (config.admin_site): its import waits for the app registry."""

from django.contrib.admin.apps import AdminConfig


class LifecycleAdminConfig(AdminConfig):
    default_site = "config.admin_site.LifecycleAdminSite"
