"""Small reports for the next CI step, drawn from the result object: a dotenv file (GitLab's
``artifacts:reports:dotenv``) and a Java properties file (Jenkins' ``readProperties``)."""

from __future__ import annotations

from importlib import resources
from typing import Any


def schema_text(kind: str = "result") -> str:
    """The JSON Schema of the result object (or of the plan object), as shipped in the package."""
    return resources.files("autopack").joinpath(f"schema/{kind}.schema.json").read_text(encoding="utf-8")


def variables(data: dict[str, Any]) -> dict[str, str]:
    """``AUTOPACK_*`` facts of a run; empty strings for what the run did not get to."""
    pushed = [d for d in data.get("destinations", []) if d["status"] == "ok"]
    images = data.get("images") or []
    if pushed:
        references = [f"{d['destination']}:{t}" for d in pushed for t in d["tags"] + d["unchangedTags"]]
    else:
        references = list(images[0]["tags"]) if images else []
    return {
        "AUTOPACK_STATUS": data["status"],
        "AUTOPACK_EXIT_CODE": str(data["exitCode"]),
        "AUTOPACK_IMAGE": references[0] if references else "",
        "AUTOPACK_IMAGE_ID": images[0]["id"] if images else "",
        "AUTOPACK_DIGEST": pushed[0]["digest"] if pushed else "",
        "AUTOPACK_TAGS": ",".join(references),
        "AUTOPACK_VERSION": (data.get("project") or {}).get("version") or "",
        "AUTOPACK_REVISION": (data.get("source") or {}).get("revision") or "",
    }


def dotenv(data: dict[str, Any]) -> str:
    # GitLab's dotenv report takes KEY=VALUE lines; none of these values holds a newline.
    return "".join(f"{k}={v}\n" for k, v in variables(data).items())


def properties(data: dict[str, Any]) -> str:
    return "".join(f"{k}={_escape(v)}\n" for k, v in variables(data).items())


def _escape(value: str) -> str:
    """A properties value: backslashes doubled, a leading space kept (``=`` and ``:`` need
    no escape in a value, only in a key)."""
    escaped = value.replace("\\", "\\\\")
    return "\\" + escaped if escaped.startswith(" ") else escaped
