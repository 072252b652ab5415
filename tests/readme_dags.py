"""The README's example DAGs, executed as a user would paste them into a DAG file (with stated edits only)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def readme_dag(marker: str, edits: dict[str, str]) -> Any:
    """The ``dag`` of the first Python block after ``<!-- marker -->``; each edit (a test's dag id, a shorter
    poll interval) must match the README's text, so the README cannot drift from what is run."""
    start = README.index(f"<!-- {marker} -->")
    block = re.search(r"```python\n(.*?)```", README[start:], flags=re.S)
    assert block, f"the README has a Python block after <!-- {marker} -->"
    source = block.group(1)
    for old, new in edits.items():
        assert old in source, f"the README's block no longer says {old!r}"
        source = source.replace(old, new)
    namespace: dict[str, Any] = {}
    exec(compile(source, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    return namespace["dag"]
