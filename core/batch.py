"""Resumable batch scoring of files into CSV or Parquet.

Every input file gets rows: one per scored face (``status=ok``), or one row with
``status=no_face`` or ``status=error: <reason>`` - a bad file never aborts the run. Rows are
appended to a CSV journal one file at a time (single write + fsync). Re-running the same
command skips files already in the output; after a kill mid-write the torn tail (a partial
line, or fewer rows than the file's ``n_faces``) is dropped and that file is redone, so
nothing is lost or written twice. Parquet outputs are journalled in ``<out>.partial.csv`` and
written atomically at the end.
"""
from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import FaceIQAError, InvalidImageError

BASE_COLUMNS = [
    "path", "status", "n_faces", "face_index", "x1", "y1", "x2", "y2", "detection_confidence",
    "backend", "model", "score", "raw", "category", "width", "height",
]


@dataclass
class BatchSummary:
    files: int = 0
    skipped: int = 0
    faces: int = 0
    no_face: int = 0
    errors: int = 0
    rows_written: int = 0
    dropped_partial_rows: int = 0

    def __str__(self) -> str:
        return (f"{self.files} files scored ({self.skipped} already done): {self.faces} faces, "
                f"{self.no_face} without a face, {self.errors} errors; {self.rows_written} rows written"
                + (f"; {self.dropped_partial_rows} torn rows from an interrupted run redone" if self.dropped_partial_rows else ""))


def file_key(path: str | os.PathLike) -> str:
    """The resume key of an input: its absolute path."""
    return str(Path(path).resolve())


def _read_journal(journal: Path) -> tuple[pd.DataFrame, int]:
    """Complete rows of a journal and how many torn rows were dropped (journal repaired)."""
    if not journal.is_file() or journal.stat().st_size == 0:
        return pd.DataFrame(), 0
    text = journal.read_text(encoding="utf-8")
    torn_line = 0
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        torn_line = 1
    if not text.strip():
        journal.unlink()
        return pd.DataFrame(), torn_line
    df = pd.read_csv(io.StringIO(text), dtype={"path": str, "status": str}, keep_default_na=False, na_values=[""])
    expected = df.groupby("path")["n_faces"].transform(lambda s: max(int(s.iloc[0]), 1))
    counts = df.groupby("path")["path"].transform("size")
    complete = df[counts == expected]
    dropped = len(df) - len(complete) + torn_line
    if dropped:
        tmp = journal.with_name(journal.name + ".tmp")
        complete.to_csv(tmp, index=False)
        os.replace(tmp, journal)
    return complete.reset_index(drop=True), dropped


def _rows_for(path: Path, scorer, faces: str, aligned: bool, extras: list[str]) -> list[dict]:
    key = file_key(path)
    model = scorer.model.info.name
    base = {"path": key, "model": model}
    try:
        res = scorer.assess(path, faces=faces, aligned=aligned)
    except InvalidImageError as exc:
        return [{**base, "status": f"error: {exc.cause}", "n_faces": 0}]
    except Exception as exc:  # noqa: BLE001 - a batch job reports and goes on
        return [{**base, "status": f"error: {type(exc).__name__}: {exc}", "n_faces": 0}]
    if not res.faces:
        return [{**base, "status": "no_face", "n_faces": 0, "width": res.width, "height": res.height}]
    rows = []
    for f in res.faces:
        row = {
            **base, "status": "ok", "n_faces": len(res.faces), "face_index": f.index,
            "x1": round(f.box[0], 1), "y1": round(f.box[1], 1), "x2": round(f.box[2], 1), "y2": round(f.box[3], 1),
            "detection_confidence": round(f.detection_confidence, 4), "backend": f.backend,
            "score": round(f.score, 6), "raw": round(f.raw, 6), "category": f.category,
            "width": res.width, "height": res.height,
        }
        row.update({k: round(f.extras.get(k, float("nan")), 6) for k in extras})
        rows.append(row)
    return rows


def score_files(
    paths: Iterable[str | os.PathLike],
    out: str | os.PathLike,
    scorer,
    *,
    faces: str = "all",
    aligned: bool = False,
    progress: bool = True,
) -> BatchSummary:
    """Score ``paths`` into ``out`` (``.csv`` or ``.parquet``), resuming a previous run."""
    out = Path(out)
    fmt = out.suffix.lower()
    if fmt not in (".csv", ".parquet"):
        raise FaceIQAError(f"{out}: output must end in .csv or .parquet")
    journal = out if fmt == ".csv" else out.with_name(out.name + ".partial.csv")
    extras = list(scorer.model.info.extras)
    columns = BASE_COLUMNS + extras
    model = scorer.model.info.name

    done_df, dropped = _read_journal(journal)
    previous = pd.read_parquet(out) if fmt == ".parquet" and out.is_file() else pd.DataFrame()
    existing = pd.concat([d for d in (previous, done_df) if len(d)], ignore_index=True) if len(previous) or len(done_df) else pd.DataFrame()
    if len(existing):
        other = sorted(set(existing["model"].astype(str)) - {model})
        if other:
            raise FaceIQAError(f"{out} already holds scores from model {other[0]!r}; write {model!r} to another --out")
        if list(done_df.columns) and list(done_df.columns) != columns:
            raise FaceIQAError(f"{journal}: columns differ from this run's ({list(done_df.columns)[:6]}...); use another --out")
    done = set(existing["path"]) if len(existing) else set()

    todo, seen = [], set()
    for p in paths:
        k = file_key(p)
        if k not in seen:
            seen.add(k)
            if k not in done:
                todo.append(Path(p))
    summary = BatchSummary(skipped=len(seen) - len(todo), dropped_partial_rows=dropped)

    if todo:
        journal.parent.mkdir(parents=True, exist_ok=True)
        new_file = not journal.is_file() or journal.stat().st_size == 0
        iterator = todo
        if progress:
            from tqdm.auto import tqdm  # noqa: PLC0415

            iterator = tqdm(todo, desc=f"scoring ({model})", unit="file")
        with open(journal, "a", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
            if new_file:
                writer.writeheader()
            for p in iterator:
                rows = _rows_for(p, scorer, faces, aligned, extras)
                buf = io.StringIO()
                csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n").writerows(rows)
                fh.write(buf.getvalue())  # one write per file: a kill tears at most this file
                fh.flush()
                os.fsync(fh.fileno())
                summary.files += 1
                summary.rows_written += len(rows)
                st = rows[0]["status"]
                summary.faces += len(rows) if st == "ok" else 0
                summary.no_face += st == "no_face"
                summary.errors += st.startswith("error")
    if fmt == ".parquet" and (todo or dropped or journal.is_file()):
        fresh, _ = _read_journal(journal)
        table = pd.concat([d for d in (previous, fresh) if len(d)], ignore_index=True)
        tmp = out.with_name(out.name + ".tmp")
        table.to_parquet(tmp, index=False)
        os.replace(tmp, out)
        journal.unlink(missing_ok=True)
    return summary
