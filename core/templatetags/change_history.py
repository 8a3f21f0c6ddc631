from django import template

from core.history import changes_for

register = template.Library()


@register.inclusion_tag("partials/change_history.html")
def change_history(obj, entries=None):
    """The object's change history: ``{% change_history play %}``."""
    return {"entries": changes_for(obj) if entries is None else entries}
