"""`python -m sync`: the same program as the `simapp-sync` console script."""

from sync.cli import main

raise SystemExit(main())
