"""The Content-Security-Policy on every page, and pages that keep to it (no inline script or style)."""

import re

import pytest

pytestmark = pytest.mark.django_db


def test_every_page_has_a_strict_content_security_policy(alice_client, paper):
    for url in ("/", "/papers/", f"/papers/{paper.external_id}/", "/accounts/settings/", "/accounts/welcome/", "/admin/login/"):
        response = alice_client.get(url)
        assert response.status_code == 200, url
        policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
        assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'" and policy["style-src"] == "'self'", url
        assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'", url
        assert not re.search(r"<script>|<script [^>]*>[^<]|\sstyle=\"|\son[a-z]+=\"", response.text), url  # nothing inline


def test_the_api_docs_load_their_set_up_as_a_script_file(client):
    response = client.get("/api/docs/")
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))  # in any order
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self' 'unsafe-inline'"  # only Swagger UI's inline styles
    page = response.text
    assert not re.search(r"<script>|<script [^>]*>[^<]", page)
    script = re.search(r'<script src="(/api/docs/\?script=[^"]*)"', page).group(1).replace("&amp;", "&")
    response = client.get(script)
    assert response.status_code == 200 and "SwaggerUIBundle" in response.text
