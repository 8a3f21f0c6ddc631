"""Cross-cutting HTTP conventions of the REST API that no single view should repeat."""

from http import HTTPStatus

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import NoReverseMatch, reverse


class CreatedLocationMiddleware:
    """A ``201 Created`` from a collection's create gets ``Location``: the new record's own URL
    (the viewset's ``<basename>-detail`` route with the returned id). Batch creates (a list
    in, counts out) and actions that create something elsewhere name no single record: none."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        view = getattr(request, "_created_location_view", None)
        if response.status_code == 201 and view is not None and not response.has_header("Location"):
            location = self._location(view, getattr(response, "data", None))
            if location:
                response["Location"] = location
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        actions = getattr(view_func, "actions", None) or {}
        if request.method == "POST" and actions.get("post") == "create":
            request._created_location_view = view_func

    @staticmethod
    def _location(view_func, data) -> str | None:
        basename = (getattr(view_func, "initkwargs", None) or {}).get("basename")
        viewset = getattr(view_func, "cls", None)
        if not basename or viewset is None or not isinstance(data, dict):
            return None
        lookup_field = getattr(viewset, "lookup_field", "pk")
        value = data.get("id" if lookup_field == "pk" else lookup_field)
        if value is None:
            return None
        kwarg = getattr(viewset, "lookup_url_kwarg", None) or lookup_field
        try:
            return reverse(f"{basename}-detail", kwargs={kwarg: value})
        except NoReverseMatch:  # a create-only collection without a detail route
            return None


class ApiErrorShapeMiddleware:
    """Errors that Django answers before or around the API views (an unknown URL under /api/, a
    body too large to read) come as HTML pages; under /api/ they get the API's one error shape,
    ``{"detail": ..., "code": ...}``, like every error the views raise."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and request.path_info.startswith("/api/")
            and response.get("Content-Type", "").startswith("text/html")
            and not response.streaming
        ):
            try:
                phrase = HTTPStatus(response.status_code).phrase
            except ValueError:  # a status code without a standard name
                phrase = "Error"
            shaped = JsonResponse(
                {"detail": f"{phrase}.", "code": phrase.lower().replace(" ", "_").replace("-", "_")},
                status=response.status_code,
            )
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if response.has_header(header):
                    shaped[header] = response[header]
            return shaped
        return response
