"""core.errors: one DomainError, its one DRF handler and its one helper for HTML views."""

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.test import RequestFactory
from rest_framework.exceptions import NotFound
from rest_framework.settings import api_settings
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from core.errors import DomainError, exception_handler, html_domain_errors
from tests.factories import UserFactory


class Overbooked(DomainError):
    """A subclass with its own defaults, as services declare them."""

    code = "overbooked"
    status = 409


class BadWindow(DomainError):
    field = "until"


def test_a_domain_error_carries_code_message_and_status():
    error = DomainError("No.", code="refused", status=422)
    assert (error.code, error.message, error.status, str(error)) == ("refused", "No.", 422, "No.")
    assert (DomainError("Bad.").code, DomainError("Bad.").status) == ("invalid", 400)
    assert (Overbooked("Full.").code, Overbooked("Full.").status) == ("overbooked", 409)
    assert Overbooked("Full.", status=423).status == 423


def test_the_handler_answers_a_domain_error_with_its_status_and_body():
    response = exception_handler(Overbooked("The room is full."), {})
    assert response.status_code == 409
    assert response.data == {"detail": "The room is full.", "code": "overbooked"}


def test_a_domain_error_of_one_field_answers_like_that_field_s_validation_error():
    response = exception_handler(BadWindow("Pick a time in the future."), {})
    assert response.status_code == 400
    assert response.data == {"until": ["Pick a time in the future."]}


def test_the_handler_keeps_drf_and_database_errors_as_they_were():
    assert exception_handler(NotFound(), {}).status_code == 404
    invalid = exception_handler(DjangoValidationError({"email": ["Taken."]}), {})
    assert (invalid.status_code, invalid.data) == (400, {"email": ["Taken."]})
    assert exception_handler(IntegrityError("unique"), {}).status_code == 409
    assert exception_handler(RuntimeError("a bug"), {}) is None  # a bug stays a 500


def test_the_handler_is_the_api_s_one_handler(db):
    assert api_settings.EXCEPTION_HANDLER is exception_handler

    class Refusing(APIView):
        def post(self, request):
            raise Overbooked("The room is full.")

    request = APIRequestFactory().post("/anything/", {}, format="json")
    force_authenticate(request, user=UserFactory())
    response = Refusing.as_view()(request)
    assert (response.status_code, response.data) == (
        409,
        {"detail": "The room is full.", "code": "overbooked"},
    )


def _page_again(request, error, pk, **kwargs):
    return HttpResponse(f"{pk}: {error.message}")


@html_domain_errors(_page_again)
def _view(request, pk, fail=None):
    if fail:
        raise fail
    return HttpResponse("done", status=201)


def test_the_html_helper_renders_the_error_page_with_the_error_s_status():
    request = RequestFactory().post("/things/7/")
    response = _view(request, 7, fail=Overbooked("The room is full."))
    assert (response.status_code, response.content) == (409, b"7: The room is full.")


def test_the_html_helper_leaves_answers_and_other_errors_alone():
    request = RequestFactory().post("/things/7/")
    assert _view(request, 7).status_code == 201
    with pytest.raises(RuntimeError):
        _view(request, 7, fail=RuntimeError("a bug"))


def test_an_error_page_that_redirects_keeps_its_redirect():
    @html_domain_errors(lambda request, error, pk: redirect(f"/things/{pk}/?error={error.code}"))
    def run(request, pk):
        raise Overbooked("The room is full.")

    response = run(RequestFactory().post("/things/7/run/"), 7)
    assert (response.status_code, response["Location"]) == (302, "/things/7/?error=overbooked")
