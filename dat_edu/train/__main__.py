"""``python -m dat_edu.train`` (also under ``torchrun ... -m dat_edu.train``)."""

import sys

from .cli import main

main(sys.argv[1:])
