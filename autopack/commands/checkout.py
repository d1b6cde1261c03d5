"""``autopack checkout SOURCE DEST``: the source stage alone — the same spec, cache and
facts as a build, into a directory of your choosing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from autopack.commands import options as o
from autopack.events import STAGES

EXAMPLES = """\
Examples:

  autopack checkout https://gitlab.example.com/team/orders.git work/orders --ref v1.4.0

  autopack checkout gitlab:team/sub/orders@refs/merge-requests/12/head work/mr-12

  AUTOPACK_SVN_USER=ci autopack checkout svn://svn.example.com/repo work/r1 --branch release-1 --svn-password-file ~/.svnpass
"""


def checkout(
    source: Annotated[str, typer.Argument(metavar="SOURCE", help="A git or svn URL, or gitlab:group/project\\[@ref].")],
    dest: Annotated[Path, typer.Argument(metavar="DEST", help="A new (or empty) directory to check out into.")],
    ref: o.Ref = None,
    revision: o.Revision = None,
    branch: o.Branch = None,
    svn_tag: o.SvnTag = None,
    vcs: o.Vcs = None,
    subdir: o.Subdir = None,
    shallow: o.Shallow = None,
    gitlab_url: o.GitlabUrl = None,
    svn_user: o.SvnUser = None,
    svn_password_file: o.SvnPasswordFile = None,
    svn_password_stdin: o.SvnPasswordStdin = False,
    svn_externals: o.SvnExternals = None,
    json_out: o.Json = False,
    result_file: o.ResultFile = None,
    plain: o.Plain = False,
    quiet: o.Quiet = False,
    verbose: o.Verbose = False,
) -> None:
    """Check SOURCE out into DEST at a branch, tag, commit or revision."""
    given = locals()
    o.run_command(
        stages={"source": STAGES["source"]},
        cli={
            "source": source,
            **o.source_values(given),
        },
        config=None,
        json_out=json_out,
        result_file=result_file,
        plain=plain,
        quiet=quiet,
        verbose=verbose,
        log_dir=None,
        password_stdin=svn_password_stdin,
        body=_checkout_only(dest),
    )


def _checkout_only(dest: Path) -> Callable[..., None]:
    def body(settings: Any, emit: Any, journal: Any, login: Any) -> None:
        from autopack import pipeline  # only once the command runs: start-up stays light

        pipeline.checkout_only(settings, dest, emit, journal, login)

    return body
