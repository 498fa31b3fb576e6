"""The REST API and the web dashboard (``quorum serve``): one FastAPI app over the same
``OperatorService`` as chat. See docs/api.md."""
