"""`python -m azureml_operator` is `azureml-operator`."""

import sys

from azureml_operator.cli import main

sys.exit(main())
