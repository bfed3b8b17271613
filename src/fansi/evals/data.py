"""Loaders for the benchmark files, and the seeded, stratified ``--limit`` subset.

Each loader takes a path and returns items; nothing is copied into the
project. The public files these loaders read are described, with their
sources and licences, in ``shared/data/README.md``; :data:`ATTRIBUTION`
repeats what a report must say about them.

Every item has an ``id`` (stable across runs: taken from the file, or the
line number where the file has none) and a ``stratum`` for subsetting:
subject and level for MATH-500, correct or incorrect for the verifier sets,
category and level for ProofBench.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from fansi.checks.answers import normalize
from fansi.errors import InputError
from fansi.inputs import decode

if TYPE_CHECKING:
    from fansi.formal import Theorem


@dataclass(frozen=True)
class AnswerItem:
    """A problem with a reference final answer."""

    id: str
    problem: str
    answer: str
    stratum: str = ""


@dataclass(frozen=True)
class SolutionItem:
    """A solution labelled correct or wrong; ``steps`` and ``first_wrong`` for ProcessBench.

    ``first_wrong`` is the 0-based index of the first wrong step, or None when
    the solution is correct (or when the set labels no steps).
    """

    id: str
    problem: str
    solution: str
    wrong: bool
    steps: tuple[str, ...] = ()
    first_wrong: int | None = None
    stratum: str = ""


@dataclass(frozen=True)
class ProofItem:
    """A proof problem with a reference solution and grading guidelines."""

    id: str
    problem: str
    reference: str
    guidelines: str
    category: str
    level: str
    short_answer: str = ""

    @property
    def stratum(self) -> str:
        return f"{self.category}/{self.level}"


@dataclass(frozen=True)
class FormalItem:
    """An open theorem of a ``.v`` file; ``stratum`` is the competition of its file name."""

    id: str
    theorem: Theorem
    stratum: str = ""


Item = AnswerItem | SolutionItem | ProofItem | FormalItem
I = TypeVar("I", bound=Item)  # noqa: E741

ATTRIBUTION: dict[str, str] = {
    "gsm8k": "GSM8K test problems (first 1000 of 1319), openai/grade-school-math @3101c7d, MIT.",
    "gsm8k-solutions": "GSM8K example model solutions, labelled correct or not, "
                       "openai/grade-school-math @3101c7d, MIT.",
    "math500": "MATH-500 (first 400 of 500), hkust-nlp/simpleRL-reason @cf1c785, MIT.",
    "aime24": "AIME 2024, hkust-nlp/simpleRL-reason @cf1c785, MIT.",
    "processbench": "ProcessBench, QwenLM/ProcessBench @ee5ae00, Apache-2.0 (dataset card).",
    "imo-proofbench": "IMO-ProofBench v2, google-deepmind/superhuman @a02069e, CC-BY 4.0.",
    "minif2f": "miniF2F validation statements in Coq, LLM4Rocq/miniF2F-rocq @b60affa "
               "(valid/), MIT.",
}

#: Where each task's file sits under a ``shared/data`` folder.
DEFAULT_FILES: dict[str, str] = {
    "gsm8k": "gsm8k/test_dev.jsonl",
    "gsm8k-solutions": "gsm8k/model_solutions_dev.jsonl",
    "math500": "math500/test_dev.jsonl",
    "aime24": "aime24/test.jsonl",
    "processbench": "processbench/gsm8k.json",
    "imo-proofbench": "imo_proofbench/proofbench_v2.csv",
    "minif2f": "minif2f_rocq/valid",
}


def default_path(task: str, *, root: Path) -> Path:
    """The task's file under the data folder ``root`` (the ``data_dir`` setting).

    Raises:
        InputError: If ``root`` does not hold the file.
    """
    path = Path(root) / DEFAULT_FILES[task]
    if not path.exists():
        raise InputError(f"cannot find the {task} data: no {path}",
                         hint="Give its path with --data, or set data_dir (FANSI_DATA_DIR).")
    return path


def _text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    return decode(data, source=str(path))


def _jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for number, line in enumerate(_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number} is not JSON: {exc.msg}") from exc
        if not isinstance(row, dict):
            raise InputError(f"{path}:{number} must be a JSON object")
        rows.append((number, row))
    if not rows:
        raise InputError(f"{path} holds no rows")
    return rows


def _field(row: dict[str, Any], where: str, *names: str) -> str:
    for name in names:
        value = row.get(name)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
    raise InputError(f"{where} has no {' or '.join(names)}")


def gsm8k_reference(answer_field: str) -> str:
    """The reference answer of a GSM8K item: the number after the last ``####``.

    Args:
        answer_field: The dataset's ``answer`` field, worked solution included.

    Returns:
        The number with thousands separators and dollar signs removed,
        for example ``"1234"`` for ``"... #### 1,234"``.

    Raises:
        InputError: If the field has no ``####`` or nothing after it.
    """
    _, marker, tail = answer_field.rpartition("####")
    reference = normalize(tail.replace(",", "").replace("$", ""))
    if not marker or not reference:
        raise InputError("a GSM8K answer field must end with '#### <number>'")
    return reference


def reference_answer(answer: object) -> str | None:
    """A reference answer as a JSONL row gives it: GSM8K's ``#### N`` form is
    read as N, anything else is taken as it stands (None when empty)."""
    if answer is None:
        return None
    text = str(answer)
    if "####" in text:
        return gsm8k_reference(text)
    return text.strip() or None


def load_gsm8k(path: Path) -> list[AnswerItem]:
    """GSM8K problems ``{question, answer}``; the reference is the number after ``####``."""
    items = []
    for number, row in _jsonl(path):
        where = f"{path}:{number}"
        try:
            answer = gsm8k_reference(_field(row, where, "answer"))
        except InputError as exc:
            raise InputError(f"{where}: {exc.message}") from exc
        items.append(AnswerItem(str(row.get("id", number - 1)),
                                _field(row, where, "question", "problem"), answer))
    return items


def load_math500(path: Path) -> list[AnswerItem]:
    """MATH-500 problems; stratum ``subject/level``."""
    items = []
    for number, row in _jsonl(path):
        where = f"{path}:{number}"
        stratum = f"{row.get('subject', '')}/{row.get('level', '')}"
        items.append(AnswerItem(_field(row, where, "unique_id", "id"),
                                _field(row, where, "problem"), _field(row, where, "answer"),
                                stratum))
    return items


def load_aime24(path: Path) -> list[AnswerItem]:
    """AIME 2024 problems ``{id, problem, answer}``."""
    return [AnswerItem(_field(row, f"{path}:{n}", "id"), _field(row, f"{path}:{n}", "problem"),
                       _field(row, f"{path}:{n}", "answer"))
            for n, row in _jsonl(path)]


def load_gsm8k_solutions(path: Path) -> list[SolutionItem]:
    """GSM8K model solutions with ``is_correct``; stratum ``correct`` or ``wrong``."""
    items = []
    for number, row in _jsonl(path):
        where = f"{path}:{number}"
        correct = row.get("is_correct")
        if not isinstance(correct, bool):
            raise InputError(f"{where} has no true/false is_correct")
        items.append(SolutionItem(_field(row, where, "id"), _field(row, where, "question"),
                                  _field(row, where, "solution"), wrong=not correct,
                                  stratum="correct" if correct else "wrong"))
    return items


def load_processbench(path: Path) -> list[SolutionItem]:
    """ProcessBench solutions: steps and the 0-based first wrong step (-1: none)."""
    try:
        rows = json.loads(_text(path))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not JSON: {exc.msg}") from exc
    if not isinstance(rows, list) or not rows:
        raise InputError(f"{path} must hold a non-empty JSON list")
    items = []
    for number, row in enumerate(rows):
        where = f"{path}[{number}]"
        steps, label = row.get("steps"), row.get("label")
        if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
            raise InputError(f"{where} has no list of steps")
        if not isinstance(label, int) or not -1 <= label < len(steps):
            raise InputError(f"{where} has no label between -1 and the last step")
        items.append(SolutionItem(
            _field(row, where, "id"), _field(row, where, "problem"), number_steps(steps),
            wrong=label >= 0, steps=tuple(steps), first_wrong=label if label >= 0 else None,
            stratum="wrong" if label >= 0 else "correct"))
    return items


def number_steps(steps: Sequence[str]) -> str:
    """The steps as one text, each headed ``Step N:`` (from 1), so issues can name them."""
    return "\n\n".join(f"Step {n}: {step.strip()}" for n, step in enumerate(steps, start=1))


def load_proofbench(path: Path) -> list[ProofItem]:
    """IMO-ProofBench problems with reference solution and grading guidelines."""
    reader = csv.DictReader(io.StringIO(_text(path)))
    wanted = {"Problem ID", "Problem", "Solution", "Grading guidelines", "Category", "Level"}
    missing = wanted - set(reader.fieldnames or ())
    if missing:
        raise InputError(f"{path} lacks the columns {', '.join(sorted(missing))}")
    items = [ProofItem(row["Problem ID"], row["Problem"], row["Solution"],
                       row["Grading guidelines"], row["Category"], row["Level"],
                       row.get("Short Answer") or "")
             for row in reader]
    if not items:
        raise InputError(f"{path} holds no problems")
    return items


_COMPETITION = re.compile(r"mathd_[a-z]+|amc|aime|imo|[a-z]+")


def load_formal(path: Path) -> list[FormalItem]:
    """The open theorems of every ``.v`` file in the folder ``path`` (or of the one
    file ``path``), in file-name order; an item's id is the file's stem (with
    ``:NAME`` when a file holds more than one theorem), its stratum the competition
    its name starts with (``mathd_algebra``, ``amc``, ``aime``, ``imo``, ...)."""
    from fansi.formal import parse_file

    files = sorted(path.glob("*.v")) if path.is_dir() else [path]
    if not files:
        raise InputError(f"{path} holds no .v files")
    items = []
    for file in files:
        theorems = parse_file(_text(file), path=str(file)).theorems
        match = _COMPETITION.match(file.stem.lower())
        stratum = match.group(0) if match else ""
        items += [FormalItem(file.stem if len(theorems) == 1 else f"{file.stem}:{t.name}", t,
                             stratum) for t in theorems]
    return items


def path_digest(path: Path) -> str:
    """A digest of a data file, or of a folder's ``.v`` files (names and contents)."""
    if not path.is_dir():
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    digest = hashlib.sha256()
    for file in sorted(path.glob("*.v")):
        digest.update(f"{file.name}\x00".encode() + file.read_bytes() + b"\x00")
    return digest.hexdigest()[:16]


LOADERS: dict[str, Callable[[Path], Sequence[Item]]] = {
    "gsm8k": load_gsm8k,
    "math500": load_math500,
    "aime24": load_aime24,
    "gsm8k-solutions": load_gsm8k_solutions,
    "processbench": load_processbench,
    "imo-proofbench": load_proofbench,
    "minif2f": load_formal,
}


def _rank(seed: int, item_id: str) -> str:
    return hashlib.sha256(f"{seed}|{item_id}".encode()).hexdigest()


def stratified_subset(items: Sequence[I], limit: int | None, seed: int) -> list[I]:
    """A seeded subset of ``limit`` items whose strata keep their shares, in file order.

    Each stratum gets ``limit * size / total`` items, rounded by largest
    remainder (ties to the larger, then the first-seen stratum); within a
    stratum, items are taken in the order of a hash of ``seed`` and their id.
    The subset depends only on the ids, the strata, ``limit`` and ``seed``:
    it is the same on every run and every machine.

    Args:
        items: Every item of the data set; ids must be unique.
        limit: How many to keep; None (or at least ``len(items)``) keeps all.
        seed: Picks which items of each stratum.

    Raises:
        InputError: If two items share an id.
    """
    ids = [item.id for item in items]
    if len(set(ids)) != len(ids):
        raise InputError("the data set repeats an item id")
    if limit is None or limit >= len(items):
        return list(items)
    if limit < 0:
        raise InputError("--limit must not be negative")
    strata: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        strata.setdefault(item.stratum, []).append(index)
    total = len(items)
    quotas = {name: limit * len(members) // total for name, members in strata.items()}
    order = list(strata)
    remainders = sorted(
        order,
        key=lambda s: (-(limit * len(strata[s]) % total), -len(strata[s]), order.index(s)),
    )
    for name in remainders[: limit - sum(quotas.values())]:
        quotas[name] += 1
    chosen: list[int] = []
    for name, members in strata.items():
        ranked = sorted(members, key=lambda i: _rank(seed, items[i].id))
        chosen.extend(ranked[: quotas[name]])
    return [items[i] for i in sorted(chosen)]


__all__ = [
    "ATTRIBUTION",
    "DEFAULT_FILES",
    "LOADERS",
    "AnswerItem",
    "FormalItem",
    "Item",
    "ProofItem",
    "SolutionItem",
    "default_path",
    "gsm8k_reference",
    "load_aime24",
    "load_formal",
    "load_gsm8k",
    "load_gsm8k_solutions",
    "load_math500",
    "load_processbench",
    "load_proofbench",
    "number_steps",
    "path_digest",
    "reference_answer",
    "stratified_subset",
]
