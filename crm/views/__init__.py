"""HTML pages of the CRM. Views are thin: they read through ``crm.selectors`` and write
through ``crm.services``."""
