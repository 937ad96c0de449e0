"""SHA-256 of every Parquet table a run writes, to prove a refactor changes no output.

    python -m benchmarks.hash_outputs [--scenarios edwc,no_edwc] [--seeds 1,2]
                                      [--out FILE] [--compare FILE] [override ...]

Each scenario x seed goes through the normal run path (`model.run.simulate` and
`model.outputs.write_run`) into a temporary folder; one line per scenario/seed/table is
printed: `<scenario> <seed> <table> <sha256>`. `--out FILE` also writes the lines to FILE;
`--compare FILE` checks them against a listing written before and exits 1 on any difference
(a missing or extra line counts). Extra Hydra overrides apply to every run.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

from model.outputs import TABLES, write_run
from model.run import compose_config, simulate


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hash_run(scenario: str, seed: int, overrides: list[str]) -> list[str]:
    """Run one scenario and seed into a temp folder; one listing line per Parquet table."""
    cfg = compose_config([f"scenario={scenario}", f"run.seed={seed}", "run.quiet=true",
                          *overrides])
    result = simulate(cfg)
    with tempfile.TemporaryDirectory(prefix="edwc-hash-") as tmp:
        out = write_run(result, Path(tmp) / "run")
        return [f"{scenario} {seed} {name} {sha256(out / f'{name}.parquet')}" for name in TABLES]


def compare(lines: list[str], reference: list[str]) -> list[str]:
    """Differences between two listings, one message each (empty when identical)."""
    key = lambda line: tuple(line.split()[:3])  # noqa: E731
    now = {key(x): x.split()[3] for x in lines}
    ref = {key(x): x.split()[3] for x in reference if x.strip()}
    problems = []
    for k in sorted(set(now) | set(ref)):
        if k not in ref:
            problems.append(f"extra (not in reference): {' '.join(k)}")
        elif k not in now:
            problems.append(f"missing (in reference only): {' '.join(k)}")
        elif now[k] != ref[k]:
            problems.append(f"DIFFERENT: {' '.join(k)} {ref[k][:12]} -> {now[k][:12]}")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", default="edwc,no_edwc", help="comma-separated scenarios")
    ap.add_argument("--seeds", default="1,2", help="comma-separated seeds")
    ap.add_argument("--out", type=Path, help="also write the listing to this file")
    ap.add_argument("--compare", type=Path, help="listing to compare with; exit 1 on a difference")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides for every run")
    args = ap.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s]
    except ValueError:
        print(f"--seeds: not a list of integers: {args.seeds!r}", file=sys.stderr)
        return 2
    if args.compare and not args.compare.is_file():
        print(f"--compare: no such file: {args.compare}", file=sys.stderr)
        return 2
    lines = []
    for scenario in [s for s in args.scenarios.split(",") if s]:
        for seed in seeds:
            for line in hash_run(scenario, seed, args.overrides):
                print(line, flush=True)
                lines.append(line)
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    if args.compare:
        problems = compare(lines, args.compare.read_text().splitlines())
        for p in problems:
            print(p, file=sys.stderr)
        print(f"{len(lines)} tables: " + ("identical to " if not problems else
              f"{len(problems)} difference(s) from ") + str(args.compare), file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
