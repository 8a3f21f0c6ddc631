"""Twilio: the client (``client.TwilioProvider``, the official SDK), its webhooks
(``webhooks``) and what its statuses and error codes mean (``vocabulary``)."""
