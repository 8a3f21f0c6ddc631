"""The reply inbox: conversations, intents and their rules, routing, SLAs, deferrals and
saved replies (``services``, ``selectors``), with its pages (``views``) and API (``api``)."""
