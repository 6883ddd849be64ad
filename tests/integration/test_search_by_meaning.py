"""Search by meaning in a real web process: gunicorn loads the sentence encoder in a thread as it starts (never in a
request), searches full-text meanwhile, then finds a paper by a paraphrase that shares no word with it."""

import shutil

import httpx
import pytest

from recommender.services.training import retrain
from tasks.intake import embed_new_papers
from tests.factories import PaperFactory
from tests.integration.conftest import wait_for
from tests.integration.test_many_hosts import WebHost

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
PARAPHRASE = "protecting quantum computers from noise"


def test_a_web_process_finds_a_paper_by_meaning_once_its_encoder_is_loaded(community, meaning_on, service_env, tmp_path):
    retrain()
    target = PaperFactory(external_id="qubits", title="Error correction codes for superconducting qubits", abstract="Surface codes.")
    assert embed_new_papers() == 1  # the paper came after the model: its vector reaches the web process from the database
    shutil.copytree(meaning_on.MODEL_DIR, tmp_path / "web" / "models")  # the host's own model folder
    env = {**service_env, "CONTENT_EMBEDDINGS": "on", "EMBEDDING_DEVICE": "cpu", "MODEL_CHECK_SECONDS": "1"}
    host = WebHost(env, tmp_path, "web")
    try:

        def found() -> list[dict]:
            response = httpx.get(f"http://127.0.0.1:{host.port}/api/search/", params={"q": PARAPHRASE}, timeout=30)
            assert response.status_code == 200, response.text
            return response.json()["results"]

        results = wait_for(lambda: found() or None, timeout=120, what="the web process to search by meaning")
        assert results[0]["id"] == target.external_id and results[0]["by_meaning"] is True
        exact = httpx.get(f"http://127.0.0.1:{host.port}/api/search/", params={"q": "superconducting qubits"}, timeout=30).json()
        assert exact["results"][0]["id"] == target.external_id and exact["results"][0]["by_meaning"] is False
    finally:
        host.stop()
