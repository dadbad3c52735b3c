"""Job specs for the Python client: a dict or a YAML file -> ``genfarm.v1.JobSpec``.

The format is the one ``genfarm submit`` reads (see common/job_spec.h and
examples/sh010_upres_retime.yaml): the same field names, defaults and units, so a
pipeline tool can build a spec in code or hand over the TD's YAML file unchanged::

    from genfarm.spec import job_spec_from_dict, load_job_spec
    spec = job_spec_from_dict({
        "name": "sh010_upres", "project": "feature_x",
        "stages": [{"name": "upres", "model": "esrgan-slim-x2", "frames": "1001-1096",
                    "input": "/shots/sh010/plate.####.exr",
                    "output": "/shots/sh010/up/up.####.exr", "vram": "4GiB"}],
    })
    spec = load_job_spec("shots/sh010/upres.yaml")  # relative paths resolve against shots/sh010

Errors are ``SpecError`` (a ``ValueError``) and start with the field path, e.g.
``stages[0]: unknown field 'chunck' (did you mean 'chunk'?)``. The scheduler checks
every spec again (frame sets, names, dependencies); this module catches what it can
before anything is sent.
"""

import difflib
import math
import os
import re

import yaml

from genfarm.v1 import types_pb2

__all__ = ["SpecError", "job_spec_from_dict", "load_job_spec", "parse_size", "parse_seconds"]

JOB_FIELDS = ("name", "project", "shot", "priority", "tier", "submitter", "labels",
              "depends_on_jobs", "stages")
STAGE_FIELDS = ("name", "kind", "model", "input", "output", "frames", "chunk", "retries",
                "timeout", "gpus", "vram", "tags", "seed", "params", "after", "window")
WINDOW_FIELDS = ("before", "after")

TIERS = {"batch": types_pb2.TIER_BATCH, "dailies": types_pb2.TIER_DAILIES,
         "interactive": types_pb2.TIER_INTERACTIVE}
KINDS = {"model": types_pb2.STAGE_KIND_MODEL, "dailies": types_pb2.STAGE_KIND_DAILIES}

# Same defaults and ranges as the YAML reader of `genfarm submit` (common/job_spec.cc).
DEFAULT_PRIORITY = 50
DEFAULT_CHUNK = 1
DEFAULT_RETRIES = 2
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
PRIORITY_RANGE = (0, 100)
CHUNK_RANGE = (1, 10_000)
RETRIES_RANGE = (0, 100)
TIMEOUT_RANGE = (0, 7 * 24 * 3600)
GPUS_RANGE = (0, 64)
WINDOW_RANGE = (0, 64)

_SIZE_UNITS = (("KiB", 1024), ("MiB", 1024 ** 2), ("GiB", 1024 ** 3), ("TiB", 1024 ** 4),
               ("KB", 10 ** 3), ("MB", 10 ** 6), ("GB", 10 ** 9), ("TB", 10 ** 12), ("B", 1))
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_FRAME_TOKEN_RE = re.compile(r"^-?\d+(?:--?\d+(?:x\d+)?)?$")


class SpecError(ValueError):
    """A job spec that cannot be submitted; the message starts with the field path."""


def _error(path, why):
    return SpecError(f"{path}: {why}" if path else why)


def _describe(value):
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if value is None:
        return "nothing"
    return f"'{value}'"


def _check_fields(mapping, path, allowed):
    if not isinstance(mapping, dict):
        raise _error(path or "spec", f"must be a mapping, got {_describe(mapping)}")
    for key in mapping:
        if key not in allowed:
            where = f"{path}: " if path else ""
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            suffix = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise SpecError(f"{where}unknown field '{key}'{suffix}")


def _string(value, path):
    if isinstance(value, bool) or isinstance(value, (dict, list, tuple)) or value is None:
        raise _error(path, f"must be a string, got {_describe(value)}")
    if isinstance(value, (os.PathLike,)):
        return os.fspath(value)
    return str(value)


def _int(value, path, valid_range):
    if isinstance(value, bool):
        raise _error(path, f"must be a whole number, got '{value}'")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise _error(path, f"must be a whole number, got '{value}'") from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise _error(path, f"must be a whole number, got {_describe(value)}")
    low, high = valid_range
    if not low <= value <= high:
        if high == INT64_MAX:
            raise _error(path, f"must be >= {low}, got {value}")
        raise _error(path, f"must be between {low} and {high}, got {value}")
    return value


def _scalar_text(value, path):
    """A scalar as the YAML reader keeps it: as written, so 2 -> "2", true -> "true"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)) or value is None:
        raise _error(path, f"must be a single value, got {_describe(value)}")
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _string_map(value, path):
    if not isinstance(value, dict):
        raise _error(path, f"must be a mapping, got {_describe(value)}")
    return {str(k): _scalar_text(v, f"{path}.{k}") for k, v in value.items()}


def _string_list(value, path):
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)):
        raise _error(path, f"must be a list, got {_describe(value)}")
    return [_string(item, f"{path}[{i}]") for i, item in enumerate(value)]


def parse_size(value, path="vram"):
    """Bytes from an int or a string like "4GiB", "512MiB", "1.5GB" (same units as the CLI)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _int(value, path, (0, INT64_MAX))
    if not isinstance(value, str):
        raise _error(path, f"must be a size, got {_describe(value)}")
    text = value.strip()
    if re.fullmatch(r"[+-]?\d+", text):
        return _int(int(text), path, (0, INT64_MAX))
    for unit, scale in _SIZE_UNITS:
        if not text.lower().endswith(unit.lower()):
            continue
        number = text[: len(text) - len(unit)].strip()
        if not number or not number[0].isdigit():
            break
        try:
            result = math.floor(float(number) * scale)
        except ValueError:
            break
        if result >= 9.2e18:
            raise _error(path, f"'{text}' is too large")
        return int(result)
    raise _error(path, f"'{text}' is not a size; use bytes or a number with KiB, MiB, GiB, TiB, "
                       "KB, MB, GB or TB")


def parse_seconds(value, path="timeout"):
    """Seconds from an int or a duration string like "90s", "10m", "1h30m"."""
    if isinstance(value, str) and not re.fullmatch(r"\s*[+-]?\d+\s*", value):
        text = value.strip()
        body = text[1:] if text[:1] in "+-" else text
        parts = _DURATION_RE.findall(body)
        if not body or "".join(n + u for n, u in parts) != body:
            raise _error(path, f"must be seconds or a duration like 90s, 10m, 1h; got '{value}'")
        seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
        if text.startswith("-"):
            seconds = -seconds
        if abs(seconds - round(seconds)) > 1e-9:
            raise _error(path, f"'{value}' is not a whole number of seconds")
        value = int(round(seconds))
    return _int(value, path, TIMEOUT_RANGE)


def _frames(value, path):
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = _string(value, path)
    for token in text.split(","):
        if not _FRAME_TOKEN_RE.match(token.strip()):
            raise _error(path, f"frame set '{text}': token '{token.strip()}': expected a frame "
                               "(1001), a range (1001-1100) or a stepped range (1001-1100x2)")
    return text


def _resolve(path, base_dir):
    if not base_dir or not path or os.path.isabs(path) or "://" in path:
        return path
    return os.path.normpath(os.path.join(base_dir, path))


def _stage(data, path, base_dir, stage):
    _check_fields(data, path, STAGE_FIELDS)
    stage.kind = types_pb2.STAGE_KIND_MODEL
    stage.chunk = DEFAULT_CHUNK
    stage.retries = DEFAULT_RETRIES
    for key, value in data.items():
        p = f"{path}.{key}"
        if key == "name":
            stage.name = _string(value, p)
        elif key == "kind":
            kind = _string(value, p)
            if kind not in KINDS:
                raise _error(p, f"must be one of model, dailies; got '{kind}'")
            stage.kind = KINDS[kind]
        elif key == "model":
            stage.model = _string(value, p)
        elif key == "input":
            stage.input = _resolve(_string(value, p), base_dir)
        elif key == "output":
            stage.output = _resolve(_string(value, p), base_dir)
        elif key == "frames":
            stage.frames = _frames(value, p)
        elif key == "chunk":
            stage.chunk = _int(value, p, CHUNK_RANGE)
        elif key == "retries":
            stage.retries = _int(value, p, RETRIES_RANGE)
        elif key == "timeout":
            stage.timeout_seconds = parse_seconds(value, p)
        elif key == "gpus":
            stage.gpus = _int(value, p, GPUS_RANGE)
        elif key == "vram":
            stage.vram_bytes = parse_size(value, p)
        elif key == "tags":
            stage.tags.extend(_string_list(value, p))
        elif key == "seed":
            stage.seed = _int(value, p, (INT64_MIN, INT64_MAX))
        elif key == "params":
            stage.params.update(_string_map(value, p))
        elif key == "after":
            stage.after.extend(_string_list(value, p))
        elif key == "window":
            _check_fields(value, p, WINDOW_FIELDS)
            if "before" in value:
                stage.window_before = _int(value["before"], f"{p}.before", WINDOW_RANGE)
            if "after" in value:
                stage.window_after = _int(value["after"], f"{p}.after", WINDOW_RANGE)
    if not stage.name:
        raise _error(f"{path}.name", "is required")
    if not stage.frames:
        raise _error(f"{path}.frames", "is required")
    if stage.kind == types_pb2.STAGE_KIND_MODEL and not stage.model:
        raise _error(f"{path}.model", "is required for a model stage")
    if stage.kind == types_pb2.STAGE_KIND_DAILIES and stage.model:
        raise _error(f"{path}.model", "is not allowed for a dailies stage")


def _pattern_key(pattern):
    """A frame pattern with #### spelled %04d, so both spellings compare equal."""
    return re.sub(r"#+", lambda m: f"%0{len(m.group(0))}d", pattern) if pattern else ""


def _add_implicit_after(spec):
    """A stage whose input is an earlier model stage's output waits for it (as in the CLI)."""
    for i, stage in enumerate(spec.stages):
        key = _pattern_key(stage.input)
        if not key:
            continue
        for upstream in spec.stages[:i]:
            if (upstream.kind == types_pb2.STAGE_KIND_DAILIES or not upstream.name
                    or _pattern_key(upstream.output) != key):
                continue
            if upstream.name not in stage.after:
                stage.after.append(upstream.name)


def job_spec_from_dict(data, base_dir=None):
    """Converts a spec dict (the YAML format as Python data) to a ``v1.JobSpec``.

    Relative ``input``/``output`` paths resolve against ``base_dir``; with no
    ``base_dir`` they are sent as written. Raises ``SpecError`` naming the field.
    """
    if data is None:
        raise SpecError("empty job spec")
    _check_fields(data, "", JOB_FIELDS)
    spec = types_pb2.JobSpec(priority=DEFAULT_PRIORITY, tier=types_pb2.TIER_BATCH)
    for key, value in data.items():
        if key in ("name", "project", "shot", "submitter"):
            setattr(spec, key, _string(value, key))
        elif key == "priority":
            spec.priority = _int(value, key, PRIORITY_RANGE)
        elif key == "tier":
            tier = _string(value, key)
            if tier not in TIERS:
                raise _error(key, f"must be one of batch, dailies, interactive; got '{tier}'")
            spec.tier = TIERS[tier]
        elif key == "labels":
            spec.labels.update(_string_map(value, key))
        elif key == "depends_on_jobs":
            if not isinstance(value, (list, tuple)):
                raise _error(key, f"must be a list of job ids, got {_describe(value)}")
            for i, job_id in enumerate(value):
                spec.depends_on_jobs.append(_int(job_id, f"{key}[{i}]", (1, INT64_MAX)))
        elif key == "stages":
            if not isinstance(value, (list, tuple)):
                raise _error(key, f"must be a list of stages, got {_describe(value)}")
            for i, stage in enumerate(value):
                _stage(stage, f"stages[{i}]", base_dir, spec.stages.add())
    for field in ("name", "project"):
        if not getattr(spec, field):
            raise _error(field, "is required")
    if not spec.stages:
        raise _error("stages", "a job needs at least one stage")
    _add_implicit_after(spec)
    return spec


_NULL_TAG = "tag:yaml.org,2002:null"


def _raw_mapping(node):
    """A YAML mapping node's entries with keys and scalar values as written, so "1.50" stays
    "1.50" and `on: yes` stays {"on": "yes"} (YAML 1.2 reading, like the CLI's yaml-cpp)."""
    out = {}
    for key_node, value_node in node.value:
        if isinstance(value_node, yaml.ScalarNode) and value_node.tag != _NULL_TAG:
            out[str(key_node.value)] = value_node.value
        else:
            out[str(key_node.value)] = [] if not isinstance(value_node, yaml.ScalarNode) else None
    return out


def _mapping_entry(node, key):
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if getattr(k, "value", None) == key), None)


def load_job_spec(path):
    """Reads a YAML job spec file; relative paths resolve against the file's folder.

    Errors start with ``path``, like those of ``genfarm submit``.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise SpecError(f"{path}: {e.strerror}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SpecError(f"{path}: {e}") from None
    # Keep params and labels exactly as written.
    if isinstance(data, dict):
        labels = _mapping_entry(root, "labels")
        if isinstance(labels, yaml.MappingNode):
            data["labels"] = _raw_mapping(labels)
        stages = _mapping_entry(root, "stages")
        if isinstance(data.get("stages"), list) and isinstance(stages, yaml.SequenceNode):
            for stage, stage_node in zip(data["stages"], stages.value):
                params = _mapping_entry(stage_node, "params")
                if isinstance(stage, dict) and isinstance(params, yaml.MappingNode):
                    stage["params"] = _raw_mapping(params)
    base_dir = os.path.dirname(os.path.abspath(path))
    try:
        return job_spec_from_dict(data, base_dir=base_dir)
    except SpecError as e:
        raise SpecError(f"{path}: {e}") from None
