"""Consumer parameters, as Ocean declares them: an algorithm's DDO (`main.algorithm.
consumerParameters`) and a dataset's compute service (`attributes.main.consumerParameters`)
list what a consumer may or must give when starting a job:

    {"name": "threshold", "type": "text" | "number" | "boolean" | "select", "label": …,
     "required": false, "default": …, "description": …, "options": [{"value": "label"}, …]}

The values come with the start request (the algorithm's `algocustomdata`, each dataset's
`userdata`), are checked here against the declaration (unknown name, missing required value,
wrong type or option: 400; a number is an integer or, since a signed request carries no
fractions, a decimal text such as "2.5") and travel in the job (and so in the consumer's signature of the
request and the job's record); the algorithm reads them from /data/inputs/algoCustomData.json
and /data/inputs/userdata/<did>.json. A raw algorithm declares nothing: its custom data is any
object of names to scalar values.
"""

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from c2d.job.spec import MAX_PARAMETERS, PARAMETER_NAME_PATTERN
from c2d.provider.errors import InvalidRequest

MAX_TEXT = 4096
# A signed request holds no binary fractions (c2d.signing's canonical JSON): a fractional number
# comes as its decimal text, and the algorithm gets the number.
NAME = re.compile(PARAMETER_NAME_PATTERN)
DECIMAL = re.compile(r"^-?[0-9]{1,30}(\.[0-9]{1,30})?$")


class ConsumerParameter(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(pattern=PARAMETER_NAME_PATTERN)
    type: Literal["text", "number", "boolean", "select"]
    label: str = ""
    required: bool = False
    default: Any = None
    description: str = ""
    options: list[dict[str, str]] = Field(default=[], max_length=256)

    def choices(self) -> list[str]:
        return [value for option in self.options for value in option]


def declared(raw: Any, where: str) -> list[ConsumerParameter]:
    """A DDO's declaration, or a 400 naming where it is wrong."""
    if raw is None:
        return []
    try:
        if not isinstance(raw, list) or len(raw) > MAX_PARAMETERS:
            raise ValueError
        parameters = [ConsumerParameter.model_validate(item) for item in raw]
    except (ValidationError, ValueError):
        raise InvalidRequest(f"{where} declares its consumer parameters wrongly", code="invalid_ddo") from None
    if len({p.name for p in parameters}) != len(parameters):
        raise InvalidRequest(f"{where} declares a consumer parameter twice", code="invalid_ddo")
    return parameters


def values(parameters: list[ConsumerParameter], given: dict[str, Any] | None, where: str) -> dict[str, Any]:
    """The values a job carries: the given ones checked, the declared defaults for the rest."""
    given = given or {}
    names = {p.name for p in parameters}
    unknown = sorted(set(given) - names)
    if unknown:
        raise InvalidRequest(f"{where} has no parameter {unknown[0][:64]!r}", code="unknown_parameter")
    out: dict[str, Any] = {}
    for parameter in parameters:
        if parameter.name in given:
            out[parameter.name] = _checked(parameter, given[parameter.name], where)
        elif parameter.default is not None:
            out[parameter.name] = _checked(parameter, parameter.default, where)
        elif parameter.required:
            raise InvalidRequest(f"{where} needs the parameter {parameter.name!r}", code="missing_parameter")
    return out


def free_values(given: dict[str, Any] | None, where: str) -> dict[str, Any]:
    """A raw algorithm's custom data: names and scalar values, nothing declared."""
    given = given or {}
    for name, value in given.items():
        if not NAME.match(name):
            raise InvalidRequest(f"{where}: {name[:64]!r} is not a parameter name", code="invalid_parameter")
        kind = _kind(value)
        if kind is None or (kind == "text" and len(value) > MAX_TEXT):
            raise InvalidRequest(f"{where}: {name[:64]!r} is not a text, number or boolean", code="invalid_parameter")
    return dict(given)


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number" if math.isfinite(value) else None
    if isinstance(value, str):
        return "text"
    return None


def _checked(parameter: ConsumerParameter, value: Any, where: str) -> Any:
    kind = _kind(value)
    if parameter.type == "number" and kind == "text" and DECIMAL.match(value):
        value, kind = (float(value) if "." in value else int(value)), "number"
    wanted = "text" if parameter.type == "select" else parameter.type
    ok = kind == wanted and not (kind == "text" and len(value) > MAX_TEXT)
    if ok and parameter.type == "select":
        ok = value in parameter.choices()
    if not ok:
        expected = f"one of {parameter.choices()[:16]}" if parameter.type == "select" else f"a {parameter.type}"
        raise InvalidRequest(f"{where}: the parameter {parameter.name!r} must be {expected}", code="invalid_parameter")
    return value
