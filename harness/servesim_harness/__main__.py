import sys

from servesim_harness.cli import main

sys.exit(main())
