"""The API docs pages under our Content-Security-Policy (issue 20).

ReDoc builds its styles at run time (styled-components inserts <style> elements), which a
strict ``style-src 'self'`` refuses, and ReDoc then crashes. Rather than allow inline styles
(``'unsafe-inline'``), the ReDoc page gets a fresh nonce in its own policy (``style-src 'self'
'nonce-…'``) and hands it to ReDoc (its ``nonce`` option), which puts it on every <style> it
adds. Scripts stay ``'self'`` only: both pages start from our own files."""

import secrets

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView

# Two <style> elements the ReDoc bundle (drf-spectacular-sidecar's redoc.standalone.js, ReDoc
# 2.5.4) adds as it loads, before it is given the nonce: the perfect-scrollbar stylesheet and an
# empty element. Allowed by their hashes (Chromium names them in the violation it reports); a
# new bundle with other content fails tests/e2e/test_api_docs.py, which prints the new hashes.
REDOC_LOAD_STYLE_HASHES = (
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
)


class RedocView(SpectacularRedocView):
    template_name = "api/redoc.html"

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        nonce = secrets.token_urlsafe(18)
        # Read by config.middleware.ContentSecurityPolicyMiddleware for this response only.
        request._request.csp_style_sources = (f"'nonce-{nonce}'", *REDOC_LOAD_STYLE_HASHES)
        response = super().get(request, *args, **kwargs)
        response.data["style_nonce"] = nonce
        return response
