"""The documentation's links lead somewhere: every relative link in the README and in docs/ (and
the other Markdown files users read) names a file of the repository, and every `#anchor` a heading
of that file, as GitHub renders it. Nothing refers to a folder outside the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")


def markdown_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.split()
    return sorted(ROOT / name for name in listed if "node_modules" not in name and (ROOT / name).exists())


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: inline markup dropped, lower case, punctuation other than
    hyphens and underscores removed, spaces turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    text = text.replace("`", "").replace("*", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def test_github_slug() -> None:
    assert github_slug("Managed Kafka (TLS/SASL)") == "managed-kafka-tlssasl"
    assert github_slug("`<topic>-value` subjects") == "topic-value-subjects"
    assert github_slug("xAPI: the statements endpoint as a Learning Record Store") == (
        "xapi-the-statements-endpoint-as-a-learning-record-store"
    )
    assert github_slug("Dead letters") == "dead-letters"


def test_the_files_are_found() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in markdown_files()}
    assert {"README.md", "docs/configuration.md", "docs/api.md", "docs/operations.md"} <= names


@pytest.mark.parametrize("path", markdown_files(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_relative_links_resolve(path: Path) -> None:
    broken = []
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                broken.append(f"{target}: no such file")
                continue
            if not linked.is_relative_to(ROOT):
                broken.append(f"{target}: outside the repository")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{target}: no heading with the anchor #{anchor} in {linked.relative_to(ROOT)}")
    assert not broken, f"{path.relative_to(ROOT)}: " + "; ".join(broken)


@pytest.mark.parametrize("path", markdown_files(), ids=lambda path: path.relative_to(ROOT).as_posix())
def test_nothing_outside_the_repository_is_referred_to(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "../shared" not in text
    assert "/work/" not in text


def test_every_make_target_is_documented() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.M))
    assert {"run", "test", "install"} <= targets
    table = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    missing = sorted(target for target in targets if f"`make {target}`" not in table)
    assert not missing, f"make targets missing from docs/development.md's table: {missing}"


def test_readme_is_the_essentials() -> None:
    """The README says what the service is, the two set-up commands, a first event and where to
    read on; the reference lives in docs/."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    headings = [match.group(2) for line in _prose_lines(readme) if (match := HEADING.match(line))]
    assert headings == ["Event capture", "Set up", "A first event", "Where to read on"]
    commands = re.search(r"## Set up\n.*?```sh\n(.*?)```", readme, re.S)
    assert commands is not None
    assert [line.split()[:2] for line in commands.group(1).splitlines()] == [["make", "run"], ["make", "test"]]
    for name in ("api", "consumers", "registry", "admin", "configuration", "operations", "delivery", "development"):
        assert f"(docs/{name}.md" in readme, name


def test_every_setting_is_documented() -> None:
    """Each variable the settings read is in docs/configuration.md's tables and in .env.example."""
    settings = (ROOT / "eventcapture" / "settings.py").read_text(encoding="utf-8")
    names = set(re.findall(r'(?:\benv(?:\.\w+)?|\bsecret)\(\s*"([A-Z][A-Z0-9_]*)"', settings))
    assert {"SECRET_KEY", "KAFKA_BOOTSTRAP_SERVERS", "CELERY_BROKER_URL"} <= names
    configuration = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    undocumented = sorted(name for name in names if f"`{name}`" not in configuration)
    assert not undocumented, f"settings missing from docs/configuration.md: {undocumented}"
    not_in_example = sorted(name for name in names if not re.search(rf"^#?\s*{name}=", example, re.M))
    assert not not_in_example, f"settings missing from .env.example: {not_in_example}"
