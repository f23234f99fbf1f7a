"""`python -m loadtest.generator`: one open-loop run of the load generator (`--help` says how)."""

import sys

from loadtest.generator import main

sys.exit(main())
