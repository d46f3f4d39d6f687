"""`python -m pilotfish.controlplane`."""

import sys

from pilotfish.controlplane.main import main

sys.exit(main())
