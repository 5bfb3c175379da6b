"""History on disk: every generation id the moment it exists, and its video.

One sqlite3 file (``history.sqlite3``) and a ``videos/`` folder under the data
home (``GEN3WIDGETS_HOME``, else the user data directory). Images sent as data
URIs are stored once each (by hash), however many generations reuse them.
Each call opens its own short-lived connection, so the store is safe to use
from any thread and from several kernels at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._config import data_home
from ._errors import ValidationError
from ._models import Generation, GenerationRequest, Status

_SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (
    id TEXT PRIMARY KEY,
    server TEXT NOT NULL,
    simulated INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    request TEXT,
    video_url TEXT,
    error TEXT,
    error_detail TEXT,
    tokens_used INTEGER,
    local_path TEXT,
    submitted_at REAL NOT NULL,
    finished_at REAL,
    job_seconds REAL,
    clip_seconds INTEGER
);
CREATE INDEX IF NOT EXISTS generations_submitted ON generations (submitted_at DESC);
CREATE TABLE IF NOT EXISTS images (
    sha256 TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS uncertain_submissions (
    at REAL NOT NULL,
    server TEXT NOT NULL,
    request TEXT,
    cause TEXT NOT NULL
);
"""
_IMAGE_REF = "sha256:"


@dataclass(frozen=True)
class StoredGeneration:
    """A history row: the generation plus where and how it was made."""

    generation: Generation
    server: str
    simulated: bool
    job_seconds: float | None


class HistoryStore:
    """The on-disk history of generations and the folder of their videos."""

    def __init__(self, home: str | os.PathLike[str] | None = None) -> None:
        self.home = data_home(home)
        self.path = self.home / "history.sqlite3"
        self.videos_dir = self.home / "videos"
        self._ready = False

    def __repr__(self) -> str:
        return f"HistoryStore({str(self.home)!r})"

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if not self._ready:
            self.home.mkdir(parents=True, exist_ok=True)
            self.videos_dir.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            if not self._ready:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
                self._ready = True
            with conn:  # one transaction, committed on success
                yield conn
        finally:
            conn.close()

    # -- writing -------------------------------------------------------------------

    def record_submitted(
        self, generation: Generation, *, server: str, simulated: bool = False
    ) -> None:
        """Store a new generation id; call this before anything else happens to it."""
        submitted = generation.submitted_at or time.time()
        generation.submitted_at = submitted
        with self._connect() as conn:
            request = self._request_json(conn, generation.request)
            conn.execute(
                "INSERT OR IGNORE INTO generations (id, server, simulated, status, request, "
                "tokens_used, submitted_at, clip_seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    generation.id,
                    server,
                    int(simulated),
                    generation.status.value,
                    request,
                    generation.tokens_used,
                    submitted,
                    generation.request.duration if generation.request else None,
                ),
            )

    def update(self, generation: Generation) -> None:
        """Record the generation's latest state (status, video, error, local file)."""
        with self._connect() as conn:
            conn.execute(
                "UPDATE generations SET status=?, video_url=COALESCE(?, video_url), "
                "error=?, error_detail=?, tokens_used=COALESCE(?, tokens_used), "
                "local_path=COALESCE(?, local_path), finished_at=COALESCE(?, finished_at), "
                "job_seconds=COALESCE(?, job_seconds) WHERE id=?",
                (
                    generation.status.value,
                    generation.video_url,
                    generation.error,
                    _dumps(generation.error_detail),
                    generation.tokens_used,
                    str(generation.local_path) if generation.local_path else None,
                    generation.finished_at,
                    generation.job_seconds,
                    generation.id,
                ),
            )

    def record_uncertain(self, request: GenerationRequest, *, server: str, cause: str) -> None:
        """Keep a create whose outcome is unknown, so the user can check it later."""
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO uncertain_submissions (at, server, request, cause) VALUES (?, ?, ?, ?)",
                (time.time(), server, self._request_json(conn, request), cause),
            )

    # -- reading -------------------------------------------------------------------

    def entries(
        self,
        limit: int | None = None,
        *,
        server: str | None = None,
        pending_only: bool = False,
    ) -> list[StoredGeneration]:
        """Stored generations, newest first."""
        sql = "SELECT * FROM generations"
        where: list[str] = []
        args: list[Any] = []
        if server is not None:
            where.append("server = ?")
            args.append(server)
        if pending_only:
            done = [s.value for s in Status if s.done]
            where.append(f"status NOT IN ({','.join('?' * len(done))})")
            args.extend(done)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY submitted_at DESC, rowid DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(sql, args).fetchall()
            return [self._row(conn, row) for row in rows]

    def get(self, generation_id: str) -> StoredGeneration | None:
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute(
                "SELECT * FROM generations WHERE id = ?", (generation_id,)
            ).fetchone()
            return self._row(conn, row) if row else None

    def job_durations(self, server: str, limit: int = 50) -> list[tuple[int, float]]:
        """(clip seconds, job seconds) of recent completed jobs on ``server``."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT clip_seconds, job_seconds FROM generations WHERE server = ? AND "
                "status = 'completed' AND job_seconds IS NOT NULL AND clip_seconds IS NOT NULL "
                "ORDER BY submitted_at DESC LIMIT ?",
                (server, limit),
            ).fetchall()
        return [(int(c), float(s)) for c, s in reversed(rows)]

    def uncertain(self) -> list[dict[str, Any]]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT at, server, cause FROM uncertain_submissions ORDER BY at DESC"
            ).fetchall()
        return [{"at": at, "server": server, "cause": cause} for at, server, cause in rows]

    # -- helpers -------------------------------------------------------------------

    def _request_json(
        self, conn: sqlite3.Connection, request: GenerationRequest | None
    ) -> str | None:
        if request is None:
            return None
        data = request.to_dict()
        for key in ("image", "last_image"):
            value = data.get(key)
            if isinstance(value, str) and value.startswith("data:"):
                digest = hashlib.sha256(value.encode()).hexdigest()
                conn.execute("INSERT OR IGNORE INTO images VALUES (?, ?)", (digest, value))
                data[key] = _IMAGE_REF + digest
        return json.dumps(data)

    def _row(self, conn: sqlite3.Connection, row: sqlite3.Row) -> StoredGeneration:
        request: GenerationRequest | None = None
        if row["request"]:
            data = json.loads(row["request"])
            for key in ("image", "last_image"):
                value = data.get(key)
                if isinstance(value, str) and value.startswith(_IMAGE_REF):
                    found = conn.execute(
                        "SELECT data FROM images WHERE sha256 = ?", (value[len(_IMAGE_REF) :],)
                    ).fetchone()
                    data[key] = found[0] if found else None
            with contextlib.suppress(ValidationError, TypeError):
                request = GenerationRequest.from_dict(data)
        local = Path(row["local_path"]) if row["local_path"] else None
        generation = Generation(
            id=row["id"],
            status=Status(row["status"]),
            video_url=row["video_url"],
            error=row["error"],
            error_detail=_loads(row["error_detail"]),
            tokens_used=row["tokens_used"],
            request=request,
            local_path=local if local and local.is_file() else None,
            submitted_at=row["submitted_at"],
            finished_at=row["finished_at"],
            job_seconds=row["job_seconds"],
        )
        return StoredGeneration(
            generation, row["server"], bool(row["simulated"]), row["job_seconds"]
        )


def _dumps(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return json.dumps(str(value))


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def history(
    limit: int | None = None, *, home: str | os.PathLike[str] | None = None
) -> list[Generation]:
    """Past generations from the on-disk history, newest first.

    Pending ones can be waited on after a kernel restart with
    ``Client().wait(generation.id)``; finished ones have ``local_path`` set when
    their video is on disk.
    """
    return [row.generation for row in HistoryStore(home).entries(limit)]
