"""``python -m joulebook``: the command line."""

import sys

from joulebook.cli import main

sys.exit(main())
