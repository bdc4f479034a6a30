"""``python -m mnemosyne_consensus.model_checks`` runs the command line."""

import sys

from .cli import main

sys.exit(main())
