"""HTML pages of the CRM (filled by crm.views)."""

urlpatterns: list = []
