"""`python3 -m shapes_harness` (run from interop-tests/)."""
import sys

from .runner import main

sys.exit(main())
