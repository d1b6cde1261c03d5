"""The image stage: the Dockerfile read before Maven runs (``dockerfile.py``), and every planned image built through the engine seam (``stage.py``)."""
