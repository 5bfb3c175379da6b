"""The ledger on disk: every purchase before it is sent, every generation, and its video.

One sqlite3 file (``history.sqlite3``) and a ``videos/`` folder under the data
home (``GEN3WIDGETS_HOME``, else the user data directory). ``HistoryStore`` is
the one writer: clients record through it (it is the ``Ledger`` their flows
are given), and nothing else writes a second copy.

* ``submissions``: one row per create, written (state ``sending``) before the
  request leaves, with the submission id that goes out as
  ``X-Client-Request-Id``; then ``bought`` (with the generation id),
  ``refused``, ``uncertain`` (the answer was lost), or ``not_bought``. A row
  left ``sending`` by a process that died is read as uncertain.
* ``generations``: one row per generation bought, with its model, status,
  cost, video link and local file.
* ``images``: data-URI images stored once each (by hash) with their size and
  format, so listing never decodes an image.

Each call opens its own short-lived connection, so the store is safe to use
from any thread and from several kernels at once. Every failure to write is
a ``StorageError`` naming the folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sqlite3
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._config import data_home
from ._errors import StorageError
from ._images import PreparedImage
from ._models import (
    DEFAULT_MODEL,
    Generation,
    GenerationRequest,
    Status,
    Submission,
    SubmissionState,
    check_tags,
)

SCHEMA_VERSION = 2
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
    tokens_used INTEGER,  -- the API's credits_used
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
CREATE TABLE IF NOT EXISTS submissions (
    id TEXT PRIMARY KEY,
    server TEXT NOT NULL,
    simulated INTEGER NOT NULL DEFAULT 0,
    model TEXT NOT NULL,
    request TEXT,
    estimate_usd REAL,
    state TEXT NOT NULL,
    generation_id TEXT,
    found_in_logs INTEGER NOT NULL DEFAULT 0,
    cause TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    pid INTEGER,
    host TEXT
);
CREATE INDEX IF NOT EXISTS submissions_state ON submissions (state, server);
CREATE TABLE IF NOT EXISTS sequences (
    id TEXT PRIMARY KEY,
    plan TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""
# Columns added after the first release: (table, column, declaration).
_ADDED_COLUMNS = (
    ("submissions", "tags", "TEXT"),
    ("generations", "tags", "TEXT"),
    ("generations", "model", "TEXT"),
    ("generations", "cost_usd", "REAL"),
    ("generations", "submission_id", "TEXT"),
    ("images", "width", "INTEGER"),
    ("images", "height", "INTEGER"),
    ("images", "format", "TEXT"),
    ("images", "nbytes", "INTEGER"),
)
_IMAGE_REF = "sha256:"
BUSY_SECONDS = 10.0  # a lock held longer than this by another kernel is not clearing
SENDING_IS_STALE = 3600.0  # a create is never in flight this long
_HOST = socket.gethostname()


@dataclass(frozen=True)
class StoredGeneration:
    """A history row: the generation plus where and how it was made."""

    generation: Generation
    server: str
    simulated: bool
    job_seconds: float | None


class HistoryStore:
    """The ledger of purchases and generations, and the folder of their videos."""

    def __init__(self, home: str | os.PathLike[str] | None = None) -> None:
        self.home = data_home(home).resolve()
        self.path = self.home / "history.sqlite3"
        self.videos_dir = self.home / "videos"
        self.simulated = False  # set by a client on the simulator: its rows are marked so
        self._ready = False

    def __repr__(self) -> str:
        return f"HistoryStore({str(self.home)!r})"

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            if not self._ready:
                self.home.mkdir(parents=True, exist_ok=True)
                self.videos_dir.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=BUSY_SECONDS)
        except (OSError, sqlite3.Error) as exc:
            raise self._error(exc) from None
        try:
            conn.row_factory = sqlite3.Row
            if not self._ready:
                self._migrate(conn)
                self._ready = True
            with conn:  # one transaction, committed on success
                yield conn
        except (OSError, sqlite3.Error) as exc:
            raise self._error(exc) from None
        finally:
            conn.close()

    def _error(self, exc: BaseException) -> StorageError:
        return StorageError(
            f"Could not write the generation history in {self.home} ({exc}). Nothing was "
            "sent. Make the folder writable or free some space (or set GEN3WIDGETS_HOME to "
            "another folder), then try again.",
            folder=str(self.home),
        )

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Bring the file to this version's schema, once, however many kernels open it at once.

        The check and the change run under sqlite's write lock (``BEGIN IMMEDIATE``):
        a second process waits, then finds the work done.
        """
        if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        _use_wal(conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                self._upgrade(conn)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise

    def _upgrade(self, conn: sqlite3.Connection) -> None:
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        for table, column, declaration in _ADDED_COLUMNS:
            have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        old = conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='uncertain_submissions'"
        ).fetchone()
        if old is not None:
            # Creates whose answer was lost before submissions had ids: kept as uncertain
            # (they cannot be found in the usage logs; the user checks the dashboard).
            for i, row in enumerate(
                conn.execute("SELECT at, server, request, cause FROM uncertain_submissions")
            ):
                conn.execute(
                    "INSERT OR IGNORE INTO submissions (id, server, model, request, state, cause, "
                    "created_at, updated_at) VALUES (?, ?, ?, ?, 'uncertain', ?, ?, ?)",
                    (
                        f"untraced-{int(row[0] * 1000)}-{i}",
                        row[1],
                        DEFAULT_MODEL,
                        row[2],
                        row[3] + " (sent before submissions had ids: check your dashboard)",
                        row[0],
                        row[0],
                    ),
                )
            conn.execute("DROP TABLE uncertain_submissions")
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # -- the ledger (what a client's flows record) ---------------------------------------------

    def begin(self, submission: Submission) -> None:
        """Commit a submission, state ``sending``, before its create is sent."""
        now = time.time()
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO submissions (id, server, simulated, model, request, estimate_usd, "
                "tags, state, created_at, updated_at, pid, host) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    submission.id,
                    submission.server,
                    int(self.simulated),
                    submission.model,
                    self._request_json(conn, submission.request),
                    submission.estimate_usd,
                    _dumps(submission.tags) if submission.tags else None,
                    SubmissionState.SENDING.value,
                    submission.created_at,
                    now,
                    os.getpid(),
                    _HOST,
                ),
            )

    def bought(
        self, submission_id: str, generation: Generation, *, found_in_logs: bool = False
    ) -> None:
        """The create was answered (or found in the usage logs): record the generation."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT server, simulated, created_at, tags FROM submissions WHERE id = ?",
                (submission_id,),
            ).fetchone()
            conn.execute(
                "UPDATE submissions SET state = ?, generation_id = ?, found_in_logs = ?, "
                "updated_at = ? WHERE id = ?",
                (
                    SubmissionState.BOUGHT.value,
                    generation.id,
                    int(found_in_logs),
                    time.time(),
                    submission_id,
                ),
            )
            server = row["server"] if row else ""
            simulated = bool(row["simulated"]) if row else self.simulated
            generation.submission_id = submission_id
            if generation.submitted_at is None:
                generation.submitted_at = row["created_at"] if row else time.time()
            if row is not None and row["tags"] and not generation.tags:
                generation.tags = _tags(row["tags"])
            self._insert_generation(conn, generation, server=server, simulated=simulated)

    def refused(self, submission_id: str, cause: str) -> None:
        self._set_state(submission_id, SubmissionState.REFUSED, cause)

    def uncertain(self, submission_id: str, cause: str) -> None:
        self._set_state(submission_id, SubmissionState.UNCERTAIN, cause)

    def not_bought(self, submission_id: str, cause: str) -> None:
        self._set_state(submission_id, SubmissionState.NOT_BOUGHT, cause)

    def _set_state(self, submission_id: str, state: SubmissionState, cause: str) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE submissions SET state = ?, cause = ?, updated_at = ? WHERE id = ? "
                "AND state != 'bought'",
                (state.value, cause, time.time(), submission_id),
            )

    def update(self, generation: Generation) -> None:
        """Record the generation's latest state (status, video, error, cost, local file)."""
        if generation.id is None:
            return
        with self._connect() as conn:
            conn.execute(
                "UPDATE generations SET status=?, video_url=COALESCE(?, video_url), "
                "error=?, error_detail=?, tokens_used=COALESCE(?, tokens_used), "
                "cost_usd=COALESCE(?, cost_usd), local_path=COALESCE(?, local_path), "
                "finished_at=COALESCE(?, finished_at), job_seconds=COALESCE(?, job_seconds) "
                "WHERE id=?",
                (
                    generation.status.value,
                    generation.video_url,
                    generation.error,
                    _dumps(generation.error_detail),
                    generation.credits_used,
                    generation.cost_usd,
                    str(generation.local_path) if generation.local_path else None,
                    generation.finished_at,
                    generation.job_seconds,
                    generation.id,
                ),
            )

    def record(self, generation: Generation, *, server: str) -> None:
        """Keep a generation bought elsewhere (e.g. followed by id after a restart)."""
        with self._connect() as conn:
            self._insert_generation(conn, generation, server=server, simulated=self.simulated)

    def unresolved(self, server: str) -> list[Submission]:
        """Submissions of ``server`` that may have been bought but have no generation id.

        Uncertain ones, and ones left ``sending`` by a process that is gone (a
        kill -9 mid-create). One still being sent by a live process is left alone.
        """
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM submissions WHERE server = ? AND state IN ('uncertain', 'sending') "
                "AND id NOT LIKE 'untraced-%' ORDER BY created_at",
                (server,),
            ).fetchall()
            images: dict[str, PreparedImage] = {}
            found = []
            for row in rows:
                if row["state"] == "sending" and _still_sending(row, row["created_at"]):
                    continue
                request = self._request(conn, row["request"], images)
                if request is None:
                    continue
                found.append(
                    Submission(
                        id=row["id"],
                        request=request,
                        server=row["server"],
                        estimate_usd=row["estimate_usd"],
                        tags=_tags(row["tags"]),
                        state=SubmissionState.UNCERTAIN,
                        created_at=row["created_at"],
                        cause=row["cause"],
                    )
                )
            return found

    def job_durations(self, server: str, limit: int = 100) -> list[tuple[str, int, float]]:
        """(model, clip seconds, job seconds) of recent completed jobs on ``server``, oldest first."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT model, clip_seconds, job_seconds FROM generations WHERE server = ? AND "
                "status = 'completed' AND job_seconds IS NOT NULL AND clip_seconds IS NOT NULL "
                "ORDER BY submitted_at DESC LIMIT ?",
                (server, limit),
            ).fetchall()
        return [(m or DEFAULT_MODEL, int(c), float(s)) for m, c, s in reversed(rows)]

    # -- reading -------------------------------------------------------------------------

    def entries(
        self,
        limit: int | None = None,
        *,
        server: str | None = None,
        pending_only: bool = False,
    ) -> list[StoredGeneration]:
        """Generations and unresolved submissions, newest first (no image is decoded)."""
        where: list[str] = []
        args: list[Any] = []
        if server is not None:
            where.append("server = ?")
            args.append(server)
        if pending_only:
            done = [s.value for s in Status if s.done]
            where.append(f"status NOT IN ({','.join('?' * len(done))})")
            args.extend(done)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        # Purchases without a generation (yet) are listed too, as "uncertain" or "not_bought";
        # one left "sending" by a process that died is uncertain as well.
        sql = (
            "SELECT id, server, simulated, status, request, video_url, error, error_detail, "
            "tokens_used, local_path, submitted_at, finished_at, job_seconds, model, cost_usd, "
            "submission_id, tags, NULL AS pid, NULL AS host FROM generations"
            + clause
            + " UNION ALL SELECT NULL, server, simulated, state, request, NULL, cause, NULL, "
            "NULL, NULL, created_at, NULL, NULL, model, NULL, id, tags, pid, host "
            "FROM submissions WHERE state IN ('uncertain', 'not_bought', 'sending')"
            + (" AND server = ?" if server is not None else "")
            + (" AND 0" if pending_only else "")
            + " ORDER BY submitted_at DESC"
        )
        if server is not None:
            args.append(server)
        with self._connect() as conn:
            if limit is not None:
                # Rows still being sent by a live process are dropped below: ask for as many more.
                sending = conn.execute(
                    "SELECT COUNT(*) FROM submissions WHERE state = 'sending'"
                ).fetchone()[0]
                sql += " LIMIT ?"
                args.append(int(limit) + int(sending))
            rows = [
                row
                for row in conn.execute(sql, args).fetchall()
                if row["status"] != "sending" or not _still_sending(row, row["submitted_at"])
            ]
            images: dict[str, PreparedImage] = {}
            listed = [self._row(conn, row, images) for row in rows]
        return listed if limit is None else listed[: int(limit)]

    def get(self, generation_id: str) -> StoredGeneration | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT * FROM generations WHERE id = ?", (generation_id,)
            ).fetchone()
            return self._row(conn, row, {}) if row else None

    def submissions(self, state: SubmissionState | None = None) -> list[dict[str, Any]]:
        """Every submission row (newest first), as plain dicts: for inspection and the CLI."""
        sql = "SELECT id, server, model, state, generation_id, found_in_logs, cause, "
        sql += "estimate_usd, tags, created_at FROM submissions"
        args: tuple[Any, ...] = ()
        if state is not None:
            sql += " WHERE state = ?"
            args = (state.value,)
        with self._connect() as conn:
            rows = conn.execute(sql + " ORDER BY created_at DESC", args).fetchall()
        return [{**dict(row), "tags": _tags(row["tags"])} for row in rows]

    def save_sequence(self, sequence_id: str, plan: Mapping[str, Any]) -> None:
        """Keep a sequence's plan (its first request, prompts, seeds…) before any shot is bought."""
        with self._connect() as conn:
            data = dict(plan)
            data["request"] = self._request_json(conn, plan["request"])
            conn.execute(
                "INSERT OR REPLACE INTO sequences (id, plan, created_at) VALUES (?, ?, ?)",
                (sequence_id, json.dumps(data), time.time()),
            )

    def load_sequence(self, sequence_id: str) -> dict[str, Any] | None:
        """A sequence's plan as saved, its ``request`` a ``GenerationRequest`` again."""
        with self._connect() as conn:
            row = conn.execute("SELECT plan FROM sequences WHERE id = ?", (sequence_id,)).fetchone()
            if row is None:
                return None
            plan: dict[str, Any] = json.loads(row["plan"])
            plan["request"] = self._request(conn, plan["request"], {})
            return plan if plan["request"] is not None else None

    def tagged(self, **tags: str) -> list[StoredGeneration]:
        """Generations and unresolved purchases carrying every one of ``tags``, oldest first."""
        wanted = check_tags(tags)
        return [
            row
            for row in reversed(self.entries())
            if all(row.generation.tags.get(k) == v for k, v in wanted.items())
        ]

    # -- rows <-> objects --------------------------------------------------------------

    def _insert_generation(
        self, conn: sqlite3.Connection, generation: Generation, *, server: str, simulated: bool
    ) -> None:
        request = generation.request
        conn.execute(
            "INSERT OR IGNORE INTO generations (id, server, simulated, status, request, "
            "tokens_used, cost_usd, submitted_at, clip_seconds, model, submission_id, tags) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                generation.id,
                server,
                int(simulated),
                generation.status.value,
                self._request_json(conn, request),
                generation.credits_used,
                generation.cost_usd,
                generation.submitted_at or time.time(),
                request.duration if request else None,
                generation.model,
                generation.submission_id,
                _dumps(generation.tags) if generation.tags else None,
            ),
        )

    def _request_json(
        self, conn: sqlite3.Connection, request: GenerationRequest | None
    ) -> str | None:
        if request is None:
            return None
        data = request.to_dict()
        for key, info in (("image", request.image_info), ("last_image", request.last_image_info)):
            value = data.get(key)
            if info is not None and isinstance(value, str) and value.startswith("data:"):
                digest = hashlib.sha256(value.encode()).hexdigest()
                conn.execute(
                    "INSERT OR IGNORE INTO images (sha256, data, width, height, format, nbytes) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (digest, value, info.width, info.height, info.format, info.nbytes),
                )
                data[key] = _IMAGE_REF + digest
        return json.dumps(data)

    def _image(
        self, conn: sqlite3.Connection, value: Any, cache: dict[str, PreparedImage]
    ) -> PreparedImage | None:
        if not isinstance(value, str) or not value:
            return None
        if not value.startswith(_IMAGE_REF):
            return PreparedImage(value)
        digest = value[len(_IMAGE_REF) :]
        if digest not in cache:
            row = conn.execute(
                "SELECT data, width, height, format, nbytes FROM images WHERE sha256 = ?",
                (digest,),
            ).fetchone()
            if row is None:
                return None
            cache[digest] = PreparedImage(
                row["data"], row["width"], row["height"], row["format"], row["nbytes"]
            )
        return cache[digest]

    def _request(
        self, conn: sqlite3.Connection, text: str | None, images: dict[str, PreparedImage]
    ) -> GenerationRequest | None:
        if not text:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, Mapping):
            return None
        image = self._image(conn, data.get("image"), images)
        if image is None:
            return None
        return GenerationRequest.restore(
            data, image, self._image(conn, data.get("last_image"), images)
        )

    def _row(
        self, conn: sqlite3.Connection, row: sqlite3.Row, images: dict[str, PreparedImage]
    ) -> StoredGeneration:
        keys = row.keys()
        local = Path(row["local_path"]) if row["local_path"] else None
        status = Status.UNCERTAIN if row["status"] == "sending" else Status(row["status"])
        generation = Generation(
            id=row["id"],
            status=status,
            model=row["model"] or DEFAULT_MODEL,  # rows from before models were gen3a_turbo
            video_url=row["video_url"],
            error=row["error"],
            error_detail=_loads(row["error_detail"]),
            credits_used=row["tokens_used"],
            cost_usd=row["cost_usd"] if "cost_usd" in keys else None,
            request=self._request(conn, row["request"], images),
            local_path=local if local and local.is_file() else None,
            submission_id=row["submission_id"] if "submission_id" in keys else None,
            tags=_tags(row["tags"]) if "tags" in keys else {},
            submitted_at=row["submitted_at"],
            finished_at=row["finished_at"],
            job_seconds=row["job_seconds"],
        )
        return StoredGeneration(
            generation, row["server"], bool(row["simulated"]), row["job_seconds"]
        )


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to write-ahead logging (persistent; a no-op once done).

    Two kernels opening a new history at once can make the switch fail at once
    with "database is locked" (sqlite does not wait there): try again briefly.
    """
    deadline = time.monotonic() + BUSY_SECONDS
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _still_sending(row: sqlite3.Row, created_at: float) -> bool:
    """Whether a ``sending`` row may still be in flight in a live process."""
    if time.time() - created_at > SENDING_IS_STALE:
        return False
    if row["host"] != _HOST or row["pid"] is None:
        return True  # another machine's process: cannot tell, so wait for the stale limit
    if row["pid"] == os.getpid():
        return True
    if sys.platform == "win32":  # no signal 0 there; rely on the stale limit
        return True
    try:
        os.kill(int(row["pid"]), 0)
    except ProcessLookupError:
        return False  # that process is gone: its create's fate is unknown
    except OSError:
        return True
    return True


def _tags(text: str | None) -> dict[str, str]:
    value = _loads(text) if text else None
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


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
    """Past generations and purchases from the on-disk history, newest first.

    Every entry has ``submission_id`` (entries written before submissions had
    ids have ``None``). A purchase whose answer was lost shows with status
    ``uncertain`` and ``id=None`` until the usage logs tie it to its
    generation. Pending generations can be followed after a kernel restart with
    ``Client().wait(generation)``; finished ones have ``local_path`` set when
    their video is on disk.
    """
    return [row.generation for row in HistoryStore(home).entries(limit)]
