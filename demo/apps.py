from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo data set (``manage.py seed_demo``): a client of the product apps, which it
    imports and writes through; nothing imports it."""

    name = "demo"
