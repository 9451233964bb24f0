"""The only code that talks to Azure: SDK client construction, credentials and (later) the reconcilers' client."""
