"""`azureml-operator`: the command line. Each subcommand lives with what it runs and is imported
only when chosen, so `azureml-operator simulator` does not pay for kopf and vice versa."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="azureml-operator", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    from azureml_operator.testing.simulator import cli as simulator_cli

    simulator_cli.add_parser(sub)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
