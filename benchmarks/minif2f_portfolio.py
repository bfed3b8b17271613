"""How many miniF2F statements the tactic portfolio alone proves, with the kernel check.

    python benchmarks/minif2f_portfolio.py                        # all of valid/
    python benchmarks/minif2f_portfolio.py --timeout 3 --jobs 2   # per-script timeout, workers
    python benchmarks/minif2f_portfolio.py --split dev --seed 0   # one seeded half only

Every open theorem of every ``.v`` file is given to
:func:`fansi.formal.run_portfolio`; a file counts as proved when all its
theorems are. Prints the count, the seconds, and how many theorems each
script passed the screen on, so the list can be tuned on the dev half and
reported on the other. ``--out FILE`` writes one JSON line per theorem.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fansi.formal import PORTFOLIO, Limits, Theorem, parse_file, run_portfolio
from fansi.records import to_dict

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "minif2f_rocq" / "valid"


def split_files(files: list[Path], split: str, seed: int) -> list[Path]:
    """The seeded half ``dev`` or ``test`` of ``files`` (or all of them)."""
    if split == "all":
        return files
    shuffled = sorted(files)
    random.Random(seed).shuffle(shuffled)
    half = len(shuffled) // 2
    return sorted(shuffled[:half] if split == "dev" else shuffled[half:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder of .v statements")
    parser.add_argument("--timeout", type=int, default=3, help="seconds per script (screen)")
    parser.add_argument("--check-seconds", type=float, default=60.0,
                        help="limit per coqc/coqchk run in the kernel check")
    parser.add_argument("--jobs", type=int, default=1, help="theorems checked at once")
    parser.add_argument("--split", choices=("all", "dev", "test"), default="all")
    parser.add_argument("--seed", type=int, default=0, help="seed of the dev/test split")
    parser.add_argument("--limit", type=int, default=0, help="first N files only (0: all)")
    parser.add_argument("--out", type=Path, help="write one JSON line per theorem here")
    args = parser.parse_args(argv)

    files = split_files(sorted(args.data.glob("*.v")), args.split, args.seed)
    if args.limit:
        files = files[: args.limit]
    theorems: list[tuple[Path, Theorem]] = []
    for path in files:
        parsed = parse_file(path.read_text(encoding="utf-8"), path=path.name)
        theorems.extend((path, theorem) for theorem in parsed.theorems)
    limits = Limits(seconds=args.check_seconds)
    start = time.perf_counter()
    out = args.out.open("w", encoding="utf-8") if args.out else None

    def one(item: tuple[Path, Theorem]) -> tuple[Path, Theorem, object]:
        path, theorem = item
        return path, theorem, run_portfolio(theorem, tactic_timeout_s=args.timeout, limits=limits)

    proved_files: dict[Path, bool] = {}
    screens: Counter[str] = Counter()
    accepted: Counter[str] = Counter()
    proved_theorems = 0
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for done, (path, theorem, result) in enumerate(pool.map(one, theorems), start=1):
            assert hasattr(result, "proved")
            proved_theorems += result.proved
            proved_files[path] = proved_files.get(path, True) and result.proved
            screens.update(o.name for o in result.outcomes if o.screen == "passed")
            if result.tactic:
                accepted[result.tactic] += 1
            print(f"[{done}/{len(theorems)}] {theorem.name}: "
                  f"{'proved by ' + result.tactic if result.tactic else 'not proved'} "
                  f"({result.seconds:.1f} s)", file=sys.stderr, flush=True)
            if out is not None:
                out.write(json.dumps({"file": path.name, "theorem": theorem.name,
                                      **to_dict(result)}) + "\n")
    if out is not None:
        out.close()
    seconds = time.perf_counter() - start
    print(f"portfolio alone: {sum(proved_files.values())}/{len(files)} files, "
          f"{proved_theorems}/{len(theorems)} theorems, in {seconds:.0f} s "
          f"({seconds / max(1, len(theorems)):.1f} s per theorem, {args.jobs} job(s), "
          f"{args.timeout} s per script)")
    print("accepted proofs by script:", dict(accepted.most_common()))
    print("passed the screen:", {t.name: screens[t.name] for t in PORTFOLIO if screens[t.name]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
