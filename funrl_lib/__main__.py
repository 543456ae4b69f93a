"""``python -m funrl_lib``: the ``funrl`` command line (:func:`funrl_lib.cli.main`)."""

from .cli import main

raise SystemExit(main())
