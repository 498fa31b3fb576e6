"""Compute backends for research runs: executors that ``workflows.research`` maps its
tasks over (Dask distributed in ``adapters.compute.dask``)."""
