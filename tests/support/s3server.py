"""A real S3 API server for tests and benchmarks: moto in server mode on 127.0.0.1.

The server speaks HTTP like any S3 endpoint; navsnap reaches it only through the usual AWS
environment variables (``AWS_ENDPOINT_URL`` and keys), exactly as it would reach AWS or MinIO.
Authentication is off unless :meth:`MotoS3.enforce_auth` is active; then only keys created
with :meth:`MotoS3.create_user` are accepted and IAM policies are enforced.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from typing import Any

REGION = "us-east-1"
logging.getLogger("werkzeug").setLevel(logging.ERROR)
ROOT_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoS3:
    """A moto server thread; ``env`` holds what a client needs (endpoint, region, keys)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def start(self) -> MotoS3:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def env(self) -> dict[str, str]:
        return {
            **ROOT_KEYS,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }

    def client(self, service: str = "s3", **keys: str) -> Any:
        import boto3

        creds = {
            "aws_access_key_id": keys.get("key", ROOT_KEYS["AWS_ACCESS_KEY_ID"]),
            "aws_secret_access_key": keys.get("secret", ROOT_KEYS["AWS_SECRET_ACCESS_KEY"]),
        }
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION, **creds)

    def new_bucket(self, prefix: str = "navsnap") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def create_user(
        self, actions: list[str], *, extra: list[dict[str, Any]] | None = None
    ) -> dict[str, str]:
        """An IAM user allowed ``actions`` on every resource (plus ``extra`` policy
        statements); its keys as AWS_* variables."""
        iam = self.client("iam")
        name = f"user-{uuid.uuid4().hex[:8]}"
        iam.create_user(UserName=name)
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": actions, "Resource": "*"},
                *(extra or []),
            ],
        }
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        }

    @contextlib.contextmanager
    def enforce_auth(self) -> Iterator[None]:
        """IAM authentication and authorization on (the server runs in this process)."""
        from moto import settings

        old = settings.INITIAL_NO_AUTH_ACTION_COUNT
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        try:
            yield
        finally:
            settings.INITIAL_NO_AUTH_ACTION_COUNT = old


@contextlib.contextmanager
def running() -> Iterator[MotoS3]:
    server = MotoS3().start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block, then put the old values back."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class MotoProcess(MotoS3):
    """A moto server in its own process, so a test can SIGSTOP it (a server that stops
    answering) without stopping itself. Always used through :func:`running_process`."""

    def __init__(self) -> None:
        import subprocess
        import sys

        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        import time

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("moto server did not start")

    def pause(self) -> None:
        import signal

        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        import signal

        self.proc.send_signal(signal.SIGCONT)


@contextlib.contextmanager
def running_process() -> Iterator[MotoProcess]:
    """A moto server process; in the end it is continued (if stopped) and killed."""
    server = MotoProcess()
    try:
        server.wait_ready()
        yield server
    finally:
        server.resume()
        server.proc.kill()
        server.proc.wait(timeout=30)
