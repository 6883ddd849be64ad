"""A model through the bucket: upload, one host's download, several workers of one host at once, and the memory it serves in.

    cd benchmarks && ../.venv/bin/python model_download.py --model-dir ../var/bench-models/M

With an S3-compatible server on loopback (moto's server mode, as the multi-host test starts it), the model folder
``--version`` of ``--model-dir`` (the newest there by default; training_scale.py --scale M --model-only writes one) is
uploaded as a retrain does (``model_files.model_upload``), then fetched by a new host --repeat times
(``model_files.model_folder`` into an empty folder: the download, each file's checksum, the rename), beside a plain
copy of the same folder on the local disk in the same run. Then four processes of one new host ask for it at once:
one downloads, the others wait and find it. Last, the memory a process takes to load the model from the trained folder
and from the fetched one (resident set after ``load_artifact`` less before: both memory-mapped). Prints a table, then
one line of JSON.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, machine

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
CHILD = """
import os, sys, time, resource
sys.path.insert(0, {repo!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django; django.setup()
from recommender.model_files import model_folder
from recommender.engine.artifacts import load_artifact
mode, version = sys.argv[1], sys.argv[2]
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
if mode == "fetch":
    start = time.perf_counter(); model_folder(version); print(time.perf_counter() - start)
else:
    before = rss(); artifact = load_artifact(model_folder(version)); print(rss() - before)
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_bucket_server() -> tuple[subprocess.Popen, str]:
    import socket

    port = free_port()
    server = subprocess.Popen([str(REPO / ".venv" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stderr=subprocess.DEVNULL)
    for _ in range(150):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return server, f"http://127.0.0.1:{port}"
        time.sleep(0.2)
    raise SystemExit("the S3 server did not start")


def child(mode: str, version: str, model_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "MODEL_DIR": str(model_dir), "LOG_LEVEL": "INFO"}
    code = CHILD.format(repo=str(REPO))
    return subprocess.Popen([sys.executable, "-c", code, mode, version], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen) -> tuple[float, str]:
    out, err = process.communicate(timeout=900)
    if process.returncode:
        raise SystemExit(err[-3000:])
    return float(out.strip().splitlines()[-1]), err


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=REPO / "var" / "bench-models" / "M")
    parser.add_argument("--version", help="a model folder in --model-dir (default: the newest)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    source = args.model_dir.resolve()
    version = args.version or max((p for p in source.iterdir() if (p / "params.json").exists()), key=lambda p: p.stat().st_mtime).name
    size = sum(file.stat().st_size for file in (source / version).iterdir())
    server, endpoint = start_bucket_server()
    os.environ.update(
        {
            **CREDENTIALS,
            "MODEL_STORAGE_URL": "s3://bench-models/site",
            "MODEL_STORAGE_ENDPOINT_URL": endpoint,
            "MODEL_DIR": str(source),
            "SECRET_KEY": os.environ.get("SECRET_KEY", "bench"),
            "DATABASE_URL": "sqlite:///:memory:",
            "LOG_LEVEL": "WARNING",
        }
    )
    from common import setup_django

    setup_django()
    import boto3

    from recommender.model_files import model_upload

    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench-models")
    work = Path(tempfile.mkdtemp(prefix="model-download-"))
    try:
        start = time.perf_counter()
        model_upload(version)
        upload = time.perf_counter() - start
        downloads, copies = [], []
        for n in range(args.repeat):
            downloads.append(finished(child("fetch", version, work / f"host-{n}"))[0])
            start = time.perf_counter()
            shutil.copytree(source / version, work / f"copy-{n}" / version)
            copies.append(time.perf_counter() - start)
        together = [child("fetch", version, work / "busy-host") for _ in range(4)]
        results = [finished(process) for process in together]
        fetched_by = sum("fetched from" in err for _, err in results)
        memory = {
            "trained folder": finished(child("load", version, source))[0],
            "fetched folder": finished(child("load", version, work / "host-0"))[0],
        }
    finally:
        server.terminate()
        shutil.rmtree(work, ignore_errors=True)
    report = {
        "benchmark": "model_download",
        "machine": machine(),
        "version": version,
        "megabytes": round(size / 1e6, 1),
        "files": len(list((source / version).iterdir())),
        "upload_seconds": round(upload, 2),
        "download_seconds": [round(s, 2) for s in downloads],
        "local_copy_seconds": [round(s, 2) for s in copies],
        "download_over_copy": round(statistics.median(downloads) / statistics.median(copies), 2),
        "four_workers_seconds": [round(s, 2) for s, _ in results],
        "four_workers_downloads": fetched_by,
        "load_rss_mib": {name: round(value, 1) for name, value in memory.items()},
    }
    print(f"model download ({machine()}): {version}, {report['files']} files, {report['megabytes']} MB, S3 server on loopback")
    print(f"| upload | download (median of {args.repeat}) | local copy (median) | download / copy | 4 at once: slowest, downloads |")
    print(
        f"| {upload:.2f} s | {statistics.median(downloads):.2f} s | {statistics.median(copies):.2f} s | {report['download_over_copy']}x "
        f"| {max(report['four_workers_seconds']):.2f} s, {fetched_by} |"
    )
    print("| loaded from | resident memory added by load_artifact |")
    for name, value in memory.items():
        print(f"| {name} | {value:.1f} MiB |")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
