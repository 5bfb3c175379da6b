"""``python -m gen3widgets``: the same command line as the ``gen3widgets`` script."""

from __future__ import annotations

from ._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
