"""LLM backends behind the ``Reasoner`` port: offline, replay, anthropic; plus the response
cache, the per-cycle budget and ``factory.make_reasoner``. The anthropic module is only
imported when that backend is chosen."""
