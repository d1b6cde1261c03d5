"""The supply chain: an SBOM from Maven's graph, SLSA provenance and signatures — made once a build, attached to the image at every destination (``push/referrers``)."""
