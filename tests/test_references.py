"""References resolve: the repository's tracked text speaks of the project, not of files outside it
(``PAPER.md``, a ``test_environment`` module that does not exist), of its tracker ("issue 7") or of
one machine's paths."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATTERNS = {
    "a file outside the repository": r"PAPER\.md",
    "a test module that does not exist (the check is tests/test_project.py)": r"test_environment\b",
    "the tracker, not the project": r"\bissues? #?[0-9]",
    "an absolute machine path": r"(?<![\w.])/(?:work|root|home|Users)/",
}
SELF = "tests/test_references.py"


def hits(text: str) -> list[tuple[int, str]]:
    found = []
    for lineno, line in enumerate(text.splitlines(), 1):
        for why, pattern in PATTERNS.items():
            if re.search(pattern, line, flags=re.I):
                found.append((lineno, why))
    return found


def test_checker_catches_each_pattern():
    assert hits("see PAPER.md\nok\nTargets of Issue 7\n/work/shared/x\nthe tests/test_environment.py check")
    assert [n for n, _ in hits("a\nsee ISSUE 13\n")] == [2]
    assert hits("cd /root/x") and hits("~ is /home/me")
    assert not hits("figures/fig8_targets.md, build/cache/, ./work/x, the environment test")


def test_tracked_text_files_have_no_stale_references():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    bad = []
    for name in files:
        if name == SELF:
            continue
        try:
            text = (ROOT / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # binary files (figures, models)
        bad += [f"{name}:{n}: {why}" for n, why in hits(text)]
    assert not bad, "stale references:\n" + "\n".join(bad)
