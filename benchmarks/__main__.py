"""Run benchmarks: ``python -m benchmarks [NAME ...] [-- ARGS]`` (``./run bench``).

Each benchmark is a module ``benchmarks/bench_<name>.py`` with ``main(argv: list[str]) -> int`` that
prints its figures. With no name, every benchmark runs in turn with its default settings.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        m.name[len("bench_") :] for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_")
    )


def main(argv: list[str]) -> int:
    names, _, rest = (
        (argv[: argv.index("--")], None, argv[argv.index("--") + 1 :]) if "--" in argv else (argv, None, [])
    )
    if names in (["-h"], ["--help"]):
        print(__doc__)
        print("available:", ", ".join(available()) or "(none yet)")
        return 0
    todo = names or available()
    unknown = [n for n in todo if n not in available()]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}",
            file=sys.stderr,
        )
        return 2
    status = 0
    for name in todo:
        print(f"=== benchmark {name} ===", flush=True)
        module = importlib.import_module(f"benchmarks.bench_{name}")
        status |= int(module.main(list(rest)) or 0)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
