"""Middleware: a Content-Security-Policy on every response (generated code, program output
and docs are rendered escaped, and the policy stops any script that slipped through
anyway), request bodies refused by their declared size before anything reads them, and
bearer tokens on the JSON API."""
from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse, JsonResponse

POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
])


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", POLICY)
        return response


class RequestSizeLimitMiddleware:
    """Refuse a body whose Content-Length is over REQUEST_MAX_BYTES with 413, before the
    CSRF middleware (or anything else) reads it: Django's DATA_UPLOAD_MAX_MEMORY_SIZE does
    not count file parts, so without this a huge multipart upload is spooled to disk
    first. Bodies without a Content-Length are still capped by Django's own limits."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.REQUEST_MAX_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            message = f"the request body is {length} bytes, over the limit of {limit} bytes"
            if "/api/" in request.path or "application/json" in request.META.get("HTTP_ACCEPT", ""):
                return JsonResponse({"error": message}, status=413)
            return HttpResponse(f"Request too large: {message}.\n", status=413, content_type="text/plain")
        return self.get_response(request)


class ApiTokenMiddleware:
    """`Authorization: Bearer scr_…` on an /api/ path authenticates as the token's user.

    Such a request carries no cookie, so CSRF (a defence for cookie sessions) does not
    apply to it; a wrong, revoked or malformed token is 401, never a fall-back to the
    session. Other paths ignore the header: a token opens the API, not the web pages."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header and "/api/" in request.path:
            scheme, _, raw = header.partition(" ")
            if scheme.lower() != "bearer" or not raw.strip():
                return JsonResponse({"error": "Authorization: expected 'Bearer <token>'"}, status=401)
            from curation.tokens import user_for_token

            user = user_for_token(raw.strip())
            if user is None:
                return JsonResponse({"error": "invalid or revoked API token"}, status=401)
            request.user = user
            request._dont_enforce_csrf_checks = True
        return self.get_response(request)
