"""REST API of the CRM under /api/v1/ (routes in crm.api_urls).

Serializers validate input and shape output; every write goes through ``crm.services`` so the
API, the web UI and imports behave alike. ``serializers`` holds the record resources,
``batch`` the bulk, idempotent orders and events, ``views`` the viewsets."""
