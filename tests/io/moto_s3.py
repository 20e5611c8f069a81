"""A real S3 server for tests: moto's standalone server on a free localhost port.

    with S3Server() as s3:                      # bucket created; s3fs in this process points at it
        uri = s3.upload(path, "in/a.mp4")       # -> "s3://<bucket>/in/a.mp4"

While it runs, the environment names it (``AWS_*`` credentials and ``FSSPEC_S3_ENDPOINT_URL``, the
variable fsspec reads into ``fsspec.config.conf["s3"]["endpoint_url"]`` when it is imported), so a
subprocess or a Ray worker started meanwhile reaches the same server with no code of its own; this
process already imported fsspec, so its config is set directly. Everything is restored on exit.

The server records every request (method, path) and can delay chosen methods, which makes
latency-bound behaviour (parallel HEAD requests) observable at the server.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import fsspec
import fsspec.config
from moto.server import DomainDispatcherApplication, ThreadedMotoServer, create_backend_app
from werkzeug.serving import make_server

KEY = SECRET = "humo-test"


class RequestLog:
    """WSGI middleware: counts requests per method and path, tracks the peak of concurrent ones."""

    def __init__(self, app: Any):
        self.app = app
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self.delay: dict[str, float] = {}  # method -> seconds to hold each request
        self._in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        with self.lock:
            self.requests.append((method, path))
            self._in_flight[method] += 1
            self.peak[method] = max(self.peak[method], self._in_flight[method])
        try:
            if self.delay.get(method):
                time.sleep(self.delay[method])
            return self.app(environ, start_response)
        finally:
            with self.lock:
                self._in_flight[method] -= 1

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.peak.clear()

    def count(self, method: str, prefix: str = "") -> int:
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and p.startswith(prefix))


class _RecordingMotoServer(ThreadedMotoServer):
    """moto's threaded server with the request log around its WSGI app."""

    def _server_entry(self) -> None:
        self.log = RequestLog(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, self.log, True)
        self._server_ready_event.set()
        self._server.serve_forever()


class S3Server:
    def __init__(self, bucket: str | None = None):
        self.bucket = bucket or f"humo-{uuid.uuid4().hex[:10]}"
        self._server = _RecordingMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._saved_env: dict[str, str | None] = {}
        self._saved_conf: dict[str, Any] | None = None
        self.endpoint = ""

    # --- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> S3Server:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request otherwise
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        env = {
            "AWS_ACCESS_KEY_ID": KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "FSSPEC_S3_ENDPOINT_URL": self.endpoint,
        }
        for k, v in env.items():
            self._saved_env[k] = os.environ.get(k)
            os.environ[k] = v
        self._saved_conf = fsspec.config.conf.get("s3")
        fsspec.config.conf["s3"] = {**(self._saved_conf or {}), "endpoint_url": self.endpoint}
        self._clear_instances()
        self.fs.mkdir(self.bucket)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._clear_instances()
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if self._saved_conf is None:
            fsspec.config.conf.pop("s3", None)
        else:
            fsspec.config.conf["s3"] = self._saved_conf
        self._server.stop()

    @staticmethod
    def _clear_instances() -> None:
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()

    # --- use ------------------------------------------------------------------------------------
    @property
    def log(self) -> RequestLog:
        return self._server.log

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        """A client of its own (no shared instance, no directory cache carried between calls)."""
        fs = fsspec.filesystem("s3", endpoint_url=self.endpoint, skip_instance_cache=True)
        fs.invalidate_cache()
        return fs

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def upload(self, path: Path | str, key: str) -> str:
        self.fs.put_file(str(path), f"{self.bucket}/{key}")
        return self.uri(key)

    def keys(self, prefix: str) -> list[str]:
        """Keys under ``prefix`` (relative to the bucket), as the server has them now."""
        found = self.fs.find(f"{self.bucket}/{prefix}")
        return sorted(p.split("/", 1)[1] for p in found)

    def read(self, key: str) -> bytes:
        return self.fs.cat_file(f"{self.bucket}/{key}")
