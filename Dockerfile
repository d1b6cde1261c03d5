# autopack itself, for CI runners: autopack + git, svn (and Debian's pysvn), Maven, JDK 17 and
# the docker CLI. Build it with scripts/autopack-image (which first makes the Debian base with
# scripts/debian-image, since no registry can be pulled from); RUN steps need the network:
#
#   DOCKER_BUILDKIT=0 docker build --network host -t autopack/autopack .
#
# Use it with the engine's socket mounted, or DOCKER_HOST pointing at a remote/dind engine:
#
#   docker run --rm -v /var/run/docker.sock:/var/run/docker.sock -v "$PWD:/src" -w /src \
#     autopack/autopack autopack build --plain
ARG BASE=autopack/debian:bookworm
FROM ${BASE}

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Metadata first: on the vfs storage driver every instruction copies the whole file system
# into a new container, so each one placed after the 500 MB of packages costs seconds. Only
# the labels that change per build come last (two instructions; `docker build --label` would
# add one per label).
LABEL org.opencontainers.image.title="autopack" \
      org.opencontainers.image.description="autopack with git, svn, Maven, JDK 17 and the docker CLI, for CI runners" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/autopack/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1
# root, on purpose: CI jobs reach the engine through a mounted /var/run/docker.sock, owned by
# root and a "docker" group whose id differs from host to host, so no fixed user could use it.
# Runners that choose a user anyway (Jenkins' docker.image().inside passes -u uid:gid) work:
# everything under /opt/autopack is world-readable; give such a user a writable HOME (e.g.
# -e HOME=$WORKSPACE) for autopack's cache and Maven's ~/.m2.
WORKDIR /workspace
# No ENTRYPOINT: GitLab and Jenkins run `sh -c <script>` in the image.
CMD ["autopack", "--help"]

# One layer for every Debian package: on the vfs storage driver each layer is a full copy.
# The docker CLI is taken out of Debian's docker.io package rather than installing it: the
# package is the whole engine (dockerd, containerd, runc, iptables; ~250 MB) and bookworm has
# no client-only package. /usr/bin/docker only links libc.
# man1 must exist: the JDK's postinst registers its man pages with update-alternatives, and
# the base image keeps no man pages.
# safe.directory '*': a CI workspace is a bind mount owned by the runner's user, which git
# would otherwise refuse to read as root ("dubious ownership"); the image is a throwaway build
# environment, not a shared machine.
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates \
      git \
      openssh-client \
      subversion \
      python3 \
      python3-venv \
      python3-svn \
      maven \
      openjdk-17-jdk-headless \
 && cd /tmp \
 && apt-get download docker.io \
 && dpkg-deb --fsys-tarfile docker.io_*.deb | tar -xO ./usr/bin/docker >/usr/local/bin/docker \
 && chmod 755 /usr/local/bin/docker \
 && rm -f docker.io_*.deb \
 && docker --version \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log \
 && git config --system --add safe.directory '*'

# A plain venv (not --system-site-packages, which would leak every Debian Python module into
# autopack's imports); Debian's pysvn — the real one, compiled against libsvn — is exposed
# through a .pth naming a directory that holds only it, as scripts/setup does for .venv.
# PyPI's "pysvn" is an unrelated project and is never installed.
# Dependencies (and the build backend) first, read from pyproject.toml, so a change to
# autopack's code alone does not download them again.
# EXTRA_CA_CERTS (PEM text, optional): CAs that pip must trust *during this build* only, for a
# network whose egress re-signs TLS (scripts/autopack-image passes the host's
# /usr/local/share/ca-certificates). They are not added to the image's trust store.
ARG EXTRA_CA_CERTS=
COPY pyproject.toml /opt/autopack/src/pyproject.toml
RUN if [ -n "$EXTRA_CA_CERTS" ]; then \
      cat /etc/ssl/certs/ca-certificates.crt >/tmp/build-ca.pem \
      && printf '%s\n' "$EXTRA_CA_CERTS" >>/tmp/build-ca.pem \
      && export PIP_CERT=/tmp/build-ca.pem; \
    fi \
 && python3 -m venv /opt/autopack \
 && mkdir -p /opt/autopack/debian-pysvn \
 && ln -s /usr/lib/python3/dist-packages/pysvn /opt/autopack/debian-pysvn/pysvn \
 && site=$(/opt/autopack/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
 && echo /opt/autopack/debian-pysvn >"$site/debian-pysvn.pth" \
 && /opt/autopack/bin/python -c 'import tomllib, sys; p = tomllib.load(open(sys.argv[1], "rb")); print("\n".join(p["build-system"]["requires"] + p["project"]["dependencies"]))' \
      /opt/autopack/src/pyproject.toml >/tmp/requirements.txt \
 && /opt/autopack/bin/pip install --no-cache-dir --disable-pip-version-check -q -r /tmp/requirements.txt \
 && rm -f /tmp/requirements.txt /tmp/build-ca.pem \
 && /opt/autopack/bin/python -c 'import pysvn, docker; print("pysvn", pysvn.version)'

# The context holds only pyproject.toml, README.md and autopack/ (.dockerignore); one COPY,
# one container fewer.
COPY . /opt/autopack/src/
# Not editable and no test extras; the source copy goes once installed.
# --no-build-isolation: setuptools and wheel come from the venv (installed in the layer above
# from build-system.requires), so this step needs no network and no CA.
RUN /opt/autopack/bin/pip install --no-cache-dir --disable-pip-version-check -q \
      --no-deps --no-build-isolation /opt/autopack/src \
 && rm -rf /opt/autopack/src \
 && /opt/autopack/bin/pip check --disable-pip-version-check \
 && /opt/autopack/bin/autopack --version

# Per-build facts, last, so that new values never invalidate the layers above. INPUTS is the
# hash scripts/autopack-image compares to decide that nothing needs building.
ARG BASE VERSION=unknown REVISION= CREATED= INPUTS=
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${BASE}" \
      io.autopack.image.inputs="${INPUTS}"
