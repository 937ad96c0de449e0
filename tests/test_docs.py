"""Every reference to a document section in code, conf and docs resolves in the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTION = re.compile(r"docs/design\.md((?:,? §\d+(?:\.\d+)*)+)")
DOC = re.compile(r"\bdocs/[\w./-]+\.md\b")


def tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
    return [ROOT / f for f in out if f.endswith((".py", ".md", ".yaml")) and (ROOT / f).exists()]


def design_sections() -> set[str]:
    heads = re.findall(r"^#+ (\d+(?:\.\d+)*)\.? ", (ROOT / "docs/design.md").read_text(),
                       re.MULTILINE)
    return set(heads)


def test_design_md_has_the_three_odd_parts():
    text = (ROOT / "docs/design.md").read_text()
    for part in ("## 1. Overview", "## 2. Design concepts", "## 3. Details"):
        assert part in text
    for concept in ("Emergence", "Adaptation", "Objectives", "Prediction", "Sensing",
                    "Interaction", "Stochasticity", "Collectives", "Observation"):
        assert re.search(rf"^### 2\.\d+ {concept}", text, re.MULTILINE), concept


def test_every_design_section_reference_exists():
    sections = design_sections()
    missing = []
    for path in tracked_text_files():
        text = path.read_text(errors="replace").replace("\n", " ")
        for m in SECTION.finditer(text):
            for ref in re.findall(r"§(\d+(?:\.\d+)*)", m.group(1)):
                if ref not in sections:
                    missing.append(f"{path.relative_to(ROOT)}: §{ref}")
    assert not missing, missing
    assert len(sections) > 30


def test_every_referenced_doc_exists_and_no_brief_reference_is_left():
    missing, brief = [], []
    for path in tracked_text_files():
        text = path.read_text(errors="replace")
        missing += [f"{path.relative_to(ROOT)}: {d}" for d in DOC.findall(text)
                    if not (ROOT / d).exists()]
        if path.name != "test_docs.py" and re.search(r"DESIGN §", text):
            brief.append(str(path.relative_to(ROOT)))
    assert not missing, missing
    assert not brief, brief
