"""The plays side of a contact merge (settings.MERGE_HOOKS): enrollments move to the survivor.

An enrollment is the one decision about one trigger occurrence for one contact. When both
contacts were decided for the same play and occurrence, the earliest decision stays (it is
the one the contact was exposed to first) and the later one is removed, so the merged
contact never has two decisions for one occurrence."""

from django.db.models import Q

from crm.models import Contact
from plays.models import Enrollment


def contacts_merged(*, survivor: Contact, loser: Contact, actor=None) -> dict[str, int]:
    theirs = list(
        Enrollment.objects.filter(contact=loser).values_list("pk", "play_id", "occurrence", "decided_at")
    )
    if not theirs:
        return {}
    overlap = Q()
    for _, play_id, occurrence, _ in theirs:
        overlap |= Q(play_id=play_id, occurrence=occurrence)
    mine = {
        (play_id, occurrence): (decided_at, pk)
        for pk, play_id, occurrence, decided_at in Enrollment.objects.filter(contact=survivor)
        .filter(overlap)
        .values_list("pk", "play_id", "occurrence", "decided_at")
    }
    dropped = []
    for pk, play_id, occurrence, decided_at in theirs:
        kept = mine.get((play_id, occurrence))
        if kept is None:
            continue
        # The earliest decision stays (at the same instant, the one stored first).
        dropped.append(pk if kept <= (decided_at, pk) else kept[1])
    Enrollment.objects.filter(pk__in=dropped).delete()
    moved = Enrollment.objects.filter(contact=loser).update(contact=survivor)
    result = {"enrollments": moved}
    if dropped:
        result["enrollments decided twice (later one removed)"] = len(dropped)
    return result
