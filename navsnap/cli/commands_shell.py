"""completion: the shell's tab completion, from click's own machinery."""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

#: The variable click's completion protocol uses for ``navsnap``.
COMPLETE_VAR = "_NAVSNAP_COMPLETE"


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion_cmd(shell: str) -> None:
    """Print the tab-completion script for SHELL.

    It completes commands, options and their choices.

    \b
    Example:
      eval "$(navsnap completion bash)"      # in ~/.bashrc
      eval "$(navsnap completion zsh)"       # in ~/.zshrc
      navsnap completion fish > ~/.config/fish/completions/navsnap.fish
    """
    root = click.get_current_context().find_root().command
    cls = get_completion_class(shell)
    assert cls is not None  # the choice above lists only shells click supports
    click.echo(cls(root, {}, "navsnap", COMPLETE_VAR).source())


COMMANDS = [completion_cmd]
