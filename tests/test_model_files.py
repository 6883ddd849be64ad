"""Models in a bucket: a retrain uploads before it activates, each host fetches the active model once, checks it, resumes
a cut-off download, and keeps serving what it has while the bucket is down (a real S3-compatible server on loopback)."""

import json
import logging
import threading

import pytest
from django.core.management import call_command

from recommender.model_files import MANIFEST, ModelUnavailable, cache_prune, local_folder, model_folder
from recommender.model_store import kept_versions, store
from recommender.models import TrainingRun
from recommender.services.training import retrain
from tests.conftest import free_port

pytestmark = pytest.mark.django_db
Status = TrainingRun.Status


def keys_in(bucket) -> set[str]:
    client, name = bucket
    return {item["Key"] for item in client.list_objects_v2(Bucket=name).get("Contents", [])}


def another_host(settings, tmp_path, name: str):
    """This process from now on plays a host with its own, empty model folder."""
    settings.MODEL_DIR = tmp_path / name
    store.clear()


def test_a_retrain_uploads_the_model_and_another_host_fetches_it(community, model_bucket, settings, tmp_path):
    run = retrain()
    assert run.status == Status.ACTIVATED and run.timings["upload"] >= 0
    trained = local_folder(run.version)
    client, name = model_bucket
    manifest = json.loads(client.get_object(Bucket=name, Key=f"paperfeed/{run.version}/{MANIFEST}")["Body"].read())
    assert set(manifest["files"]) == {path.name for path in trained.iterdir()}
    assert keys_in(model_bucket) == {f"paperfeed/{run.version}/{file}" for file in [*manifest["files"], MANIFEST]}

    another_host(settings, tmp_path, "web-2")
    assert not local_folder(run.version).exists()
    served = store.current()
    assert served.version == run.version
    fetched = local_folder(run.version)
    assert sorted(path.name for path in fetched.iterdir()) == sorted(path.name for path in trained.iterdir())
    assert all((fetched / file).read_bytes() == (trained / file).read_bytes() for file in manifest["files"])


def test_many_workers_of_one_host_download_once(community, model_bucket, settings, tmp_path, caplog):
    run = retrain()
    another_host(settings, tmp_path, "web-2")
    folders, errors = [], []

    def worker():
        try:
            folders.append(model_folder(run.version))
        except Exception as exc:  # pragma: no cover - reported by the assert below
            errors.append(exc)

    with caplog.at_level(logging.INFO, logger="recommender.model_files"):
        threads = [threading.Thread(target=worker) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert not errors and len(folders) == 6 and len(set(folders)) == 1
    assert sum("fetched from" in record.getMessage() for record in caplog.records) == 1


def test_a_cut_off_download_resumes_and_a_corrupt_file_is_fetched_again(community, model_bucket, settings, tmp_path, caplog):
    run = retrain()
    trained = local_folder(run.version)
    another_host(settings, tmp_path, "web-2")
    partial = local_folder(run.version).with_name(f".{run.version}.download")
    partial.mkdir(parents=True)
    big = max(trained.iterdir(), key=lambda path: path.stat().st_size)
    (partial / big.name).write_bytes(big.read_bytes()[: big.stat().st_size // 2])  # cut off half-way
    small = next(path for path in trained.iterdir() if path.name == "params.json")
    (partial / small.name).write_bytes(b"x" * small.stat().st_size)  # whole, but not what the bucket holds
    assert model_folder(run.version) == local_folder(run.version)
    assert not partial.exists()
    for file in trained.iterdir():
        assert (local_folder(run.version) / file.name).read_bytes() == file.read_bytes(), file.name


def test_a_bucket_that_is_down_at_retrain_fails_the_run_and_the_old_model_stays(community, model_bucket, settings):
    first = retrain()
    settings.MODEL_STORAGE_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    second = retrain()
    assert second.status == Status.FAILED and "could not be uploaded" in second.message
    first.refresh_from_db()
    assert first.is_active and store.current().version == first.version
    assert not local_folder(second.version).exists()  # the failed run's files were pruned here


def test_a_host_that_starts_while_the_bucket_is_down_serves_trending_until_it_can_fetch(
    community, model_bucket, settings, tmp_path, caplog
):
    run = retrain()
    up = settings.MODEL_STORAGE_ENDPOINT_URL
    another_host(settings, tmp_path, "web-3")
    settings.MODEL_STORAGE_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    with caplog.at_level(logging.ERROR, logger="recommender.model_store"):
        assert store.current() is None  # not a fallback built from the catalogue: the newest and trending papers
        assert store.current() is None
    said = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(said) == 1 and f"model {run.version} cannot be fetched" in said[0] and "serving the newest and trending papers" in said[0]
    with pytest.raises(ModelUnavailable):
        model_folder(run.version)
    settings.MODEL_STORAGE_ENDPOINT_URL = up
    assert store.current().version == run.version


def test_old_versions_leave_the_bucket_and_every_host(community, model_bucket, settings, tmp_path):
    settings.MODEL_FILES_KEEP = 0
    settings.ACTIVATION_TOLERANCE = 1.0  # every retrain is activated
    first = retrain()
    web = tmp_path / "web-2"
    trainer_dir = settings.MODEL_DIR
    settings.MODEL_DIR = web
    model_folder(first.version)  # the web host has fetched the first model
    settings.MODEL_DIR = trainer_dir
    second = retrain()
    assert second.status == Status.ACTIVATED
    first.refresh_from_db()
    assert first.artifact_deleted_at is not None
    assert all(key.startswith(f"paperfeed/{second.version}/") for key in keys_in(model_bucket))
    settings.MODEL_DIR = web
    model_folder(second.version)
    assert cache_prune(kept_versions()) == [first.version]
    assert sorted(path.name for path in web.iterdir() if not path.name.endswith(".lock")) == [second.version]


def test_with_no_bucket_the_model_folder_is_all_there_is(community, settings):
    assert not settings.MODEL_STORAGE_URL
    call_command("retrain")
    run = TrainingRun.objects.get()
    assert model_folder(run.version) == settings.MODEL_DIR / run.version and "upload" not in run.timings
    assert cache_prune(set()) == []  # the trainer's folder is never a cache to prune


@pytest.mark.parametrize(
    "files",
    [
        {"../../escaped.npy": {"size": 1, "sha256": "0" * 64}},
        {"/etc/escaped": {"size": 1, "sha256": "0" * 64}},
        {"params.json": {"size": -1, "sha256": "0" * 64}},
        {"params.json": {"size": 1, "sha256": "not a checksum"}},
        "not a mapping",
    ],
)
def test_a_manifest_that_is_not_valid_is_refused_and_writes_nothing(model_bucket, settings, tmp_path, files):
    client, name = model_bucket
    client.put_object(Bucket=name, Key=f"paperfeed/hostile/{MANIFEST}", Body=json.dumps({"version": "hostile", "files": files}).encode())
    settings.MODEL_DIR = tmp_path / "host" / "models"
    with pytest.raises(ModelUnavailable, match="manifest in the bucket is not valid"):
        model_folder("hostile")
    written = {path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*")}
    assert written <= {"host", "host/models", "host/models/.hostile.lock"}
