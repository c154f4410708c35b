"""The README's example is real: its command prints exactly the output shown."""

import re
import shlex
from pathlib import Path

from joulebook.cli import main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_has_the_two_commands():
    assert "make report" in README and "make test" in README


def test_readme_example_output_is_real(capsys):
    m = re.search(r"## Example\n\n```bash\n(.*?)```\n\n```text\n(.*?)```", README, re.S)
    assert m, "README example block not found"
    cmd = m.group(1).replace("\\\n", " ")
    args = shlex.split(cmd)
    assert args[0].endswith("joulebook")
    assert len(m.group(1).strip().splitlines()) <= 5
    assert main(args[1:]) == 0
    assert capsys.readouterr().out.rstrip("\n") == m.group(2).rstrip("\n")
