"""The model as plain JSON-ready data (for golden files and for people reading what a scenario became)."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from . import model


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        data = {"type": type(value).__name__}
        data.update({f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)})
        return data
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, (IPv4Address, IPv4Interface, IPv4Network)):
        return str(value)
    return value


def scenario_as_data(scenario: model.Scenario) -> dict:
    """Every variant's deployment, steps and expectations, without the file's path and hash."""
    return {
        "name": scenario.name,
        "description": scenario.description,
        **({"axes": [_plain(axis) for axis in scenario.axes]} if scenario.axes else {}),  # a matrix's
        "variants": [_plain(variant) for variant in scenario.variants],
    }
