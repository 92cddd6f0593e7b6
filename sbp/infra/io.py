"""Writing what notebooks produce: figures (PNG + PDF), tables (CSV + Markdown + JSON), JSON.

Everything is written atomically (temporary file, then rename) and deterministically
(no timestamps in PDFs, sorted JSON keys), so a re-run gives the same bytes.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = ["atomic_write_bytes", "write_json", "save_figure", "write_table", "markdown_table"]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _clean(obj: Any, digits: int | None) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _clean(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v, digits) for v in obj]
    if hasattr(obj, "tolist"):  # tensors and numpy arrays/scalars
        return _clean(obj.tolist(), digits)
    if isinstance(obj, float):
        if not math.isfinite(obj):
            return str(obj)
        return float(f"{obj:.{digits}g}") if digits is not None else obj
    return obj


def write_json(obj: Any, path: str | os.PathLike, digits: int | None = 6) -> Path:
    """Write ``obj`` as indented JSON with sorted keys, floats rounded to ``digits`` significant digits."""
    text = json.dumps(_clean(obj, digits), indent=2, sort_keys=True) + "\n"
    return atomic_write_bytes(path, text.encode())


def save_figure(fig, name: str, figures_dir: str | os.PathLike, dpi: int = 120) -> list[Path]:
    """Save ``fig`` as ``<figures_dir>/<name>.png`` and ``.pdf`` and close it.

    PDF metadata carries no creation date, so re-runs write identical files.
    """
    import matplotlib.pyplot as plt

    out = []
    for ext, kw in (("png", {"dpi": dpi, "metadata": {"Software": None}}),
                    ("pdf", {"metadata": {"CreationDate": None, "Producer": None}})):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, bbox_inches="tight", **kw)
        out.append(atomic_write_bytes(Path(figures_dir) / f"{name}.{ext}", buf.getvalue()))
    plt.close(fig)
    return out


def _fmt(v: Any, digits: int) -> str:
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def markdown_table(rows: Sequence[Mapping[str, Any]], digits: int = 4) -> str:
    """Rows of equal keys as a GitHub Markdown table."""
    if not rows:
        raise ValueError("markdown_table needs at least one row")
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r[c], digits) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_table(rows: Sequence[Mapping[str, Any]], name: str, figures_dir: str | os.PathLike,
                digits: int = 4) -> list[Path]:
    """Write a table as ``<name>.csv``, ``<name>.md`` and ``<name>.json`` in ``figures_dir``."""
    rows = [dict(_clean(dict(r), None)) for r in rows]
    if not rows:
        raise ValueError(f"table {name!r} has no rows")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _fmt(v, 8) for k, v in r.items()} for r in rows)
    d = Path(figures_dir)
    return [atomic_write_bytes(d / f"{name}.csv", buf.getvalue().encode()),
            atomic_write_bytes(d / f"{name}.md", markdown_table(rows, digits).encode()),
            write_json(rows, d / f"{name}.json")]
