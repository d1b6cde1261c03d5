"""The push stage: every built image to every destination the plan gave it, with the
credentials the pre-flight resolved; one ``PushedImage`` value per image."""

from __future__ import annotations

from collections.abc import Sequence

from autopack.engine import Engine
from autopack.errors import PushError
from autopack.events import Emit, Progress
from autopack.plan import Keys, Plan
from autopack.push import attach, publish
from autopack.result import BuiltImage, PushedImage
from autopack.settings import Settings


def push_all(plan: Plan, built: Sequence[BuiltImage], keys: Keys, engine: Engine, settings: Settings, emit: Emit) -> tuple[tuple[PushedImage, ...], PushError | None]:
    """Push each image in ``built`` to its planned destinations. Returns every image's
    results, and the error the run ends with when any destination failed (all are tried)."""
    planned = {i.module: i for i in plan.images}
    many = len(built) > 1
    pushed: list[PushedImage] = []
    error: PushError | None = None
    for image in built:
        target = planned[image.module]
        destinations = [d.destination for d in target.destinations]
        if many:
            emit(Progress("push", f"{image.module}: pushing", {"module": image.module, "key": image.module}))
        image_tags = target.destination_tags(settings.inputs_tag)
        results = publish.publish(
            engine,
            image.image,
            image_tags,
            destinations,
            {d: keys.auths.get(d.registry) for d in destinations},
            jobs=settings.push_jobs or len(destinations),
            retries=settings.push_retries,
            immutable=plan.immutable,
            emit=emit,
            preflight_tries={d.destination: d.preflight_attempts for d in target.destinations},
            held=target.unchanged.held if target.unchanged else {},
            mode=settings.push_mode,
        )
        done = PushedImage(image.module, results)
        if plan.supply.any and any(r.status == "ok" for r in results):
            done = attach.attach_all(plan, target, image, done, keys, settings, emit)
        pushed.append(done)
        error = error or publish.failure(done.destinations)
        if many:
            ok = sum(r.status == "ok" for r in pushed[-1].destinations)
            emit(Progress("push", f"{image.module}: {ok}/{len(destinations)} destinations", {"module": image.module, "key": image.module}))
    return tuple(pushed), error
