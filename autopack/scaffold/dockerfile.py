"""The Dockerfile and ``.dockerignore`` ``autopack init`` writes for a service, by its kind.

Every Dockerfile is RUN-less, so every builder autopack has builds it (the direct builder
too, with no engine): what a RUN would prepare is done by autopack before the build — the
Spring Boot jar split into layers, a plain jar's runtime classpath staged beside it
(``maven/layers.py``). The user is a number, so it needs no ``/etc/passwd`` entry (and no RUN
to make one), and Kubernetes' ``runAsNonRoot`` can check it.
"""

from __future__ import annotations

import os
from pathlib import Path

from autopack.maven.layers import LAYERS
from autopack.scaffold.detect import FAT_JAR, SPRING_BOOT, THIN_JAR, WAR, Service

USER = "1000:1000"
JVM_OPTIONS = "-XX:MaxRAMPercentage=75 -XX:+ExitOnOutOfMemoryError"
_LTS = (8, 11, 17, 21, 25)
_TOMCAT_HOME = "/usr/local/tomcat"
TOMCAT_CONTEXT = "src/main/tomcat/ROOT.xml"  # relative to the module: a war's deployment descriptor for Tomcat


def default_base_image(service: Service) -> str:
    """Eclipse Temurin's JRE (a servlet container's for a war) for the pom's Java release:
    the first long-term release at or above it, since only those are kept as tags."""
    if service.kind == WAR:
        return f"tomcat:10.1-jre{_lts(max(service.java, 11))}" if service.jakarta else f"tomcat:9.0-jre{_lts(service.java)}"
    return f"eclipse-temurin:{_lts(service.java)}-jre"


def _lts(release: int) -> int:
    return next((n for n in _LTS if n >= release), release)


def describe(service: Service) -> str:
    return _WHAT[service.kind]


def render(service: Service, base_image: str) -> str:
    head = _HEAD.format(artifact_id=service.artifact_id, what=_WHAT[service.kind], base=base_image)
    body = {SPRING_BOOT: _spring_boot, THIN_JAR: _thin_jar, FAT_JAR: _fat_jar, WAR: _war}[service.kind](service)
    return head + body + _tail(service)


_WHAT = {
    SPRING_BOOT: "a Spring Boot jar, as layers",
    THIN_JAR: "a runnable jar and its runtime classpath, as layers",
    FAT_JAR: "a runnable jar with its dependencies inside",
    WAR: "a war on a servlet container",
}

_HEAD = """\
# {artifact_id}: {what}. Written by `autopack init`.
# Build it with `autopack build`: autopack runs Maven first, then passes ARTIFACT (the file
# Maven built, relative to this directory) and VERSION. No RUN: every builder autopack has
# builds this file, its direct builder too (no engine needed).
#
# The base image: change the default here, or pass --build-arg BASE_IMAGE=<image> to
# `autopack build` (or set build_args = {{ BASE_IMAGE = "<image>" }} in autopack.toml).
ARG BASE_IMAGE={base}
FROM ${{BASE_IMAGE}}
ARG ARTIFACT
"""

_LAYER_COPIES = "".join(f"COPY ${{LAYERS}}/{layer}/ ./\n" for layer in LAYERS)


def _spring_boot(service: Service) -> str:
    return f"""\
# Declaring LAYERS makes autopack split the Spring Boot jar into target/autopack-layers/<layer>/:
# one COPY per layer, least often changed first, so a change to your code rebuilds and pushes
# only the last, small layers. (ARTIFACT, the whole jar, is not copied.)
ARG LAYERS
WORKDIR /app
{_LAYER_COPIES}{_jvm()}"""


def _thin_jar(service: Service) -> str:
    return f"""\
# Declaring LAYERS makes autopack stage Maven's runtime classpath and the jar's contents into
# target/autopack-layers/<layer>/: /app/libs/*.jar, /app/resources/, /app/classes/, one COPY per
# layer, least often changed first. (ARTIFACT, the jar itself, is not copied.)
ARG LAYERS
WORKDIR /app
{_LAYER_COPIES}{_jvm()}"""


def _fat_jar(service: Service) -> str:
    return f"""\
WORKDIR /app
COPY ${{ARTIFACT}} /app/app.jar
{_jvm()}"""


def _war(service: Service) -> str:
    return f"""\
# Tomcat serves the war at / as {TOMCAT_CONTEXT} says, without unpacking it (the
# user it runs as may not write to Tomcat's directories). Another servlet container: change
# BASE_IMAGE and these two lines.
COPY ${{ARTIFACT}} /app/ROOT.war
COPY {TOMCAT_CONTEXT} {_TOMCAT_HOME}/conf/Catalina/localhost/ROOT.xml
{_jvm()}"""


def tomcat_context() -> str:
    return """\
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by `autopack init`: the Dockerfile copies this to Tomcat's conf/Catalina/localhost/ROOT.xml,
     so Tomcat serves the war at / (the file's name, ROOT) from where the Dockerfile puts it, and
     does not unpack it: the image runs as a user who may not write to Tomcat's directories. -->
<Context docBase="/app/ROOT.war" unpackWAR="false"/>
"""


def _jvm() -> str:
    return f"""\
# Container-aware JVM: the heap a share of the container's memory limit, and an exit (for the
# orchestrator to restart) rather than limping on after an OutOfMemoryError. Replace it at run
# time with `docker run -e JAVA_TOOL_OPTIONS=...`.
ENV JAVA_TOOL_OPTIONS="{JVM_OPTIONS}"
# Not root: a numeric user needs no account in the image.
USER {USER}
"""


def _tail(service: Service) -> str:
    lines = []
    if service.port:
        lines.append(f"EXPOSE {service.port}")
    lines += _healthcheck(service)
    lines.append(f"ENTRYPOINT {_entrypoint(service)}")
    return "\n".join(lines) + "\n"


def _healthcheck(service: Service) -> list[str]:
    if service.port is None:
        return [
            "# A health check, once the service has something to ask (the base image needs the tool):",
            '# HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["<command>", "<args>"]',
        ]
    path = "/actuator/health" if service.actuator else "/"
    return [
        "# A health check for `docker run` and Compose (Kubernetes ignores it: give the pod probes on",
        "# the same path). It needs curl in the base image: `docker run --rm --entrypoint curl <base> -V`.",
        f'# HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["curl", "-fsS", "http://127.0.0.1:{service.port}{path}"]',
    ]


def _entrypoint(service: Service) -> str:
    words = {
        SPRING_BOOT: ["java", service.boot_launcher],
        THIN_JAR: ["java", "-cp", "/app/resources:/app/classes:/app/libs/*", service.main_class or ""],
        FAT_JAR: ["java", "-cp", "/app/app.jar", service.main_class or ""],
        WAR: ["catalina.sh", "run"],
    }[service.kind]
    return "[" + ", ".join(f'"{w}"' for w in words) + "]"


def dockerignore(service: Service) -> str:
    """Only what the Dockerfile copies: the build context is the module's directory, which
    holds the sources, the IDE's files and all of Maven's output."""
    build = Path(os.path.relpath(service.module.project.build_directory, service.module.directory)).as_posix()
    kept = {
        SPRING_BOOT: f"!{build}/autopack-layers/",
        THIN_JAR: f"!{build}/autopack-layers/",
        FAT_JAR: f"!{build}/*.jar",
        WAR: f"!{build}/*.war\n!{TOMCAT_CONTEXT}",
    }[service.kind]
    return f"""\
# Written by `autopack init`: the build context sends only what the Dockerfile copies.
*
!Dockerfile
{kept}
"""
