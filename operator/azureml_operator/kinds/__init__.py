"""One module per kind, each defining `ADAPTER`: the kind's pure decisions and the Azure calls it
needs. `runtime.registry` collects them; nothing else names a kind."""
