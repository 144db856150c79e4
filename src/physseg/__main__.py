"""``python -m physseg``: the ``physseg`` command."""

import sys

from physseg.cli import main

sys.exit(main())
