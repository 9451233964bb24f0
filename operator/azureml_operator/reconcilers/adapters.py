"""What a kind supplies to the runtime: an `Adapter`. Its decisions (`desired`, `decide`) are pure
functions of values; its I/O is the few Azure calls it names (`read`, `create`, `update`, `delete`,
and `publish` for what it writes back into the cluster). Everything else — policy, typed specs,
workspaces, dependency gates, ownership, recording a creation before it happens, failures, status,
Events, scheduling, deletion — the runtime does the same way for every kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

from azureml_operator import conditions
from azureml_operator.api.kinds import KindInfo
from azureml_operator.conditions import Reason
from azureml_operator.reconcilers.common import Backoff, Event, Ownership, Verdict

if TYPE_CHECKING:
    from azureml_operator.reconcilers.context import Context
    from azureml_operator.reconcilers.lookups import Indexed
    from azureml_operator.reconcilers.objects import Obj


@dataclass(frozen=True)
class Refs:
    """The objects of the namespace related to this one, as the index holds them: those its declared
    dependencies name, by dependency field (`Dependency.field`), and its dependents, whose declared
    dependencies name it (an endpoint's deployments): one declaration serves both directions."""

    named: Mapping[str, Indexed] = field(default_factory=dict)
    dependents: tuple[Indexed, ...] = ()

    def get(self, dependency_field: str) -> Indexed | None:
        return self.named.get(dependency_field)


class Gate(Enum):
    CREATE = "create"  # only creating the Azure resource waits for it; an existing one is observed
    ALL = "all"  # nothing is done in Azure until it is Ready: the spec is not complete without it


@dataclass(frozen=True)
class Dependency:
    """ "This kind refers to a `kind` object by `spec.<field>.name` (same namespace)." Declaring it
    files the object in the index under that name; with a gate, the runtime waits for that object to
    be Ready before the gated step, with `waiting` as the reason."""

    kind: str
    field: str
    gate: Gate | None = Gate.CREATE
    waiting: Reason = Reason.WAITING_FOR_SUBSCRIPTION
    # Whether this kind's status reports what the named object holds (a deployment, its share of
    # its endpoint's traffic): the named object's Ready or reason changing then runs this one's pass
    # even when it is Ready.
    follows: bool = False
    # What the gate waits for, as the waiting message says it (`Adapter.dependency_ready` decides).
    until: str = "to be Ready"


@dataclass(frozen=True)
class Read:
    """An Azure resource a kind's creation reads, named in the spec by id rather than by an object of
    the namespace (`spec.<field>`): `kind` is the kind whose objects own such resources, and
    `collection`/`name` where it is in the workspace. One another namespace's object owns is refused."""

    field: str
    kind: str
    plural: str
    collection: str
    name: str


@dataclass(frozen=True)
class Unmet:
    """A gate that is not open (yet), and what to say about it."""

    dependency: Dependency
    message: str
    invalid: bool = False  # the reference itself is wrong: waiting will not help


class Effect(Enum):
    NONE = "none"  # report only
    CREATE = "create"  # record the expected id, then create in Azure
    UPDATE = "update"  # put the desired state over what Azure holds
    PUBLISH = "publish"  # ready: write what the cluster needs to know (keys, ...)


@dataclass(frozen=True)
class Outcome:
    """What an action means, declared once per kind as data: the effect, the Ready reason and
    status, and when to look again (a back-off, or None for the drift check only)."""

    effect: Effect
    reason: Reason
    ready: bool = False
    poll: Backoff | None = None


@dataclass(frozen=True)
class Decision:
    """A plan's whole answer: what to do and what to report."""

    action: Enum
    message: str
    outcome: Outcome
    fields: dict[str, Any] = field(default_factory=dict)
    events: tuple[Event, ...] = ()
    # The resource moved on (a job changed phase): polling starts again from its shortest interval.
    progressed: bool = False
    # The write follows a change of related objects (a deployment being deleted loses its mirror),
    # not a change someone made in Azure: it is no drift repair.
    follows_dependents: bool = False

    @property
    def effect(self) -> Effect:
        return self.outcome.effect

    @property
    def reason(self) -> Reason:
        return self.outcome.reason

    def verdict(self, attempt: int) -> Verdict:
        outcome = self.outcome
        if self.progressed:
            attempt = 0
        delay = outcome.poll.delay(attempt) if outcome.poll is not None else None
        status = "True" if outcome.ready else "False"
        verdict = Verdict(status, outcome.reason, self.message, dict(self.fields), delay, list(self.events))
        verdict.progressed = self.progressed
        return verdict


@dataclass(frozen=True)
class Observation:
    """Everything a plan may look at, as values."""

    obj: Obj
    spec: Any
    name: str  # the resource's name in Azure
    desired: Any
    observed: Any  # the kind's observed value, or None when Azure holds nothing under the name
    owner: Ownership | None
    unmet: tuple[Unmet, ...] = ()
    refs: Refs = field(default_factory=lambda: Refs())
    # The pass's place in the object's back-off, for a step of `publish` that retries on its own.
    attempt: int = 0

    @property
    def spec_changed_since_last_pass(self) -> bool:
        return self.obj.status.get("observedGeneration") != self.obj.generation

    @property
    def was_ready_as_declared(self) -> bool:
        """Ready at the last pass, for this very spec: a write now restores what changed in Azure."""
        ready = conditions.get(self.obj.status.get("conditions")) or {}
        return ready.get("status") == "True" and not self.spec_changed_since_last_pass


class Adapter:
    """Defaults for an Azure-backed kind that lives inside a workspace. Override what differs."""

    info: ClassVar[KindInfo]
    dependencies: ClassVar[tuple[Dependency, ...]] = ()
    # Whether the kind's resource can carry the owner tags (ARM proxy resources cannot).
    tags_supported: ClassVar[bool] = False
    # Whether deleting the object deletes something in Azure, and what messages call that.
    deletes_in_azure: ClassVar[bool] = True
    deleting: ClassVar[str] = "deleting"
    # Whether the object refers to a Workspace (`spec.workspaceRef`); the Workspace kind itself does not.
    uses_workspace: ClassVar[bool] = True
    # Whether deleting the object waits until no object refers to it (a Workspace, for its users).
    held_while_referenced: ClassVar[bool] = False
    # Whether its decisions read its dependents' state (an endpoint's traffic waits for its
    # deployments): a dependent's Ready or reason changing then runs its pass at once.
    follows_dependents: ClassVar[bool] = False
    # Failures whose message gets a hint and whose retry waits for a dependency, by reason.
    failure_hints: ClassVar[Mapping[Reason, str]] = {}

    # -- pure ------------------------------------------------------------------------------------

    def azure_name(self, obj: Obj, spec: Any, refs: Refs) -> str:
        """The resource's name (path) under the kind's collection in the workspace; `refs` as for
        `desired` (a deployment's path starts with its endpoint's Azure name)."""
        return obj.name

    def workspace_of(self, spec: Any, refs: Refs) -> str | None:
        """The Workspace object (same namespace) this one uses; None: the operator's default. A kind
        that lives inside another object's resource uses that object's workspace."""
        ref = getattr(spec, "workspace_ref", None)
        return ref.name if ref is not None else None

    def needs_azure(self, spec: Any) -> bool:
        """False: the plan decides from the spec alone, with no workspace and no Azure call."""
        return True

    def desired(self, obj: Obj, spec: Any, refs: Refs) -> Any:
        """What Azure should hold. `refs` are the objects the declared dependencies name that exist,
        by dependency field (a FineTuneJob's registered model, for an endpoint that serves it)."""
        return None

    def reads(self, spec: Any) -> tuple[Read, ...]:
        """What creating the Azure resource reads that the spec names by id (a job's data asset)."""
        return ()

    def settled(self, obj: Obj, spec: Any) -> Decision | None:
        """The decision from status alone, for an Azure resource that can no longer change (a
        finished job); the runtime then makes no Azure call at all, neither in passes nor in
        deletion. None: observe Azure as usual."""
        return None

    def decide(self, observation: Observation) -> Decision:
        raise NotImplementedError

    def describe(self, name: str) -> str:
        """How messages name the Azure resource, e.g. `serverless endpoint phi`."""
        return f"{self.info.kind} {name}"

    def dependency_ready(self, dependency: Dependency, entry: Indexed) -> bool:
        """Whether the object a gate waits for is far enough along. The default: Ready. (A
        deployment only needs its endpoint to exist in Azure: an endpoint whose traffic waits for
        that very deployment is not Ready.)"""
        return entry.ready

    def deletion_hold(self, obj: Obj, spec: Any, refs: Refs, attempt: int) -> Verdict | None:
        """What the related objects say about deleting this one, before Azure is asked: a verdict
        that holds the deletion (a deployment that still gets live traffic) or releases it (one
        whose endpoint is gone, and Azure with it), or None to delete as usual."""
        return None

    def dependency_mismatch(self, dependency: Dependency, entry: Indexed, obj: Obj) -> str | None:
        """Why the object a dependency names can never satisfy it (e.g. another model), or None."""
        return None

    def deletion_events(self, obj: Obj, spec: Any, ctx: Context) -> list[Event]:
        """Events to post when the Azure resource is being deleted (e.g. who else loses it)."""
        return []

    # -- Azure -----------------------------------------------------------------------------------

    collection: ClassVar[str] = ""

    def azure_api(self, conn: Any) -> Any:
        raise NotImplementedError

    async def read(self, api: Any, name: str) -> Any:
        return await api.get(name)

    async def create(self, api: Any, name: str, desired: Any) -> None:
        raise NotImplementedError

    async def update(self, api: Any, name: str, desired: Any, observed: Any) -> None:
        raise NotImplementedError

    def gone(self, observed: Any) -> str | None:
        """Why what Azure still shows counts as deleted (`is archived`), or None if it does not."""
        return None

    async def delete(self, api: Any, name: str) -> None:
        await api.begin_delete(name)

    async def released(self, ctx: Context, obj: Obj) -> None:
        """The object is about to go: undo what it holds in the cluster (for kinds that own nothing
        in Azure)."""

    async def publish(self, ctx: Context, api: Any, observation: Observation, verdict: Verdict) -> Verdict:
        """Ready in Azure: write what the cluster needs (a Secret, a child object) and return the
        verdict that says so. `api` is None for a `settled` decision. The default publishes nothing."""
        return verdict
