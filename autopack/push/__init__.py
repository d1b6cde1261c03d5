"""The push stage, in one package: where a run pushes (``destinations.py``), with whose
login (``credentials.py``), the Registry HTTP API v2 client (``registry.py``), the seed push
through the engine (``docker_push.py``, or buildah's), the registry-to-registry copy to the
other destinations (``replicate.py``) and the whole of it with verification (``publish.py``)."""
