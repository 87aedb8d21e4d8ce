"""What may leave a job: the output policy a publisher sets in a dataset's compute service
(`attributes.main.outputPolicy`, part of the DDO it signs), enforced by the filter stage
(status 50) before any output or log is released.

    outputPolicy
      enabled            false: nothing is checked (a dataset that is public anyway)
      limits             maxBytes, maxFiles, namePatterns (every path component matches each),
                         contentTypes (sniffed from the content, never the name)
      verbatim           no output, name or log holds a run of minRun bytes of any input —
                         nor once decoded (encodings) or unpacked (archives: inspect | refuse)
      rows               no output row (CSV, JSON lines) equals an input row; minGroupSize:
                         rows of an output naming a group column refer to groups of k or more
                         input rows
      approval           results wait (status 52) until the publisher approves, or the deadline
      filters            the publisher's own filter algorithms (DID and checksums)

A dataset without one gets DEFAULT (every built-in check on). A job on several datasets gets
`strictest`: each check at its strictest setting across them. PRESETS name a few policies for
`c2d publish dataset --output-policy`.
"""

import posixpath
import re
from typing import Annotated, Literal, get_args

from pydantic import Field, field_validator, model_validator

from c2d.job.spec import DID_PATTERN, Address, Sha256, Strict

ContentType = Literal[
    "text/plain",
    "text/csv",
    "application/json",
    "application/x-ndjson",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/svg+xml",
    "application/pdf",
    "application/x-npy",
    "application/gzip",
    "application/x-bzip2",
    "application/x-xz",
    "application/zip",
    "application/x-tar",
    "application/octet-stream",
]
ARCHIVE_TYPES: frozenset[str] = frozenset(
    {"application/gzip", "application/x-bzip2", "application/x-xz", "application/zip", "application/x-tar"}
)
DEFAULT_TYPES: list[ContentType] = [t for t in get_args(ContentType) if t != "application/octet-stream"]
Encoding = Literal["base64", "hex", "url"]
DEFAULT_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.+=-]{0,99}$"
MiB = 1 << 20


def _pattern(value: str) -> str:
    if len(value) > 256:
        raise ValueError("a name pattern is at most 256 characters")
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    return value


NamePattern = Annotated[str, Field(max_length=256)]


class Limits(Strict):
    maxBytes: int = Field(default=64 * MiB, ge=0, le=1 << 40, description="all outputs together")
    maxFiles: int = Field(default=100, ge=0, le=100_000)
    namePatterns: list[NamePattern] = Field(
        default=[DEFAULT_NAME_PATTERN], max_length=16, description="every path component matches each"
    )
    contentTypes: list[ContentType] = Field(default=DEFAULT_TYPES, max_length=32)

    @field_validator("namePatterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        return [_pattern(p) for p in patterns]


class Verbatim(Strict):
    enabled: bool = True
    minRun: int = Field(default=64, ge=16, le=4096, description="bytes: a copied run this long is a leak")
    encodings: list[Encoding] = Field(default=["base64", "hex", "url"], max_length=3)
    archives: Literal["inspect", "refuse"] = "inspect"
    maxExpandedBytes: int = Field(default=1 << 30, ge=0, le=1 << 40, description="archives, unpacked, in all")


class GroupRule(Strict):
    column: str = Field(min_length=1, max_length=256)
    k: int = Field(ge=2, le=1_000_000)


class Rows(Strict):
    enabled: bool = True
    minGroupSize: list[GroupRule] = Field(default=[], max_length=16)


MAX_APPROVERS = 1024


class Approval(Strict):
    """Results wait (status 52) until every approver has approved; one rejection, or the deadline
    passing first, withholds them (status 51). `approvers` empty in a DDO: the dataset's
    publisher; the provider writes the addresses into the job."""

    required: bool = False
    deadlineSeconds: int = Field(default=86_400, ge=5, le=30 * 86_400)
    approvers: list[Address] = Field(default=[], max_length=MAX_APPROVERS, description="each must approve")

    @field_validator("approvers")
    @classmethod
    def _lower(cls, approvers: list[str]) -> list[str]:
        return list(dict.fromkeys(a.lower() for a in approvers))


class FilterAlgorithm(Strict):
    """A publisher's own filter: a published algorithm, run with the inputs and outputs read-only."""

    did: str = Field(pattern=DID_PATTERN)
    filesChecksum: Sha256
    containerSectionChecksum: Sha256


class PoliciesTooLarge(ValueError):
    """The datasets' policies together hold more than one policy may: the job is refused."""


class OutputPolicy(Strict):
    enabled: bool = True
    limits: Limits = Limits()
    verbatim: Verbatim = Verbatim()
    rows: Rows = Rows()
    approval: Approval = Approval()
    filters: list[FilterAlgorithm] = Field(default=[], max_length=8)

    @model_validator(mode="after")
    def _approval_is_a_check(self) -> "OutputPolicy":
        if self.approval.required and not self.enabled:
            raise ValueError("approval is a check: a policy that requires it must be enabled")
        return self

    @property
    def checks(self) -> bool:
        """Whether the filter stage has anything to do."""
        return self.enabled

    @classmethod
    def strictest(cls, policies: "list[OutputPolicy]") -> "OutputPolicy":
        """One policy for a job on several datasets: each check at its strictest."""
        on = [p for p in policies if p.enabled]
        if not on:
            return cls(enabled=False)
        types = [t for t in on[0].limits.contentTypes if all(t in p.limits.contentTypes for p in on)]
        patterns = list(dict.fromkeys(pat for p in on for pat in p.limits.namePatterns))
        verbatim = [p.verbatim for p in on if p.verbatim.enabled]
        rows = [p.rows for p in on if p.rows.enabled]
        approvals = [p.approval for p in on if p.approval.required]
        groups: dict[str, int] = {}
        for r in rows:
            for rule in r.minGroupSize:
                groups[rule.column] = max(groups.get(rule.column, 0), rule.k)
        filters = list(
            {f.did + f.filesChecksum + f.containerSectionChecksum: f for p in on for f in p.filters}.values()
        )
        rules = [GroupRule(column=c, k=k) for c, k in groups.items()]
        for what, merged, most in (
            ("name patterns", patterns, 16),
            ("group rules", rules, 16),
            ("filters", filters, 8),
        ):
            if len(merged) > most:  # never cut: a check dropped would be one dataset's policy unmet
                raise PoliciesTooLarge(f"the datasets' output policies hold more than {most} {what} together")
        approvers = list(dict.fromkeys(x for a in approvals for x in a.approvers))
        if len(approvers) > MAX_APPROVERS:
            raise PoliciesTooLarge(f"the datasets' output policies name more than {MAX_APPROVERS} approvers together")
        return cls(
            enabled=True,
            limits=Limits(
                maxBytes=min(p.limits.maxBytes for p in on),
                maxFiles=min(p.limits.maxFiles for p in on),
                namePatterns=patterns,
                contentTypes=types,
            ),
            verbatim=Verbatim(
                enabled=bool(verbatim),
                minRun=min((v.minRun for v in verbatim), default=64),
                encodings=sorted({e for v in verbatim for e in v.encodings}),
                archives="refuse" if any(v.archives == "refuse" for v in verbatim) else "inspect",
                maxExpandedBytes=min((v.maxExpandedBytes for v in verbatim), default=1 << 30),
            ),
            rows=Rows(enabled=bool(rows), minGroupSize=rules),
            approval=Approval(
                required=bool(approvals),
                deadlineSeconds=min((a.deadlineSeconds for a in approvals), default=86_400),
                approvers=approvers,
            ),
            filters=filters,
        )


DEFAULT = OutputPolicy()

PRESETS: dict[str, OutputPolicy] = {
    # every built-in check on, at the defaults above
    "default": DEFAULT,
    # small text results only, a shorter run is a leak, no archives, the publisher approves each
    "strict": OutputPolicy(
        limits=Limits(maxBytes=8 * MiB, maxFiles=10, contentTypes=["text/plain", "text/csv", "application/json"]),
        verbatim=Verbatim(minRun=32, archives="refuse"),
        approval=Approval(required=True),
    ),
    # the default, and every result held for the publisher's approval
    "approval": OutputPolicy(approval=Approval(required=True)),
    # nothing checked: for data that may leave as it is
    "open": OutputPolicy(enabled=False),
}


class Finding(Strict):
    """One thing the filter stage found: `check` names the check, `item` what it was found in
    as the consumer may see it (never the content, nor a name that is itself a finding);
    `detail` is for the publisher only."""

    check: str = Field(max_length=64)
    item: str = Field(max_length=512)
    detail: str = Field(default="", max_length=2048)


class Checked(Strict):
    """An output (or the algorithm's log) as it was checked: what the publisher's record keeps."""

    name: str = Field(max_length=8192)
    bytes: int = Field(ge=0)
    sha256: Sha256
    type: str = Field(max_length=64)


MAX_FINDINGS = 100
MAX_CHECKED = 1000
REPORT_BYTES = 4 << 20  # report.json is at most this long (the filter stage's bound on it)


class FilterReport(Strict):
    """The filter stage's decision, written to <job>/filter/report.json and kept in the job's
    record."""

    accepted: bool
    checks: list[str] = Field(default=[], max_length=32, description="the checks that ran")
    findings: list[Finding] = Field(default=[], max_length=MAX_FINDINGS)
    outputs: list[Checked] = Field(default=[], max_length=MAX_CHECKED)
    withheld: list[str] = Field(
        default=[], max_length=MAX_CHECKED, description="outputs a publisher's filter redacted: not published"
    )
    inputBytes: int = Field(default=0, ge=0)
    outputBytes: int = Field(default=0, ge=0, description="outputs, names, log, decoded and unpacked views")
    seconds: float = Field(default=0.0, ge=0)

    def reason(self) -> str:
        """What the consumer is told: the first finding's check and item, never its content."""
        if self.accepted:
            return ""
        if not self.findings:
            return "output policy: the results could not be checked"
        first = self.findings[0]
        more = f" (and {len(self.findings) - 1} more)" if len(self.findings) > 1 else ""
        return f"output policy, {first.check}: {first.item}{more}"


VERDICT_BYTES = 64 << 10


class Verdict(Strict):
    """What a publisher's filter decides, in /data/verdict/verdict.json: accept the results,
    reject them (the job ends as 51, `reason` shown to the consumer), or redact them: the
    outputs named in `remove` (paths under /data/outputs; a folder removes what is in it) are
    not published, the rest goes on to the built-in checks."""

    decision: Literal["accept", "reject", "redact"]
    reason: str = Field(default="", max_length=300)
    remove: list[Annotated[str, Field(min_length=1, max_length=4096)]] = Field(default=[], max_length=MAX_CHECKED)

    @field_validator("remove")
    @classmethod
    def _paths(cls, names: list[str]) -> list[str]:
        """Each a path under /data/outputs, normalised; the folder itself, or a path out of it,
        is no verdict (a filter meaning to withhold everything rejects)."""
        normal = []
        for name in names:
            path = posixpath.normpath("/" + name.removeprefix("/data/outputs/").lstrip("/")).lstrip("/")
            if path in ("", ".") or name.rstrip("/") == "/data/outputs" or ".." in name.split("/"):
                raise ValueError(f"{name[:100]!r} is not an output's path")
            normal.append(path)
        return normal


def is_withheld(rel: str, removed: list[str]) -> bool:
    """Whether an output (its path under the outputs folder) is one a verdict removed, or in
    a folder it removed. A verdict may name outputs as /data/outputs/… or relative to it."""
    rel = posixpath.normpath(rel)
    for name in removed:
        name = posixpath.normpath("/" + name.removeprefix("/data/outputs/").lstrip("/")).lstrip("/")
        if name not in ("", ".") and (rel == name or rel.startswith(name + "/")):
            return True
    return False


class Transition(Strict):
    status: int
    at: float
    reason: str


class Decision(Strict):
    decision: Literal["approve", "reject"]
    reason: str = Field(default="", max_length=300)
    at: float


class JobRecord(Strict):
    """A job as its datasets' publishers (and approvers) see it: what ran on their data, every
    transition, the output policy applied, the filter stage's decision with its findings'
    detail, and the approvals. Never the consumer's results themselves."""

    jobId: str
    owner: str
    environment: str
    datasets: list[str]
    algorithm: str = Field(description="the algorithm's DID, or 'rawcode'")
    status: int
    statusText: str
    reason: str
    dateCreated: float
    dateFinished: float | None
    history: list[Transition]
    outputPolicy: OutputPolicy
    report: FilterReport | None
    heldUntil: float | None
    approvals: dict[str, Decision]
