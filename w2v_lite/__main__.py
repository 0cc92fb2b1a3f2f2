import sys

from w2v_lite.cli import main

sys.exit(main())
