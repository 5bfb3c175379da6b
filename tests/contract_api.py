"""A second, independent imitation of the API contract, for client tests.

Written from ``API_CONTRACT.md`` alone and deliberately apart from
``gen3widgets.simulator``, so the client is checked against a server it was
not written alongside. It runs through ``httpx.MockTransport`` (sync and
async), keeps time on a ``FakeClock``, and plays scripted faults in order.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.fakes import FakeClock

PATH = "/v2/generate/video/runway/generation"
BASE = "https://api.test"
CDN = "https://cdn.test"

# A fault is a callable returning a response or raising an httpx exception;
# ``bought`` says whether the create was charged before the fault happened.


@dataclass
class Fault:
    make: Callable[[httpx.Request], httpx.Response]
    bought: bool = False


def status(code: int, body: Any = None, headers: dict[str, str] | None = None) -> Fault:
    payload = body if body is not None else {"message": f"error {code}", "statusCode": code}
    content = payload if isinstance(payload, str) else json.dumps(payload)
    return Fault(lambda r: httpx.Response(code, content=content, headers=headers or {}))


def raising(exc_type: type[Exception], bought: bool = False) -> Fault:
    def make(request: httpx.Request) -> httpx.Response:
        raise exc_type("simulated fault", request=request)  # type: ignore[call-arg]

    return Fault(make, bought)


def html_502() -> Fault:
    return Fault(
        lambda r: httpx.Response(
            502,
            content=b"<html><body><h1>502 Bad Gateway</h1></body></html>",
            headers={"Content-Type": "text/html"},
        )
    )


def truncated(bought: bool = False) -> Fault:
    return Fault(lambda r: httpx.Response(200, content=b'{"id": "abc", "sta'), bought)


@dataclass
class Job:
    id: str
    body: dict[str, Any]
    created: float
    seconds: float
    fail_with: Any = None
    gets: int = 0
    url_version: int = 0


@dataclass
class ContractAPI:
    clock: FakeClock
    job_seconds: float = 8.0
    video_shape: str = "list"  # or "object"
    usage_key: str = "tokens_used"
    phases: tuple[str, str] = ("waiting", "processing")
    fail_with: Any = None  # an error object: every job ends in "error" with it
    create_faults: list[Fault] = field(default_factory=list)
    get_faults: list[Fault] = field(default_factory=list)
    video_faults: list[Fault] = field(default_factory=list)
    expired_versions: set[int] = field(default_factory=set)  # video URL versions that 403
    jobs: dict[str, Job] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    requests: list[httpx.Request] = field(default_factory=list)
    video_bytes: bytes = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 2000
    video_content_type: str = "video/mp4"

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    @property
    def bought(self) -> int:
        return self.counts["bought"]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host == httpx.URL(CDN).host:
            return self._video(request)
        if request.url.path != PATH:
            return httpx.Response(404, json={"message": "Cannot find path", "statusCode": 404})
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return httpx.Response(401, json={"message": "Unauthorized", "statusCode": 401})
        if request.method == "POST":
            return self._create(request)
        return self._get(request)

    def _create(self, request: httpx.Request) -> httpx.Response:
        self.counts["creates"] += 1
        body = json.loads(request.content)
        if self.create_faults:
            fault = self.create_faults.pop(0)
            if fault.bought:
                self._buy(body)
            return fault.make(request)
        job = self._buy(body)
        return httpx.Response(
            200,
            json={"id": job.id, "status": "queued", "meta": {"usage": {self.usage_key: 262500}}},
        )

    def _buy(self, body: dict[str, Any]) -> Job:
        self.counts["bought"] += 1
        job = Job(str(uuid.uuid4()), body, self.clock.now(), self.job_seconds, self.fail_with)
        self.jobs[job.id] = job
        return job

    def _get(self, request: httpx.Request) -> httpx.Response:
        self.counts["gets"] += 1
        gid = request.url.params.get("generation_id")
        job = self.jobs.get(gid or "")
        if job is None:
            return httpx.Response(404, json={"message": "Generation not found", "statusCode": 404})
        job.gets += 1
        if self.get_faults:
            return self.get_faults.pop(0).make(request)
        return httpx.Response(200, json=self.describe(job))

    def describe(self, job: Job) -> dict[str, Any]:
        elapsed = self.clock.now() - job.created
        data: dict[str, Any] = {
            "id": job.id,
            "meta": {"usage": {self.usage_key: 262500}},
            "video": None,
            "error": None,
        }
        if elapsed < job.seconds / 2:
            data["status"] = self.phases[0]
        elif elapsed < job.seconds:
            data["status"] = self.phases[1]
        elif job.fail_with is not None:
            data["status"] = "error"
            data["error"] = job.fail_with
        else:
            data["status"] = "completed"
            job.url_version += 1
            url = f"{CDN}/{job.id}.mp4?_jwt=v{job.url_version}"
            data["video"] = [url] if self.video_shape == "list" else {"url": url, "duration": 5}
        return data

    def _video(self, request: httpx.Request) -> httpx.Response:
        self.counts["downloads"] += 1
        if "authorization" in request.headers:
            self.counts["downloads_with_auth"] += 1
        if self.video_faults:
            return self.video_faults.pop(0).make(request)
        version = int(request.url.params.get("_jwt", "v0")[1:])
        if version in self.expired_versions:
            return httpx.Response(403, content=b"<Error>AccessDenied</Error>")
        return httpx.Response(
            200, content=self.video_bytes, headers={"Content-Type": self.video_content_type}
        )
