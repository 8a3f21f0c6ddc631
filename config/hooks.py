"""The settings-string hooks that remain: the few places where a lower app has to reach code of
an app built on it. Dependencies point one way (analytics -> plays -> sms -> crm -> core), so
crm cannot import sms or plays, nor sms plays; the lower app reads dotted paths (or URL names)
from these settings and resolves them when called. Each line says which way it inverts.
``config/settings.py`` takes them from here. Everything else imports its dependencies directly
(the demo data, for one, is an app of its own on top that imports the others)."""

# crm -> plays. Called after commit with the ids of newly stored product events: plays' event
# triggers run on them, and crm.services.events_ingest cannot import plays.
EVENT_HOOKS = ["plays.hooks.events_ingested"]

# crm, sms -> plays. Called after commit with (contact_ids=, account_ids=) when a contact replied,
# opted out or a deal was opened: a journey whose exits include it ends at once. Product events
# reach plays through EVENT_HOOKS. crm and sms cannot import plays.
CONTACT_SIGNAL_HOOKS = ["plays.hooks.contacts_signalled"]

# sms -> plays. Asked, in order, who should answer an inbound reply when its account has no
# owner: the play that sent the text knows, and the sms inbox cannot import plays.
REPLY_OWNER_HOOKS = ["plays.hooks.reply_owner"]

# crm -> sms, plays. Called, in order, inside the transaction of a contact merge with
# (survivor=, loser=, actor=): each moves its app's rows (consent, conversations, enrollments)
# from the loser to the survivor before crm.merge deletes the loser; crm cannot import them.
MERGE_HOOKS = ["sms.merge.contacts_merged", "plays.merge.contacts_merged"]

# crm -> sms. Called inside the transaction with the contacts that were just created with, or
# moved to, a phone number (contacts=): consent belongs to the number, so a contact that gets a
# number which opted out starts opted out; the suppressions live in sms, which crm cannot import.
CONTACT_NUMBER_HOOKS = ["sms.services.suppression.contacts_numbered"]

# crm -> sms. What CSV imports can load (UI and `manage.py import_csv KIND FILE`): kind ->
# importer class. crm.imports runs every kind, and the consent ledger it loads belongs to sms.
IMPORT_KINDS = {
    "contacts": "crm.imports.contacts.ContactImporter",
    "orders": "crm.imports.orders.OrderImporter",
    "renewals": "crm.imports.renewals.RenewalImporter",
    "consent": "sms.imports.ConsentImporter",
}

# crm -> sms, plays. Bulk actions on the contact list that belong to the apps above crm: action ->
# (label, dotted path of a view taking (request, ids=, back=)). Recording an opt-out goes through
# sms's consent service and enrolling through the plays engine, which crm cannot import.
CONTACT_BULK_ACTIONS = {
    "opt_out": ("Record an opt-out…", "sms.bulk.contacts_opt_out"),
    "enroll": ("Enroll in a play…", "plays.bulk.contacts_enroll"),
}

# crm -> sms. Panels other apps add to crm's contact page: URL names taking the contact id
# (the SMS conversation and consent panel), which crm's views cannot import.
CONTACT_PAGE_PANELS = ["sms_contact_panel"]

# crm -> sms, plays. Panels other apps add to crm's home page, in order: URL names taking no
# argument (replies waiting and SLAs at risk; what the plays did this week). The home page loads
# them with htmx, so crm's dashboard never imports the apps above it.
HOME_PAGE_PANELS = ["sms_home_panel", "plays_home_panel"]

# crm, sms, plays -> webhooks. Called inside the transaction of each change with the events it
# publishes (core.events.events_publish): the outbound webhooks write their outbox there, so a
# rolled-back change announces nothing; the apps that publish cannot import the webhooks app.
EVENT_SUBSCRIBERS = ["webhooks.outbox.events_record"]

# crm -> sms. What the global search box searches, in order: callables (q, user=, limit=) ->
# crm.search.SearchGroup. crm's own records come first; the conversations live in sms, which
# crm's search view cannot import.
SEARCH_PROVIDERS = [
    "crm.search.contacts_group",
    "crm.search.accounts_group",
    "crm.search.deals_group",
    "sms.inbox.search.conversations_group",
]
