"""`python -m cfnb ...` runs the command line."""

from cfnb.cli import main

raise SystemExit(main())
