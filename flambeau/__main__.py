"""``python -m flambeau …`` is the ``flambeau`` command."""
from .cli import main

raise SystemExit(main())
