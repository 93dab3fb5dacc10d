"""``python -m navsnap`` and the ``navsnap`` command.

The CLI takes about a tenth of a second to import; Ctrl-C in that time ends as the one line
and exit code 130 it gives once it runs, not as a traceback of the import.
"""

import sys


def main() -> None:
    try:
        from navsnap.cli import main as run_cli
    except KeyboardInterrupt:
        sys.stderr.write("navsnap: interrupted before it started (nothing was changed)\n")
        raise SystemExit(130) from None
    run_cli()


if __name__ == "__main__":
    main()
