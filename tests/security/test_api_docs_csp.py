"""The API docs pages keep the strict CSP (issue 20): no inline script or style in either page;
ReDoc's run-time styles are allowed by a nonce fresh on each response, never 'unsafe-inline'.
(tests/e2e/test_api_docs.py renders both in a browser with no console error.)"""

import re

import pytest


@pytest.mark.django_db
def test_redoc_gets_a_fresh_style_nonce_and_no_inline_code(web):
    first, second = web.get("/api/v1/redoc/"), web.get("/api/v1/redoc/")
    assert first.status_code == 200
    policy = first["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    assert f'data-style-nonce="{nonce}"' in first.content.decode()
    assert nonce not in second["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "script-src 'self';" in policy
    html = first.content.decode()
    assert "<style" not in html and not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "fonts.googleapis.com" not in html


@pytest.mark.django_db
def test_swagger_has_no_inline_code_and_the_plain_policy(web, settings):
    response = web.get("/api/v1/docs/")
    html = response.content.decode()
    assert response["Content-Security-Policy"] == settings.CONTENT_SECURITY_POLICY
    assert "<style" not in html and not re.search(r"<script(?![^>]*\bsrc=)", html)


@pytest.mark.django_db
def test_other_pages_never_get_the_nonce(web, settings):
    assert web.get("/").get("Content-Security-Policy") == settings.CONTENT_SECURITY_POLICY
