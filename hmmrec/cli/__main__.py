"""``python -m hmmrec.cli``: the ``hmmrec`` command."""

import sys

from . import main

sys.exit(main())
