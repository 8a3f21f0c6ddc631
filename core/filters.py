"""Query-string filters every API list shares (django-filter)."""

import django_filters


def updated_after_filter(field_name: str = "updated_at") -> django_filters.IsoDateTimeFilter:
    """``?updated_after=<ISO datetime>``: records changed at or after that instant. Inclusive, so
    a sync that passes the largest ``updated_at`` it has seen never misses a record changed in
    the same instant (it sees that one record again)."""
    return django_filters.IsoDateTimeFilter(
        field_name=field_name,
        lookup_expr="gte",
        help_text="Only records changed at or after this ISO 8601 instant (compare `updated_at`).",
    )
