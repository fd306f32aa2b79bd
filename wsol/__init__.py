"""wsol: weakly supervised object localization — train, localize, evaluate, export.

The package follows the pipeline: ``data`` → ``models`` → ``cams`` → ``localization`` →
``evaluation`` / ``export``, with ``engine`` (training loop) and ``cli`` on top.
"""

__version__ = "0.1.0"
