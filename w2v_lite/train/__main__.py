"""`python -m w2v_lite.train ...`: an alias of `w2v-lite train ...` (also what torchrun runs)."""

import sys

from w2v_lite.cli import main

sys.exit(main(["train", *sys.argv[1:]]))
