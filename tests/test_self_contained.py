"""The repository stands on its own: no tracked file reaches outside the clone, every data file is documented.

A clone with nothing beside it must pass ``./run test`` (``.ci/run`` proves it by running the suite in
such a clone). These fast checks catch the usual way that breaks: a path to a folder beside the clone
(the team's shared folder) or an absolute path of one machine, in code, tests, docs or configuration.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"

# Built from pieces so that this file does not match itself.
SIBLING_SHARED = re.compile(r"\.\./" + "shared" + r"\b")
ABSOLUTE_WORK = re.compile(r"(?<![\w.~/-])/" + "work" + r"/")
SKIP_SUFFIXES = {".npz", ".png", ".jpg", ".jpeg", ".pdf", ".ico", ".gz", ".zip", ".woff", ".woff2"}


def tracked_files() -> list[Path]:
    """Files git tracks (a clone has exactly these); outside a git checkout, every file but build output."""
    done = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=False, timeout=60
    )
    if done.returncode == 0 and done.stdout:
        return [REPO / name for name in done.stdout.decode().split("\0") if name]
    ignored = {".git", ".venv", ".xdg", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "out"}
    return [p for p in REPO.rglob("*") if p.is_file() and not ignored & set(p.relative_to(REPO).parts)]


def test_no_tracked_file_reaches_outside_the_clone() -> None:
    found: list[str] = []
    files = [p for p in tracked_files() if p.suffix.lower() not in SKIP_SUFFIXES and p.is_file()]
    assert len(files) > 100  # the listing worked
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
        for n, line in enumerate(text.splitlines(), 1):
            if SIBLING_SHARED.search(line) or ABSOLUTE_WORK.search(line):
                found.append(f"{path.relative_to(REPO)}:{n}: {line.strip()[:120]}")
    assert found == [], "paths outside the repository:\n" + "\n".join(found)


def test_the_patterns_catch_what_they_must() -> None:
    assert SIBLING_SHARED.search("see ../" + "shared/data/README.md")
    assert ABSOLUTE_WORK.search('Path("/' + 'work/shared/tools/x.py")')
    assert not ABSOLUTE_WORK.search("https://example.org/" + "work/x")
    assert not SIBLING_SHARED.search("a shared subscription")


def test_every_data_file_is_named_in_the_data_readme_with_a_licence() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    licences = (DATA / "LICENSES.md").read_text(encoding="utf-8")
    folders = sorted(p for p in DATA.iterdir() if p.is_dir())
    for folder in folders:
        assert f"## {folder.name}/" in licences, f"no licence notice for {folder.name}/"
        assert f"`{folder.name}/`" in readme
        for f in sorted(folder.iterdir()):
            assert f"`{f.name}`" in readme, f"tests/data/{folder.name}/{f.name} is not in the README"
