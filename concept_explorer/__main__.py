"""`python -m concept_explorer` runs the command line, like the `concept-explorer` script."""

from .cli import main

raise SystemExit(main())
