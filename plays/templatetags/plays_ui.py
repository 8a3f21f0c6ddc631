"""How play decisions read to a person: reasons as sentences instead of codes
(``consent:not_opted_in`` -> "Not opted in to texts"), control rows as the control group."""

from django import template

register = template.Library()

# The reasons the engine (plays.engine) and governance (sms.governance) write.
REASON_LABELS = {
    "holdout": "Control group (held out)",
    "consent:not_opted_in": "Not opted in to texts",
    "consent:opted_out": "Opted out of texts",
    "cap:contact_daily": "Daily text limit for the contact reached",
    "cap:contact_weekly": "Weekly text limit for the contact reached",
    "cap:account_weekly": "Weekly text limit for the account reached",
    "cap:play_cooldown": "Texted by this play recently (cooldown)",
    "contact:missing": "Contact no longer exists",
    "contact:no_phone": "No phone number",
    "contact:demo_data": "Demo contact",
    "deferral:account": "Account asked to be contacted later",
    "deferral:contact": "Contact asked to be contacted later",
    "human:agent_conversation": "A person is talking with the contact",
    "human:late_stage_deal": "A late-stage deal is open",
    "human:other_channel": "Recently reached on another channel",
    "priority:another_play_this_run": "Another play texts them in this run",
    "template:empty": "The message came out empty",
    "template:no_renewal": "No renewal to mention",
    "quiet_hours": "Quiet hours (sent later)",
}
PREFIX_LABELS = {"play:": "Held by another play", "state:": "State rules"}


@register.filter
def reason_label(reason: str | None) -> str:
    """A reason code as a person reads it; unknown codes are made readable, never hidden."""
    if not reason:
        return ""
    if reason in REASON_LABELS:
        return REASON_LABELS[reason]
    for prefix, label in PREFIX_LABELS.items():
        if reason.startswith(prefix):
            return f"{label} ({reason.removeprefix(prefix).replace('_', ' ')})"
    return reason.replace(":", ": ").replace("_", " ").capitalize()


@register.filter
def outcome_label(enrollment) -> str:
    """A control-arm row is the held-out group, not a suppressed text."""
    if getattr(enrollment, "arm", "") == "control":
        return "Control group (held out)"
    return enrollment.get_outcome_display()
