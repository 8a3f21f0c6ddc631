"""Conversations in the global search box (settings.SEARCH_PROVIDERS): the threads of the
contacts crm's search finds, so a number typed in any format finds its conversation too."""

from django.urls import reverse
from django.utils.http import urlencode

from crm.models import Contact
from crm.search import SearchGroup, SearchHit, contact_match
from sms.models import Conversation


def conversations_group(q: str, *, user, limit: int) -> SearchGroup:
    rows = list(
        Conversation.objects.filter(contact__in=Contact.objects.filter(contact_match(q)).values("pk"))
        .select_related("contact", "assignee")
        .order_by("-last_inbound_at", "-id")[: limit + 1]
    )
    inbox = reverse("inbox")

    def hit(conversation: Conversation) -> SearchHit:
        who = conversation.assignee or "unassigned"
        return SearchHit(
            title=str(conversation.contact),
            detail=f"{conversation.get_status_display()} · {who}",
            url=inbox + "?" + urlencode({"view": "all", "conversation": conversation.pk}),
        )

    return SearchGroup(
        label="Conversations",
        hits=[hit(c) for c in rows[:limit]],
        more_url=inbox + "?" + urlencode({"view": "all", "q": q}) if len(rows) > limit else "",
    )
