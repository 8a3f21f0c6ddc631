"""CSV imports: contacts (with accounts), orders, renewals and, from the sms app, consent.

The kinds are listed in settings.IMPORT_KINDS (kind -> importer class path), so apps above crm
add their own without crm importing them. ``crm.imports.jobs`` runs an import (dry run or
real) for the UI, its background task and the ``import_csv`` command."""

from django.conf import settings
from django.utils.module_loading import import_string

from crm.imports.base import Importer


class UnknownImportKind(ValueError):
    pass


def import_kinds() -> list[str]:
    return list(settings.IMPORT_KINDS)


def importer_class(kind: str) -> type[Importer]:
    try:
        path = settings.IMPORT_KINDS[kind]
    except KeyError:
        raise UnknownImportKind(
            f"Cannot import {kind!r}: choose one of {', '.join(settings.IMPORT_KINDS)}."
        ) from None
    return import_string(path)


def kind_choices() -> list[tuple[str, str]]:
    return [(kind, importer_class(kind).label) for kind in import_kinds()]
