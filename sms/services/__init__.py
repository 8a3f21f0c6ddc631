"""Writes of the SMS module, one module per job: ``consent`` (the ledger and who may be
texted), ``sending`` (queueing and refusals), ``delivery`` (claim, send, record, sweep) and
``status`` (provider status callbacks). Receiving a text is ``sms.inbound``."""
