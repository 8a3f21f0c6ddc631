"""Consent from CSV (registered in settings.IMPORT_KINDS as "consent").

Every row goes through ``sms.services.consent.consent_record`` like consent from the UI or the API,
so the ledger, the contact's derived state and the timeline stay in step. An imported row
needs the date it was given, where it was collected (its source) and, for an opt-in, proof
(the disclosure shown, a URL, an IP address, the keyword message, a note or the form);
without them it is rejected with the reason. An opt-out needs its source but no proof: a
request to stop texting is always honoured. Rows are recorded with the ``import`` source,
never ``keyword`` or ``provider_error``, so an imported opt-in cannot lift a STOP unless it is
a form submitted after the STOP (disclosure, url, ip and submitted_at columns)."""

from django.utils import timezone

from crm.imports.base import (
    ContactIndex,
    Importer,
    RowPlan,
    Target,
    contact_ref_from,
    parse_choice,
    parse_moment,
)
from crm.models import ImportAction
from sms.models import ConsentAction, ConsentEvent, ConsentSource, PhoneSuppression
from sms.services.consent import CONSENT_CLOCK_SKEW, PROOF_KEYS, consent_record
from sms.services.suppression import resubscribe_refusal

_ACTION_SYNONYMS = {
    "opt in": ConsentAction.OPT_IN,
    "opted in": ConsentAction.OPT_IN,
    "optin": ConsentAction.OPT_IN,
    "in": ConsentAction.OPT_IN,
    "yes": ConsentAction.OPT_IN,
    "subscribed": ConsentAction.OPT_IN,
    "subscribe": ConsentAction.OPT_IN,
    "true": ConsentAction.OPT_IN,
    "opt out": ConsentAction.OPT_OUT,
    "opted out": ConsentAction.OPT_OUT,
    "optout": ConsentAction.OPT_OUT,
    "out": ConsentAction.OPT_OUT,
    "no": ConsentAction.OPT_OUT,
    "unsubscribed": ConsentAction.OPT_OUT,
    "unsubscribe": ConsentAction.OPT_OUT,
    "stop": ConsentAction.OPT_OUT,
    "false": ConsentAction.OPT_OUT,
}
# Proof columns, named like the ledger's proof keys (the "file" key is the import itself).
PROOF_TARGETS = tuple(key for key in PROOF_KEYS if key != "file")


class ConsentImporter(Importer):
    kind = "consent"
    label = "SMS consent"
    description = (
        "Opt-ins and opt-outs of existing contacts (by email, phone, external id or id). Each row "
        "needs the date, the source it was collected from and, for an opt-in, proof; re-importing "
        "the same rows adds nothing to the ledger."
    )
    batch_size = 500
    targets = (
        Target("contact_email", "Contact email", ("email", "e mail", "email address")),
        Target("contact_phone", "Contact phone", ("phone", "mobile", "phone number", "cell")),
        Target("contact_external_id", "Contact external id", ("external id", "customer id")),
        Target("contact_id", "Contact id", ()),
        Target("action", "Action", ("consent", "status", "sms consent", "opt in", "subscribed")),
        Target(
            "occurred_at", "Given at", ("date", "timestamp", "consent date", "opted in at", "occurred at")
        ),
        Target("source", "Source", ("collected via", "collected from", "consent source", "channel")),
        Target("disclosure", "Proof: disclosure text", ("disclosure", "consent text", "terms")),
        Target("url", "Proof: URL", ("url", "page", "form url", "page url")),
        Target("ip", "Proof: IP address", ("ip", "ip address")),
        Target("message", "Proof: keyword message", ("keyword", "sms text", "message")),
        Target("note", "Proof: note", ("note", "notes", "comment")),
        Target("form", "Proof: form", ("form", "form name", "signup form")),
        Target("submitted_at", "Proof: form submitted at", ("submitted at", "form submitted at")),
    )

    def check_fields(self, used: set[str]) -> list[str]:
        return (
            self.require_one_of(
                used, ("contact_email", "contact_phone", "contact_external_id", "contact_id"), "the contact"
            )
            + self.require_all(used, ("action", "occurred_at", "source"))
            + self.require_one_of(used, PROOF_TARGETS, "the proof of opt-ins")
        )

    def prepare(self, row: RowPlan, texts: dict[str, str]) -> None:
        values = row.values
        ref = row.context["contact_ref"] = contact_ref_from(row, texts, self.phone_region)
        if not ref and not row.errors:
            row.errors.append("The row names no contact (email, phone, external id or id).")
        if texts.get("action"):
            try:
                values["action"] = parse_choice(
                    texts["action"], ConsentAction.choices, what="consent action", synonyms=_ACTION_SYNONYMS
                )
            except ValueError as exc:
                row.errors.append(str(exc))
        else:
            row.errors.append("The action (opt_in or opt_out) is missing.")
        if texts.get("occurred_at"):
            try:
                values["occurred_at"] = parse_moment(texts["occurred_at"], day_first=self.day_first)
            except ValueError as exc:
                row.errors.append(str(exc))
            else:
                if values["occurred_at"] > timezone.now() + CONSENT_CLOCK_SKEW:
                    row.errors.append("Consent cannot be recorded for a time in the future.")
        else:
            row.errors.append("The date the consent was given is missing.")
        source = texts.get("source", "")
        if not source:
            row.errors.append("The source is missing: say where the consent was collected.")
        proof = {key: texts[key][:2000] for key in PROOF_TARGETS if texts.get(key)}
        if values.get("action") == ConsentAction.OPT_IN and not proof:
            row.errors.append(
                "An opt-in needs proof: fill at least one of "
                + ", ".join(PROOF_TARGETS)
                + " (e.g. the disclosure text)."
            )
        values["proof"] = {**proof, "source": source[:200]}
        if texts.get("submitted_at"):
            try:
                submitted_at = parse_moment(texts["submitted_at"], day_first=self.day_first)
            except ValueError as exc:
                row.errors.append(str(exc))
            else:
                values["proof"]["submitted_at"] = submitted_at.isoformat()
        if ref and "action" in values and "occurred_at" in values:
            row.keys.append(f"consent:{ref.key}|{values['action']}|{values['occurred_at'].isoformat()}")
        row.label = str(ref.external_id or ref.email or ref.phone or ref.id or "")

    def plan(self, rows: list[RowPlan]) -> None:
        contacts = ContactIndex(row.context["contact_ref"] for row in rows)
        found = {}
        for row in rows:
            contact, reason = contacts.find(row.context["contact_ref"])
            if contact is None:
                row.skip(reason)
            found[row.line] = contact
        recorded = set(
            ConsentEvent.objects.filter(
                contact_id__in={c.pk for c in found.values() if c},
                occurred_at__in={row.values["occurred_at"] for row in rows},
            ).values_list("contact_id", "action", "occurred_at")
        )
        suppressions = PhoneSuppression.objects.in_bulk(
            {c.phone for c in found.values() if c and c.phone}, field_name="phone"
        )
        for row in rows:
            contact = found[row.line]
            if contact is None:
                continue
            row.record = contact
            action, occurred_at = row.values["action"], row.values["occurred_at"]
            label = ConsentAction(action).label.lower()
            suppression = suppressions.get(contact.phone) if action == ConsentAction.OPT_IN else None
            if (
                suppression is not None
                and occurred_at > suppression.since
                and (
                    reason := resubscribe_refusal(
                        suppression, source=ConsentSource.IMPORT, proof=row.values["proof"]
                    )
                )
            ):
                row.skip(reason)
            elif (contact.pk, action, occurred_at) in recorded:
                row.action = ImportAction.UNCHANGED
                row.reason = f"{contact} (#{contact.pk}) already has this {label} in the ledger."
            else:
                row.action = ImportAction.CREATE
                row.reason = (
                    f"Record an {label} for {contact} (#{contact.pk}) given {occurred_at:%Y-%m-%d %H:%M}."
                )

    def write(self, rows: list[RowPlan]) -> None:
        for row in rows:
            proof = {**row.values["proof"]}
            if self.job is not None:
                proof["import"] = {"job": self.job.pk, "file": self.job.file_name, "line": row.line}
            consent_record(
                contact=row.record,
                action=row.values["action"],
                source=ConsentSource.IMPORT,
                proof=proof,
                actor=self.actor,
                occurred_at=row.values["occurred_at"],
            )
