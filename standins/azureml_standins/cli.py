"""`azureml-standins`: the local stand-ins for azureml-operator: `simulator`, `kube` and `demo`.

Each subcommand's heavy imports happen only when it is chosen, so `azureml-standins kube` does not
pay for azure-ai-ml or kopf."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="azureml-standins", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    from azureml_standins.simulator import cli as simulator_cli

    simulator_cli.add_parser(sub)
    from azureml_standins.kube import cli as kube_cli

    kube_cli.add_parser(sub)
    from azureml_standins import demo

    demo.add_parser(sub)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
