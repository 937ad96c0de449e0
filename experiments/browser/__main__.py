"""Serve the sweep browser: ``python -m experiments.browser <sweep dir> [--port] [--host]``
(``make browse SWEEP=<dir>``): http://127.0.0.1:8766 by default, loopback only, no internet
(Solara's assets come from the solara-assets package)."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from experiments import store

ROOT = Path(__file__).resolve().parents[2]
TITLE = "East Data, West Computing: sweep browser"


def main(argv: list[str] | None = None) -> None:
    """Check the sweep folder (one line and exit 2 if it holds no sweep), then serve."""
    parser = argparse.ArgumentParser(prog="python -m experiments.browser", description=TITLE)
    parser.add_argument("sweep", help="sweep folder (sweep.dir of make sweep)")
    parser.add_argument("--port", type=int, default=8766, help="TCP port (default 8766)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1, loopback only)")
    args = parser.parse_args(argv)
    sweep = Path(args.sweep).resolve()
    if store.read_manifest(sweep) is None or not (sweep / store.DESIGN).is_file():
        print(f"browse error: SWEEP = {args.sweep!r}: no sweep there ({store.MANIFEST} "
              f"or {store.DESIGN} missing)", file=sys.stderr)
        sys.exit(2)
    os.environ["EDWC_BROWSE_SWEEP"] = str(sweep)
    # before solara is imported: no telemetry calls home, no hook lint
    os.environ.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")
    os.environ.setdefault("SOLARA_CHECK_HOOKS", "off")
    warnings.filterwarnings(   # plain http is what a loopback server speaks
        "ignore", message="Cookies with samesite=none require https", category=UserWarning)
    from solara.__main__ import cli  # the `solara run` command, in this process

    from experiments.browser.app import warm_up

    sys.path.insert(0, str(ROOT))
    warm_up()
    print(f"{TITLE} over {sweep}: http://{args.host}:{args.port}  (Ctrl-C stops)", flush=True)
    cli.main(args=["run", "experiments.browser.app", "--host", args.host, "--port",
                   str(args.port), "--production", "--no-open", "--no-check-version"],
             prog_name="solara")


if __name__ == "__main__":
    main()
