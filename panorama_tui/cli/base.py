"""The one argument parser every command uses (panorama-top, panorama-collect and the three collectors).

A bad argument is one line on stderr, ``prog: error: message (see --help)``,
and a documented exit status: sysexits' EX_USAGE (64) by default, because
argparse's own 2 would read as "still running" to ``--once`` users and a batch
job's log is read by people who did not write its command line.  A wrapper
(panorama-monitor) sets :attr:`CommandParser.usage_exit` to its own failure
code, so the wrapped command's codes stay unambiguous.

It also gives every command ``--show-config`` (:func:`add_show_config`), which
prints the resolved settings and where each came from
(:mod:`panorama_tui.core.settings`).

Standard library only (argparse): panorama-monitor parses its arguments at every job's start.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["CommandParser", "EXIT_USAGE", "add_show_config", "show_config"]

EXIT_USAGE = 64


class CommandParser(argparse.ArgumentParser):
    """argparse with a one-line error and exit status :attr:`usage_exit`."""

    usage_exit = EXIT_USAGE

    def error(self, message):  # argparse API: must not return
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        sys.exit(self.usage_exit)


def show_config(prog: str, settings) -> int:
    """Print ``--show-config``'s lines (:meth:`panorama_tui.core.settings.Settings.lines`); exit status 0."""
    for warning in settings.warnings:
        sys.stderr.write(f"{prog}: warning: {warning}\n")
    print("\n".join(settings.lines()))
    return 0


def add_show_config(parser: argparse.ArgumentParser, in_subcommand: bool = False) -> None:
    """``--show-config``; ``in_subcommand``: a subcommand's copy, which must not reset the main
    parser's to False when only that one was given (argparse sets a subparser's defaults last)."""
    parser.add_argument("--show-config", action="store_true", default=argparse.SUPPRESS if in_subcommand else False,
                        help="print each setting, its value (passwords masked) and where it came from "
                        "(command line, environment, config file, the submit dir's Pegasus properties, "
                        "default), then exit")
