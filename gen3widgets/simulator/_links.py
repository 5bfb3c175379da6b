"""Signed, expiring video links, shaped like the ``?_jwt=`` links of the real CDN.

Stateless like the real thing: the token carries the file and its expiry
(on the simulator's clock) and an HMAC, so every poll can hand out a fresh
link without the simulator remembering old ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets

_HEADER = {"alg": "HS256", "typ": "JWT"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    """Makes and checks the ``_jwt`` tokens of video links."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def _sign(self, signing_input: str) -> str:
        return _b64(hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest())

    def token(self, file_id: str, expires_at: float) -> str:
        header = _b64(json.dumps(_HEADER, separators=(",", ":")).encode())
        payload = _b64(
            json.dumps({"sub": file_id, "exp": expires_at}, separators=(",", ":")).encode()
        )
        return f"{header}.{payload}.{self._sign(f'{header}.{payload}')}"

    def problem(self, file_id: str, token: str | None, now: float) -> str | None:
        """Why ``token`` does not open ``file_id`` at clock time ``now`` (None: it does)."""
        if not token:
            return "this link has no _jwt token"
        try:
            header, payload, signature = token.split(".")
            claims = json.loads(_unb64(payload))
            expires_at = float(claims["exp"])
            subject = claims["sub"]
        except (ValueError, KeyError, TypeError):
            return "this link's token is malformed"
        if not hmac.compare_digest(signature, self._sign(f"{header}.{payload}")):
            return "this link's token has a bad signature"
        if subject != file_id:
            return "this link's token is for another file"
        if now >= expires_at:
            return "this link has expired: fetch the generation again for a fresh link"
        return None
