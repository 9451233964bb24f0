"""`azureml-operator`: run the operator (`run`) or print its CRDs (`crds`).

Each subcommand's heavy imports happen only when it is chosen, so `azureml-operator crds` does not
pay for kopf. The local stand-ins (simulator, Kubernetes stand-in, demo) are the separate
`azureml-standins` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="azureml-operator", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    from azureml_operator import running

    running.add_parser(sub)
    crds = sub.add_parser("crds", help="print the CustomResourceDefinitions (or write them to a directory)")
    crds.add_argument("--output-dir", help="write one file per CRD here instead of printing")
    crds.set_defaults(func=_crds)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


def _crds(args: argparse.Namespace) -> int:
    from pathlib import Path

    from azureml_operator import crdgen

    if args.output_dir:
        for path in crdgen.write_all(Path(args.output_dir)):
            print(path)
    else:
        sys.stdout.write("---\n".join(crdgen.render_all().values()))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
