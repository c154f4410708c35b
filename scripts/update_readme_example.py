#!/usr/bin/env python3
"""Re-run the README's example command and paste its real output under it (tests/test_readme.py checks)."""

import contextlib
import io
import re
import shlex
from pathlib import Path

from joulebook.cli import main

path = Path(__file__).resolve().parents[1] / "README.md"
text = path.read_text()
m = re.search(r"(## Example\n\n```bash\n)(.*?)(```\n\n```text\n)(.*?)(```)", text, re.S)
args = shlex.split(m.group(2).replace("\\\n", " "))[1:]
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    main(args)
path.write_text(text[:m.start(4)] + buf.getvalue() + text[m.end(4):])
print("README example refreshed")
