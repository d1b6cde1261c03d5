"""The final summary, drawn from the result object so that what a person reads and what
the result file says cannot disagree."""

from __future__ import annotations

from typing import Any


def rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    from autopack import plan_object

    if data.get("kind") == plan_object.KIND:  # autopack plan: the plan, not a run's result
        return plan_object.rows(data)
    out: list[tuple[str, str]] = [("result", "ok" if data["status"] == "ok" else f"failed (exit {data['exitCode']})")]
    if project := data.get("project"):
        out.append(("project", f"{project['groupId']}:{project['artifactId']}:{project['version']}"))
    if (source := data.get("source")) and source.get("revision"):
        out.append(("revision", f"{source['shortRevision']}" + (f" ({source['branch']})" if source.get("branch") else "")))
    for artifact in data.get("artifacts", []):
        out.append(("artifact", artifact["path"]))
    if tests := data.get("tests"):
        if tests.get("run"):
            out.append(("tests", f"{tests['run']} run, {tests['failures']} failed, {tests['errors']} errors, {tests['skipped']} skipped"))
    several = len(data.get("images", [])) > 1
    for image in data.get("images", []):
        module = f"{image['module']}: " if several else ""
        facts = ", ".join(part for part in (_megabytes(image["size"]) if image["size"] else "", "unchanged inputs: not built again" if image.get("reused") else "") if part)
        out.append(("image", f"{module}{image['id'].removeprefix('sha256:')[:12]}" + (f" ({facts})" if facts else "")))
        for tag in image["tags"]:
            out.append(("tag", tag))
    if not data.get("images") and data.get("plannedReferences") and data["status"] != "ok":
        out.append(("planned", ", ".join(data["plannedReferences"])))
    for d in data.get("destinations", []):
        digest = (d["digest"] or "").removeprefix("sha256:")[:12]
        detail = f"{d['status']} {digest}".strip() + (f" ({d['attempts']} attempts)" if d["attempts"] > 1 else "")
        if d["unchangedTags"]:
            detail += f", unchanged: {', '.join(d['unchangedTags'])}"
        if d.get("attached"):
            detail += f", attached: {', '.join(sorted(a['kind'] for a in d['attached']))}"
        if d["error"]:
            detail += f" — {d['error']}"
        out.append(("push", f"{d['destination']}: {detail}"))
    for image in (data.get("supplyChain") or {}).get("images", []):
        for kind, path in image["files"].items():
            out.append((kind, f"{image['module']}: {path}" if several else path))
    if data.get("stages"):
        out.append(("stages", "  ".join(f"{s['name']} {s['seconds']:.1f}s" + ("" if s["status"] == "ok" else f" ({s['status']})") for s in data["stages"])))
    for name, path in data.get("logs", {}).items():
        out.append(("log", f"{name}: {path}"))
    return out


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
