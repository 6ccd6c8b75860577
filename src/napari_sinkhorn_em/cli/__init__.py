"""The ``napari-sinkhorn-em`` command: segment TIFF files, compare EM with Sinkhorn-EM, find neurons, run a demo.

Exit status: 0 on success (inputs whose output already exists, made with the
same settings, are skipped and count as success), 1 when ``segment`` could not
process some inputs (the others are still written; an existing output made with
other settings counts here), 2 for invalid arguments or an unusable input,
model or output folder. Errors are printed as one sentence on stderr.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from .arguments import Parser
from .compare import add_compare_command
from .demo import add_demo_command
from .errors import CommandError
from .neurons import add_neurons_command
from .segment import add_segment_command

__all__ = ["PROGRAM", "CommandError", "build_parser", "main"]

PROGRAM = "napari-sinkhorn-em"


def build_parser() -> argparse.ArgumentParser:
    """The parser of the command and its sub-commands; each sets ``run(args, stderr)``."""
    parser = Parser(
        prog=PROGRAM,
        description="Segment microscopy images with Gaussian mixtures fitted by EM or Sinkhorn-EM.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_segment_command(commands)
    add_compare_command(commands)
    add_neurons_command(commands)
    add_demo_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``napari-sinkhorn-em`` command.

    Parameters
    ----------
    argv : sequence of str or None, default None
        Arguments without the program name; None reads ``sys.argv``.

    Returns
    -------
    int
        Exit status: 0 success, 1 some inputs of ``segment`` failed, 2
        invalid arguments or unusable input.
    """
    args = build_parser().parse_args(argv)
    stderr = sys.stderr
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, category, *rest, **kw: print(f"warning: {message}", file=stderr)
        try:
            return args.run(args, stderr)
        except CommandError as error:
            print(f"{PROGRAM} {args.command}: error: {error}.", file=stderr)
            return 2
