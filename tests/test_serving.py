"""How the site is served: gunicorn from the Procfile, a cheap /healthz for load balancers, hashed static files."""

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port

pytestmark = pytest.mark.django_db


def test_healthz_answers_any_host_over_plain_http_without_touching_the_database(client, settings, django_assert_num_queries):
    settings.ALLOWED_HOSTS = ["paperfeed.example.org"]
    settings.SECURE_SSL_REDIRECT = True
    with django_assert_num_queries(0):
        response = client.get("/healthz", HTTP_HOST="10.1.2.3")
    assert response.status_code == 200 and response.content == b"ok\n" and response["Cache-Control"] == "no-store"
    assert client.get("/status", HTTP_HOST="10.1.2.3").status_code == 400  # everything else still checks the host


def test_the_procfile_serves_the_site_with_gunicorn(tmp_path):
    line = next(line for line in (REPO / "Procfile").read_text().splitlines() if line.startswith("web:"))
    command = line.removeprefix("web:").strip().replace(".venv/bin/", str(Path(sys.executable).parent) + "/")
    assert "gunicorn" in command and "runserver" not in command
    port = free_port()
    env = {**os.environ, "WEB_PORT": str(port), "WEB_CONCURRENCY": "2", "DEBUG": "0", "DJANGO_SETTINGS_MODULE": "config.settings"}
    server = subprocess.Popen(
        command, shell=True, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert response.status == 200 and response.read() == b"ok\n"
                    break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, (
                    server.stdout.read().decode() if server.poll() is not None else "timed out"
                )
                time.sleep(0.2)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    from config import gunicorn

    assert gunicorn.backlog >= 1024 and gunicorn.workers >= 2


def test_static_files_have_hashed_names_and_are_cached_for_ever(client):
    page = client.get("/papers/").text
    css = re.search(r'href="(/static/recommender/style\.[0-9a-f]{12}\.css)"', page).group(1)
    response = client.get(css)
    assert response.status_code == 200 and "max-age=315360000" in response["Cache-Control"] and "immutable" in response["Cache-Control"]
