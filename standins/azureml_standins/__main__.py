"""`python -m azureml_standins` is `azureml-standins`."""

import sys

from azureml_standins.cli import main

sys.exit(main())
