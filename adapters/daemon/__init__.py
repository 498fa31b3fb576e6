"""`quorum daemon`: the unattended daily cycle (``runtime``), its single-instance lock
(``lock``), and its health and metrics endpoints (``health``, ``metrics``). The schedule
itself is pure and lives in ``workflows.daemon``."""
