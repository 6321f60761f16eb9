"""One subpackage per reproduced paper; each registers its table rows in ``<paper>/rows.py``."""
