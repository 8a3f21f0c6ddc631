"""What a list page may be sorted by and which columns it may show; its saved views.

Sorts are a whitelist: each key is an ordering that an index serves (so a sorted page of 50
stays a read of 50 rows at 100,000 contacts) and ends in ``id``, so equal values keep a stable
order across pages. ``-key`` reverses every part."""

from dataclasses import dataclass

from django.db.models import F, Q, QuerySet
from django.db.models.functions import Lower
from django.http import QueryDict

from crm.custom_fields import PARAM_PREFIX as CUSTOM_FILTER_PREFIX
from crm.models import SavedView


@dataclass(frozen=True)
class ListSpec:
    name: str
    sorts: dict  # key -> (label, ordering parts)
    default_sort: str
    columns: dict  # key -> label, in display order
    default_columns: tuple[str, ...]
    filter_keys: tuple[str, ...]

    def ordering(self, sort: str) -> tuple | None:
        """The ORDER BY of a whitelisted ``sort`` (``key`` or ``-key``); None for anything else."""
        descending = sort.startswith("-")
        entry = self.sorts.get(sort.removeprefix("-"))
        if entry is None:
            return None
        parts = []
        for part in entry[1]:
            expression = F(part) if isinstance(part, str) else part
            parts.append(expression.desc() if descending else expression.asc())
        return tuple(parts)

    def shown_columns(self, wanted: list[str] | None) -> list[str]:
        chosen = [key for key in (wanted or []) if key in self.columns]
        return chosen or list(self.default_columns)

    def view_query(self, params: QueryDict) -> str:
        """The part of a list's query string a saved view keeps: its filters, sort and columns
        (not the page, nor anything unknown)."""
        kept = QueryDict(mutable=True)
        custom = sorted(key for key in params if key.startswith(CUSTOM_FILTER_PREFIX))  # custom fields
        for key in (*self.filter_keys, *custom, "sort", "columns"):
            values = [value for value in params.getlist(key) if value]
            if values:
                kept.setlist(key, values)
        return kept.urlencode()


CONTACTS = ListSpec(
    name=SavedView.ListName.CONTACTS,
    sorts={
        "name": ("Name", ("last_name", "first_name", "id")),
        "email": ("Email", (Lower("email"), "id")),
        "created": ("Added", ("created_at", "id")),
    },
    default_sort="name",
    columns={
        "account": "Account",
        "email": "Email",
        "phone": "Phone",
        "consent": "SMS consent",
        "owner": "Owner",
        "created": "Added",
        "clv_tier": "CLV tier",
    },
    default_columns=("account", "email", "phone", "consent", "owner"),
    filter_keys=("q", "account", "owner", "consent", "tag", "clv_tier"),
)

ACCOUNTS = ListSpec(
    name=SavedView.ListName.ACCOUNTS,
    sorts={
        "name": ("Name", (Lower("name"), "id")),
        "signed_up": ("Signed up", ("signed_up_at", "id")),
        "stage": ("Stage", ("lifecycle_stage", "id")),
    },
    default_sort="name",
    columns={},  # fixed columns
    default_columns=(),
    filter_keys=("q", "stage", "owner", "plan"),
)

SPECS = {spec.name: spec for spec in (CONTACTS, ACCOUNTS)}


def saved_views_for(user, list_name: str) -> QuerySet[SavedView]:
    """The user's own views of a list and those the team shares, by name."""
    return (
        SavedView.objects.filter(Q(owner=user) | Q(shared=True), list_name=list_name)
        .select_related("owner")
        .order_by("name", "id")
    )
