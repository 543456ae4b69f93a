"""Execute the notebooks top to bottom, headless, in order, and keep the executed copies.

    python scripts/run_notebooks.py                      # all six at full tiny size (make notebooks)
    python scripts/run_notebooks.py --smoke              # every size shrunk (what CI runs, per notebook)
    python scripts/run_notebooks.py --only 04 05 --out outputs

The notebooks read and write their files under ``--out`` (``FUNRL_OUT``); the executed copies, with their outputs
and figures, go to ``<out>/notebooks/``. A failing cell stops the run with the notebook, the cell and the error, and
the partly executed copy is still written. The kernel is this Python (a private kernelspec), not whatever ``python3``
kernel the user registered elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def _private_kernel(tmp: Path) -> None:
    spec = tmp / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (funrl)", "language": "python"}))
    os.environ["JUPYTER_DATA_DIR"] = str(tmp)
    os.environ.pop("JUPYTER_PATH", None)


def run(names: list[str], out: Path, smoke: bool, timeout: int | None) -> int:
    import nbclient
    import nbformat
    from nbclient.exceptions import CellExecutionError

    out = out.resolve()
    os.environ["FUNRL_OUT"] = str(out)
    os.environ["FUNRL_SMOKE"] = "1" if smoke else "0"
    executed = out / "notebooks"
    executed.mkdir(parents=True, exist_ok=True)
    total = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        _private_kernel(Path(tmp))
        for name in names:
            nb = nbformat.read(NOTEBOOKS / name, as_version=4)
            start = time.perf_counter()
            print(f"{name} ...", flush=True)
            client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                             resources={"metadata": {"path": str(NOTEBOOKS)}})
            try:
                client.execute()
            except CellExecutionError as e:
                nbformat.write(nb, executed / name)
                print(f"{name}: a cell failed (executed copy: {executed / name})\n{e}", file=sys.stderr)
                return 1
            nbformat.write(nb, executed / name)
            print(f"{name}: {time.perf_counter() - start:.0f} s -> {executed / name}", flush=True)
    print(f"all {len(names)} notebooks ran in {time.perf_counter() - total:.0f} s ({'smoke' if smoke else 'full'} "
          f"size); their files are under {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="outputs", help="FUNRL_OUT: where the notebooks' files go (default outputs)")
    p.add_argument("--smoke", action="store_true", help="FUNRL_SMOKE=1: every size shrunk")
    p.add_argument("--only", nargs="+", metavar="NN", help="notebook numbers or names to run (default: all)")
    p.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: no limit)")
    args = p.parse_args(argv)
    names = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        wanted = [w.removesuffix(".ipynb") for w in args.only]
        unknown = [w for w in wanted if not any(n.startswith(w) for n in names)]
        if unknown:
            p.error(f"no notebook matches {', '.join(unknown)} (have: {', '.join(names)})")
        names = [n for n in names if any(n.startswith(w) for w in wanted)]
    return run(names, Path(args.out), args.smoke, args.timeout)


if __name__ == "__main__":
    raise SystemExit(main())
