"""The documentation stays in step with the code."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_api_reference_is_current():
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "make_api.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_relative_links_in_readme_and_docs_point_at_existing_files():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#:\s]+\.(?:md|png|py|tif))(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if not (page.parent / target).exists():
                missing.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not missing, missing


def test_imports_shown_in_readme_and_docs_work():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    imports = sorted({
        line.strip()
        for page in pages
        for line in page.read_text(encoding="utf-8").splitlines()
        if re.match(r"\s*(from napari_sinkhorn_em[\w.]* import [\w, ]+|import napari_sinkhorn_em[\w.]*( as \w+)?)\s*$", line)
    })
    assert imports, "no import of the package found in the docs"
    result = subprocess.run([sys.executable, "-c", "\n".join(imports)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_source_and_test_paths_named_in_the_docs_exist():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]  # not CHANGELOG.md: it names what was
    missing = []
    for page in pages:
        for path in re.findall(r"`((?:src|tests|benchmarks|docs)/[\w/.-]+\.(?:py|md))`", page.read_text(encoding="utf-8")):
            if not (ROOT / path).exists():
                missing.append(f"{page.relative_to(ROOT)} -> {path}")
    assert not missing, missing
