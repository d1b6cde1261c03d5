"""``autopack push IMAGE``: an image already in the engine, to every destination — with the
same pre-flight, parallel copy, retries and verification as ``build --push``. For pushing
again after a destination failed, without building again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer

from autopack.commands import options as o
from autopack.events import STAGES

EXAMPLES = """\
Examples:

  autopack push orders:1.4.0 --push registry-a.example.com/team/orders --push registry-b.example.com/team/orders

  autopack push orders:1.4.0 -t 1.4.0 -t latest --push 127.0.0.1:5001/team/orders --json
"""


def push(
    image: Annotated[str, typer.Argument(metavar="IMAGE", help="A local image, name[:tag] (default tag: latest).")],
    tag: Annotated[Optional[list[str]], typer.Option("-t", "--tag", metavar="TAG", help="Tag to push it under (repeatable; default: IMAGE's own tag).")] = None,
    push: o.Push = None,
    preflight: o.Preflight = None,
    push_jobs: o.PushJobs = None,
    push_retries: o.PushRetries = None,
    push_mode: o.PushMode = None,
    immutable_tags: o.ImmutableTags = None,
    registry_auth_file: o.RegistryAuthFile = None,
    docker_host: o.DockerHost = None,
    json_out: o.Json = False,
    result_file: o.ResultFile = None,
    dotenv: o.Dotenv = None,
    properties: o.Properties = None,
    plain: o.Plain = False,
    quiet: o.Quiet = False,
    verbose: o.Verbose = False,
) -> None:
    """Push a local image to one or more registries."""
    given = locals()
    o.run_command(
        stages={"plan": STAGES["plan"], "push": STAGES["push"]},
        cli={
            "tags": tuple(tag or ()),
            **o.push_values(given),
        },
        config=None,
        json_out=json_out,
        result_file=result_file,
        dotenv=dotenv,
        properties=properties,
        plain=plain,
        quiet=quiet,
        verbose=verbose,
        log_dir=None,
        password_stdin=False,
        body=_push_only(image),
    )


def _push_only(image: str) -> Callable[..., None]:
    def body(settings: Any, emit: Any, journal: Any, login: Any) -> None:
        from autopack import pipeline  # only once the command runs: start-up stays light

        pipeline.push_only(settings, image, emit, journal)

    return body
