"""REST API routes of the CRM under /api/v1/."""

urlpatterns: list = []
